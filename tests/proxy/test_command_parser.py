"""``mcpmon proxy``'s command line, in-process: its help as users read it, every flag's value
and default, how flags reach the proxy's configuration and settings, and each flag error."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog

from monitor.cli import build_parser, main
from monitor.proxy import command
from monitor.proxy.exceptions import IdentityConfigError, ProxyError
from monitor.proxy.identity import JwtConfig
from tests.commands import flat, help_text

HELP = Path(__file__).with_name("proxy_help.txt")


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["proxy", *argv])


def test_the_help_is_the_one_users_read(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every flag, metavar, choice, group and help line (after a deliberate change:
    ``COLUMNS=200 python -m monitor.cli proxy --help > tests/proxy/proxy_help.txt``)."""
    monkeypatch.setenv("COLUMNS", "200")
    # word for word; the line breaks are argparse's (they differ across Python versions)
    assert flat(help_text(capsys, "proxy")) == flat(HELP.read_text())
    top = " ".join(help_text(capsys).split())
    assert (
        "proxy MCP proxy: forward to a real MCP server, log every tools/call, refuse revoked ones"
        in top
    )


def test_every_flag_is_read_into_its_own_value() -> None:
    argv = [
        "--upstream-url", "http://fleet:8000/mcp", "--listen", "127.0.0.1:8931",
        "--mapping", "id.yaml", "--agent-id", "a-1", "--agent-kind", "autonomous",
        "--sponsor", "alice", "--task-id", "t-1", "--credential-id", "c-1", "--tenant", "corp",
        "--server", "fleet", "--jwt-key", "k.pem", "--jwt-jwks-url", "https://idp/jwks",
        "--jwt-algorithm", "ES256", "--jwt-algorithm", "RS256", "--jwt-audience", "aud",
        "--jwt-issuer", "iss", "--jwt-no-audience", "--jwt-no-issuer",
        "--redis-url", "redis://r:6379/0", "--redis-url-file", "r.url", "--fail-open",
        "--no-enforce", "--policy", "inline", "--charters", "charters/",
        "--to-file", "out.jsonl", "--redact-args", "--no-redact", "--loglevel", "debug",
        "--", "srv", "--flag",
    ]  # fmt: skip
    got = vars(_args(*argv))
    assert got.pop("func") is command.cmd_proxy
    assert got == {
        "command": ["--", "srv", "--flag"],
        "upstream_url": "http://fleet:8000/mcp",
        "listen": "127.0.0.1:8931",
        "mapping": "id.yaml",
        "agent_id": "a-1",
        "agent_kind": "autonomous",
        "sponsor": "alice",
        "task_id": "t-1",
        "credential_id": "c-1",
        "tenant": "corp",
        "server": "fleet",
        "jwt_key": "k.pem",
        "jwt_jwks_url": "https://idp/jwks",
        "jwt_algorithm": ["ES256", "RS256"],
        "jwt_audience": "aud",
        "jwt_issuer": "iss",
        "jwt_no_audience": True,
        "jwt_no_issuer": True,
        "redis_url": "redis://r:6379/0",
        "redis_url_file": "r.url",
        "fail_open": True,
        "no_enforce": True,
        "policy": "inline",
        "charters": "charters/",
        "to_file": "out.jsonl",
        "redact_args": True,
        "no_redact": True,
        "loglevel": "debug",
    }


