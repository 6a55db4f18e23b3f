"""``mcpmon revoker``: registered on the CLI; configuration errors exit 1 with the reason."""

from __future__ import annotations

import os

import pytest

from monitor.cli import build_parser, main
from monitor.revoker.service import Counters, RevokerService


def test_revoker_is_a_sub_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["revoker", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "mcp.revocation-acks" in out and "revocation_failed" in out
    assert "MCPMON_REVOKER_WEBHOOK_SECRET" in out


def test_unknown_actuator_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["revoker", "--actuators", "denylist,ldap", "--loglevel", "error"]) == 1
    assert "unknown actuator(s) ldap" in capsys.readouterr().err


def test_missing_actuator_settings_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MCPMON_REVOKER_OAUTH_URL", raising=False)
    assert main(["revoker", "--actuators", "oauth", "--loglevel", "error"]) == 1
    assert "actuator oauth needs MCPMON_REVOKER_OAUTH_URL" in capsys.readouterr().err


# ------------------------------------------------------------------ the help users read
def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_mcpmon_help_lists_the_revoker_with_what_it_does(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = _flat(_help(capsys))
    assert (
        "revoker carry out revocation commands through actuators, ack to mcp.revocation-acks" in out
    )


def test_revoker_help_names_its_flags_choices_and_what_they_override(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = _help(capsys, "revoker")
    flat = _flat(out)
    assert (
        "usage: mcpmon revoker [-h] [--actuators LIST] [--loglevel {debug,info,warning,error}]"
        in flat
    )
    assert "--actuators LIST comma-separated, overrides MCPMON_REVOKER_ACTUATORS" in flat
    # the epilog: an example, how to stop it, and the exit status scripts test
    assert "Exit status: 0 stopped, 1 configuration error." in flat
    assert "MCPMON_REVOKER_OAUTH_CLIENT_SECRET=... mcpmon revoker" in flat
    # the description keeps its layout (a table of ack statuses), not re-flowed into prose
    assert (
        "\n  already_applied  this actuator applied this command_id before (a redelivery)\n" in out
    )
    assert "\nExample:\n  MCPMON_REVOKER_ACTUATORS=denylist,oauth" in out


def test_loglevel_defaults_to_info_and_takes_the_four_levels(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    assert parser.parse_args(["revoker"]).loglevel == "info"
    assert parser.parse_args(["revoker"]).actuators is None  # MCPMON_REVOKER_ACTUATORS stands
    for level in ("debug", "info", "warning", "error"):
        assert parser.parse_args(["revoker", "--loglevel", level]).loglevel == level
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["revoker", "--loglevel", "verbose"])
    assert exit_.value.code == 2
    assert "invalid choice: 'verbose'" in capsys.readouterr().err


# ------------------------------------------------------------------ what it runs
class Ran:
    """Stands in for monitor.runtime.run_until_stopped: records the service, closes it,
    returns at once (no broker), as a SIGTERM right after the start would."""

    def __init__(self) -> None:
        self.services: list[RevokerService] = []

    async def __call__(self, service: RevokerService) -> Counters:
        self.services.append(service)
        await service.revoker.aclose()
        return service.counters


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> Ran:
    r = Ran()
    monkeypatch.setattr("monitor.runtime.run_until_stopped", r)
    for var in [v for v in os.environ if v.startswith("MCPMON_")]:
        monkeypatch.delenv(var)
    return r


def test_runs_the_revoker_service_with_its_settings_and_exits_0(
    ran: Ran, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPMON_REVOKER_ACTUATORS", "oauth")  # the flag overrides it
    monkeypatch.setenv("MCPMON_REVOKER_LEDGER", "memory")
    monkeypatch.setenv("MCPMON_REVOKER_TIMEOUT_SECONDS", "2")
    assert main(["revoker", "--actuators", "denylist", "--loglevel", "error"]) == 0
    (service,) = ran.services
    assert isinstance(service, RevokerService)
    assert service.settings.revoker.actuators == "denylist"
    assert service.settings.revoker.timeout_seconds == 2.0
    assert [a.name for a in service.revoker.actuators] == ["denylist"]


def test_a_malformed_setting_of_another_service_does_not_stop_the_revoker(
    ran: Ran, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the settings the revoker reads can stop it: a sink's is warned about."""
    monkeypatch.setenv("MCPMON_SINK_TO", "carrier-pigeon")
    monkeypatch.setenv("MCPMON_PROXY_METRICS_PORT", "-1")
    assert main(["revoker", "--loglevel", "error"]) == 0
    assert len(ran.services) == 1


@pytest.mark.parametrize(
    ("variable", "value", "name"),
    [
        # its own section
        ("MCPMON_REVOKER_RETRY_ATTEMPTS", "0", "revoker_retry_attempts"),
        # command keys: a typo must not leave the revoker accepting unsigned commands
        ("MCPMON_COMMAND_SIGNING_KEYS", "not-a-key", "command_signing_keys"),
        # its consumer
        ("MCPMON_KAFKA_SESSION_TIMEOUT_SECONDS", "1", "kafka_session_timeout_seconds"),
        # the redaction of acks, alerts and logs (settings.redaction())
        ("MCPMON_REDACT_EMAILS", "ture", "redact_emails"),
        ("MCPMON_REDACT_SECRETS", "nope", "redact_secrets"),
    ],
)
def test_a_malformed_setting_the_revoker_reads_exits_1_naming_it(
    ran: Ran,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    name: str,
) -> None:
    """Never the default instead of what the operator wrote: it would run without command
    signatures, with another consumer session, or without the redaction asked for."""
    monkeypatch.setenv(variable, value)
    assert main(["revoker", "--loglevel", "error"]) == 1
    assert f"error: setting {name} ({variable})" in capsys.readouterr().err
    assert ran.services == []
