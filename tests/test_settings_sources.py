"""Where settings come from (monitor/settings_sources.py) and what a command does with a
malformed or unknown MCPMON_* variable (monitor/settings.py ``load_settings``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from structlog.testing import capture_logs

import monitor.settings as settings_module
import monitor.settings_sources as sources
from monitor.errors import MonitorError
from monitor.settings import SETTING_PATHS, TOP_GROUPS, load_settings, setting_group

ROOT = Path(__file__).resolve().parents[1]


def _mcpmon(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MCPMON_")}
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        cwd=cwd,
        timeout=120,
    )


def _replay(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _mcpmon(
        [
            "replay",
            str(ROOT / "examples/events.jsonl"),
            "--charters",
            str(ROOT / "examples/charters"),
            "--out",
            "-",
            "--revocations",
            str(tmp_path / "rev.jsonl"),
            "--deadletter",
            str(tmp_path / "dead.jsonl"),
        ],
        env,
        tmp_path,
    )


def test_an_unknown_variable_is_warned_on_stderr_once_and_stdout_stays_data(
    tmp_path: Path,
) -> None:
    r = _replay(tmp_path, {"MCPMON_SINK_FIEL": "x"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines and all(isinstance(orjson.loads(line), dict) for line in lines)
    assert "MCPMON_SINK_FIEL" not in r.stdout
    assert r.stderr.count("MCPMON_SINK_FIEL") == 1, r.stderr
    assert "MCPMON_SINK_FILE" in r.stderr  # the name meant


def test_a_malformed_setting_replay_does_not_read_is_a_warning(tmp_path: Path) -> None:
    r = _replay(tmp_path, {"MCPMON_PARTITIONS": "four"})
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("variable=MCPMON_PARTITIONS") == 1, r.stderr
    assert "four" not in r.stderr  # values are never logged
    assert "MCPMON_PARTITIONS" not in r.stdout


def test_a_malformed_setting_replay_reads_still_fails_naming_it(tmp_path: Path) -> None:
    r = _replay(tmp_path, {"MCPMON_ALERT_DEDUP_SECONDS": "soon"})
    assert r.returncode == 1
    assert "error: setting alert_dedup_seconds (MCPMON_ALERT_DEDUP_SECONDS)" in r.stderr
    assert r.stdout == ""


def test_every_setting_belongs_to_one_group_or_section() -> None:
    grouped = [n for names in TOP_GROUPS.values() for n in names]
    assert len(grouped) == len(set(grouped))
    top = {n for n, p in SETTING_PATHS.items() if len(p) == 1}
    assert set(grouped) == top
    assert setting_group("revoker_actuators") == "revoker"
    assert setting_group("partitions") == "kafka" and setting_group("nope") is None


def test_uses_decides_between_a_warning_and_a_failure() -> None:
    env = {"MCPMON_PARTITIONS": "four", "MCPMON_COMMAND_SIGNING_KEYS": "short:secret-value"}
    with capture_logs() as logs:
        s = load_settings(env=env, uses=("engine",))
    assert s.partitions == 4 and s.command_keyring() is None  # defaults stand
    warned = {e["variable"] for e in logs if e["event"] == "malformed_setting"}
    assert warned == {"MCPMON_PARTITIONS", "MCPMON_COMMAND_SIGNING_KEYS"}
    assert "secret-value" not in repr(logs)
    with pytest.raises(MonitorError, match=r"^setting partitions \(MCPMON_PARTITIONS\): "):
        load_settings(env=env, uses=("kafka",))
    with pytest.raises(MonitorError, match=r"MCPMON_COMMAND_SIGNING_KEYS\): "):
        load_settings(env=env, uses=("commands",))
    with pytest.raises(MonitorError, match=r"MCPMON_(PARTITIONS|COMMAND_SIGNING_KEYS)"):
        load_settings(env=env)  # uses None: every setting is read
    with pytest.raises(MonitorError, match=r"tap_poll_seconds"):  # a flag given is always read
        load_settings({"tap_poll_seconds": -1}, env={}, uses=("engine",))


def test_a_warning_is_given_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # a process that has warned of nothing yet (other tests in this worker warn too)
    monkeypatch.setattr(settings_module, "_warned", set())
    with capture_logs() as logs:
        for _ in range(3):
            load_settings(env={"MCPMON_TAP_POLL_SECONDZ": "1", "MCPMON_SINK_TO": "x"}, uses=())
    events = [(e["event"], e["variable"]) for e in logs]
    assert events == [
        ("unknown_setting", "MCPMON_TAP_POLL_SECONDZ"),
        ("malformed_setting", "MCPMON_SINK_TO"),
    ]


def _secret(d: Path, name: str, text: str) -> Path:
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)
    return d


def test_each_source_alone(tmp_path: Path) -> None:
    token = "sink_hec_token"
    assert (
        load_settings(env={"MCPMON_SINK_HEC_TOKEN": "e"}).sink.hec_token.get_secret_value() == "e"
    )
    (tmp_path / "f").write_text("from-file\n")
    s = load_settings(env={"MCPMON_SINK_HEC_TOKEN_FILE": str(tmp_path / "f")})
    assert s.sink.hec_token.get_secret_value() == "from-file"
    secrets = _secret(tmp_path / "secrets", "MCPMON_SINK_HEC_TOKEN", "from-secrets\n")
    s = load_settings(env={}, secrets_dir=str(secrets))
    assert s.sink.hec_token.get_secret_value() == "from-secrets"
    lower = _secret(tmp_path / "lower", "mcpmon_" + token, "lower-case-name")
    assert load_settings(env={}, secrets_dir=str(lower)).sink.hec_token.get_secret_value() == (
        "lower-case-name"
    )
    dotenv = tmp_path / "app.env"
    dotenv.write_text("MCPMON_SINK_HEC_TOKEN=from-dotenv\nMCPMON_PARTITIONS=7\n")
    s = load_settings(env={}, env_file=str(dotenv))
    assert s.sink.hec_token.get_secret_value() == "from-dotenv" and s.partitions == 7
    dotenv.write_text(f"MCPMON_SINK_HEC_TOKEN_FILE={tmp_path / 'f'}\n")
    s = load_settings(env={}, env_file=str(dotenv))
    assert s.sink.hec_token.get_secret_value() == "from-file"
    assert load_settings(env={}).sink.hec_token.get_secret_value() == ""  # the default


def test_precedence_env_then_file_then_secrets_dir_then_dotenv_then_default(
    tmp_path: Path,
) -> None:
    (tmp_path / "f").write_text("2-file")
    secrets = _secret(tmp_path / "secrets", "MCPMON_SINK_HEC_TOKEN", "3-secrets")
    dotenv = tmp_path / ".env"
    dotenv.write_text("MCPMON_SINK_HEC_TOKEN=4-dotenv\n")
    dirs = {"secrets_dir": str(secrets), "env_file": str(dotenv)}

    def token(env: dict[str, str], **kw: str | None) -> str:
        return load_settings(env=env, **{**dirs, **kw}).sink.hec_token.get_secret_value()

    assert token({"MCPMON_SINK_HEC_TOKEN": "1-env"}) == "1-env"
    assert token({"MCPMON_SINK_HEC_TOKEN_FILE": str(tmp_path / "f")}) == "2-file"
    assert token({}) == "3-secrets"
    assert token({}, secrets_dir=None) == "4-dotenv"
    assert token({}, secrets_dir=None, env_file=None) == ""
    with pytest.raises(MonitorError, match=r"both MCPMON_SINK_HEC_TOKEN and .*_FILE"):
        token({"MCPMON_SINK_HEC_TOKEN": "x", "MCPMON_SINK_HEC_TOKEN_FILE": str(tmp_path / "f")})


def test_a_malformed_value_names_the_source_it_came_from(tmp_path: Path) -> None:
    secrets = _secret(tmp_path / "s", "MCPMON_SINK_SYSLOG_PORT", "seventy")
    with pytest.raises(MonitorError, match=r"MCPMON_SINK_SYSLOG_PORT in .*/s\): ") as err:
        load_settings(env={}, secrets_dir=str(secrets))
    assert "seventy" not in str(err.value)
    dotenv = tmp_path / ".env"
    dotenv.write_text("MCPMON_SINK_SYSLOG_PORT=seventy\n")
    with pytest.raises(MonitorError, match=r"MCPMON_SINK_SYSLOG_PORT in .*\.env\): "):
        load_settings(env={}, env_file=str(dotenv))


def test_the_process_reads_run_secrets_and_dotenv_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in [v for v in os.environ if v.startswith("MCPMON_")]:
        monkeypatch.delenv(var)
    secrets = _secret(tmp_path / "run-secrets", "MCPMON_SINK_HEC_TOKEN", "s")
    monkeypatch.setattr(sources, "DEFAULT_SECRETS_DIR", str(secrets))
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MCPMON_APP_ID=from-dotenv\nmcpmon_topic_events=lower\n")
    s = load_settings()
    assert s.sink.hec_token.get_secret_value() == "s" and s.app_id == "from-dotenv"
    assert s.topic_events == "mcp.events"  # only upper-case MCPMON_ names are variables
    # a test's env= reads neither unless asked
    assert load_settings(env={}).app_id == "mcpmon"


def test_the_worker_warns_about_another_service_s_malformed_setting(tmp_path: Path) -> None:
    import argparse

    from monitor.command_support import settings_from_args

    env = {"MCPMON_SINK_SYSLOG_PORT": "many", "MCPMON_PARTITIONS": "4"}
    args = argparse.Namespace(command="worker")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.setattr(sources, "DEFAULT_SECRETS_DIR", str(tmp_path / "none"))
        mp.chdir(tmp_path)  # no .env
        with capture_logs() as logs:
            s = settings_from_args(args)
        assert s.sink.syslog_port == 514
        assert [e["variable"] for e in logs if e["event"] == "malformed_setting"] == [
            "MCPMON_SINK_SYSLOG_PORT"
        ]
        mp.setenv("MCPMON_WORKER_FLUSH_EVENTS", "lots")
        with pytest.raises(MonitorError, match="MCPMON_WORKER_FLUSH_EVENTS"):
            settings_from_args(args)