def test_every_flag_has_its_default() -> None:
    got = vars(_args())
    got.pop("func")
    assert got == {
        "command": [],
        "upstream_url": None,
        "listen": None,
        "mapping": None,
        "agent_id": None,
        "agent_kind": None,
        "sponsor": None,
        "task_id": None,
        "credential_id": None,
        "tenant": None,
        "server": None,
        "jwt_key": None,
        "jwt_jwks_url": None,
        "jwt_algorithm": None,
        "jwt_audience": None,
        "jwt_issuer": None,
        "jwt_no_audience": False,
        "jwt_no_issuer": False,
        "redis_url": None,
        "redis_url_file": None,
        "fail_open": False,
        "no_enforce": False,
        "policy": "monitor",
        "charters": None,
        "to_file": None,
        "redact_args": False,
        "no_redact": False,
        "loglevel": "warning",
    }


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--agent-kind", "robot"), ("--policy", "block"), ("--loglevel", "trace")],
)
def test_a_choice_outside_the_list_is_a_usage_error(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        _args(flag, value)
    assert exit_.value.code == 2
    assert f"argument {flag}: invalid choice: '{value}'" in capsys.readouterr().err


# ------------------------------------------------------------------ flags into the proxy
@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """The proxy's run replaced by a recorder of what it was given (it returns 7)."""
    seen: list[tuple[Any, Any]] = []

    def run(cfg: Any, settings: Any) -> int:
        seen.append((cfg, settings))
        return 7

    monkeypatch.setattr("monitor.proxy.run.main_sync", run)
    for var in [v for v in os.environ if v.startswith("MCPMON_")]:
        monkeypatch.delenv(var)
    return seen


def test_flags_reach_the_proxys_configuration_and_settings(
    started: list[tuple[Any, Any]], tmp_path: Path
) -> None:
    key = tmp_path / "hs.key"
    key.write_text("a-shared-secret-of-enough-length")
    argv = [
        "proxy", "--listen", "[::1]:8931", "--mapping", "id.yaml", "--agent-id", "a-1",
        "--agent-kind", "delegated", "--sponsor", "alice", "--task-id", "t-1",
        "--credential-id", "c-1", "--tenant", "corp", "--server", "fleet",
        "--jwt-key", str(key), "--jwt-algorithm", "HS256", "--jwt-audience", "aud",
        "--jwt-issuer", "iss", "--redis-url", "redis://r:6379/0", "--fail-open",
        "--no-enforce", "--policy", "shadow", "--charters", "ch/", "--to-file", "o.jsonl",
        "--redact-args", "--no-redact", "--loglevel", "error", "--", "srv", "--flag",
    ]  # fmt: skip
    assert main(argv) == 7  # what the run returns is the exit status
    ((cfg, settings),) = started
    assert cfg.command == ["srv", "--flag"]  # the -- is not part of it
    assert cfg.url is None
    assert cfg.listen == ("::1", 8931)
    assert cfg.mapping == "id.yaml"
    assert cfg.constants == {
        "agent_id": "a-1",
        "agent_kind": "delegated",
        "sponsor": "alice",
        "task_id": "t-1",
        "credential_id": "c-1",
        "tenant": "corp",
        "server": "fleet",
    }
    assert cfg.jwt == JwtConfig(
        key="a-shared-secret-of-enough-length",
        algorithms=("HS256",),
        audience="aud",
        issuer="iss",
    )
    assert (cfg.to_file, cfg.redact_args, cfg.redact_secrets) == ("o.jsonl", True, False)
    assert (cfg.policy, cfg.charters) == ("shadow", "ch/")
    assert settings.revoker.redis_url == "redis://r:6379/0"
    assert (settings.proxy.fail_mode, settings.proxy.enforce) == ("open", False)


def test_without_flags_the_settings_stand(
    started: list[tuple[Any, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPMON_PROXY_ENFORCE", "false")
    monkeypatch.setenv("MCPMON_REVOKER_REDIS_URL", "redis://:pw@r:6379/0")
    assert main(["proxy", "--upstream-url", "http://fleet/mcp"]) == 7
    ((cfg, settings),) = started
    assert (cfg.command, cfg.url, cfg.listen, cfg.jwt) == ([], "http://fleet/mcp", None, None)
    assert (cfg.redact_args, cfg.redact_secrets, cfg.policy) == (False, True, "monitor")
    assert set(cfg.constants.values()) == {None}
    assert settings.proxy.fail_mode == "closed"  # no --fail-open: the default stands
    assert settings.proxy.enforce is False  # no --no-enforce: the variable stands
    assert settings.revoker.redis_url == "redis://:pw@r:6379/0"


def test_the_proxy_logs_at_its_level_to_the_stderr_of_when_it_logs(
    started: list[tuple[Any, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["proxy", "--loglevel", "error", "--upstream-url", "http://fleet/mcp"]) == 7
    log = structlog.get_logger("monitor.proxy")
    log.warning("below_the_level")
    log.error("at_the_level")
    lines = capsys.readouterr().err.splitlines()
    assert [orjson.loads(x)["event"] for x in lines] == ["at_the_level"]
    # in process: nothing cached, the standard library's logging left alone
    assert structlog.get_config()["cache_logger_on_first_use"] is False


@pytest.mark.parametrize(
    ("variable", "value", "name"),
    [
        ("MCPMON_PROXY_FAIL_MODE", "sideways", "proxy_fail_mode"),
        ("MCPMON_REVOKER_RETRY_ATTEMPTS", "0", "revoker_retry_attempts"),
        ("MCPMON_REDACT_EMAILS", "ture", "redact_emails"),
        ("MCPMON_PARTITIONS", "four", "partitions"),
    ],
    ids=["proxy", "revoker (the deny-list)", "engine (redaction, policy)", "kafka (events)"],
)
def test_a_malformed_setting_the_proxy_reads_exits_1_naming_it(
    started: list[tuple[Any, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    name: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["proxy", "--upstream-url", "http://fleet/mcp"]) == 1
    assert f"error: setting {name} ({variable})" in capsys.readouterr().err
    assert started == []


# ------------------------------------------------------------------ flag errors
@pytest.mark.parametrize(
    "text",
    ["8931", ":8931", "host:", "host:http", "host:0", "host:65536", "host:-1"],
)
def test_a_listen_address_needs_a_host_and_a_port_in_range(text: str) -> None:
    with pytest.raises(ProxyError) as err:
        command._listen(text)
    assert str(err.value) == f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8931"


def test_a_listen_address_in_range_is_taken() -> None:
    assert command._listen(None) is None
    assert command._listen("0.0.0.0:1") == ("0.0.0.0", 1)
    assert command._listen("[::]:65535") == ("::", 65535)
    assert command._listen("Xen-1:80") == ("Xen-1", 80)  # only brackets are stripped


@pytest.mark.parametrize(
    "flag", ["--jwt-audience", "--jwt-issuer", "--jwt-no-audience", "--jwt-no-issuer"]
)
def test_a_token_check_without_a_key_is_refused_naming_the_flag(flag: str) -> None:
    argv = [flag] if flag.startswith("--jwt-no-") else [flag, "x"]
    with pytest.raises(IdentityConfigError) as err:
        command._jwt(_args("--listen", "127.0.0.1:1", *argv))
    assert str(err.value) == f"{flag} without --jwt-key or --jwt-jwks-url: no token is verified"


def test_token_verification_needs_http_and_a_readable_key(tmp_path: Path) -> None:
    assert command._jwt(_args()) is None
    with pytest.raises(IdentityConfigError) as err:
        command._jwt(_args("--jwt-jwks-url", "https://idp/jwks"))
    assert str(err.value) == (
        "--jwt-key / --jwt-jwks-url verify HTTP bearer tokens: they need --listen "
        "(on stdio no request carries a token)"
    )
    missing = tmp_path / "no.pem"
    with pytest.raises(IdentityConfigError) as err:
        command._jwt(_args("--listen", "h:1", "--jwt-key", str(missing)))
    assert str(err.value) == f"--jwt-key {missing}: No such file or directory"
    got = command._jwt(
        _args("--listen", "h:1", "--jwt-jwks-url", "https://idp/jwks", "--jwt-no-audience",
              "--jwt-no-issuer")
    )  # fmt: skip
    assert got == JwtConfig(
        jwks_url="https://idp/jwks", algorithms=("RS256",), no_audience=True, no_issuer=True
    )


def test_a_redis_url_comes_from_the_flag_or_a_file_and_never_with_a_password(
    tmp_path: Path,
) -> None:
    assert command._redis_url(_args()) is None
    assert command._redis_url(_args("--redis-url", "redis://r:6379/0")) == "redis://r:6379/0"
    url_file = tmp_path / "redis.url"
    url_file.write_text("  redis://:pw@r:6379/0\n")
    assert command._redis_url(_args("--redis-url-file", str(url_file))) == "redis://:pw@r:6379/0"
    refusals = {
        ("--redis-url", "redis://r/0", "--redis-url-file", str(url_file)): (
            "give --redis-url or --redis-url-file, not both"
        ),
        ("--redis-url-file", str(tmp_path / "none")): (
            f"--redis-url-file {tmp_path / 'none'}: No such file or directory"
        ),
    }
    empty = tmp_path / "empty.url"
    empty.write_text(" \n")
    refusals[("--redis-url-file", str(empty))] = f"--redis-url-file {empty}: empty"
    for argv, said in refusals.items():
        with pytest.raises(ProxyError) as err:
            command._redis_url(_args(*argv))
        assert str(err.value) == said
    for url in ("redis://:pw@r:6379/0", "redis://u:pw@r/0", "redis://r/0?PASSWORD=pw"):
        with pytest.raises(ProxyError) as err:
            command._redis_url(_args("--redis-url", url))
        assert str(err.value) == (
            "--redis-url holds a password, which every user of this machine can read in "
            "the process list: put the URL in MCPMON_REVOKER_REDIS_URL or in a file given "
            "with --redis-url-file FILE"
        )
    # a URL that does not parse has no password to hide: the Redis client names its error
    assert command._redis_url(_args("--redis-url", "redis://[r/0")) == "redis://[r/0"


def test_a_malformed_setting_of_another_service_does_not_stop_the_proxy(
    started: list[tuple[Any, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPMON_SINK_TO", "carrier-pigeon")
    monkeypatch.setenv("MCPMON_TAP_BATCH_RECORDS", "-5")
    assert main(["proxy", "--upstream-url", "http://fleet/mcp"]) == 7
    assert len(started) == 1
