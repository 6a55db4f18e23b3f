"""``mcpmon sink``: parser, settings and which transport is built."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
import pytest

from monitor.cli import build_parser, main
from monitor.errors import MonitorError
from monitor.settings import load_settings
from monitor.sinks.command import cmd_sink
from monitor.sinks.service import (
    SinkService,
    build_transport,
    group_id,
    retry_policy,
)
from monitor.sinks.transports import OcsfFile, SplunkHec, SyslogTcp, SyslogUdp
from tests.commands import Ran, flat, help_text
from tests.revoker.servers import Reply
from tests.sinks.receivers import HecBehaviour, HecServer
from tests.sinks.support import alert

TOKEN = "hec-token-1"


def test_parser_registers_sink() -> None:
    args = build_parser().parse_args(["sink", "--to", "cef-syslog", "--protocol", "udp"])
    assert args.func is cmd_sink and args.to == "cef-syslog" and args.protocol == "udp"


def test_defaults() -> None:
    s = load_settings(env={})
    assert s.sink.to == "ocsf-file" and s.sink.syslog_protocol == "tcp"
    assert group_id(s) == "mcpmon-sink-ocsf-file"
    assert retry_policy(s).attempts == 5
    assert isinstance(build_transport(s), OcsfFile)


@pytest.mark.parametrize(
    ("env", "cls"),
    [
        ({"MCPMON_SINK_TO": "cef-syslog"}, SyslogTcp),
        ({"MCPMON_SINK_TO": "cef-syslog", "MCPMON_SINK_SYSLOG_PROTOCOL": "udp"}, SyslogUdp),
        (
            {
                "MCPMON_SINK_TO": "splunk-hec",
                "MCPMON_SINK_HEC_URL": "http://h:8088",
                "MCPMON_SINK_HEC_TOKEN": "t",
            },
            SplunkHec,
        ),
    ],
)
def test_build_transport_from_env(env: dict[str, str], cls: type) -> None:
    t = build_transport(load_settings(env={**env, "MCPMON_SINK_HOSTNAME": "mon-1"}))
    assert isinstance(t, cls)
    asyncio.run(t.aclose())


def test_group_id_override_and_bad_value() -> None:
    assert group_id(load_settings(env={"MCPMON_SINK_GROUP_ID": "g"})) == "g"
    with pytest.raises(MonitorError, match="sink_to"):
        load_settings(env={"MCPMON_SINK_TO": "email"})


def test_hec_without_url_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCPMON_SINK_HEC_URL", raising=False)
    args = build_parser().parse_args(["sink", "--to", "splunk-hec"])
    with pytest.raises(MonitorError, match="sink_hec_url"):
        cmd_sink(args)


# ------------------------------------------------------------------ the help users read
def test_mcpmon_help_lists_the_sink_with_what_it_does(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = flat(help_text(capsys))
    assert "sink deliver mcp.alerts to a SIEM: OCSF file, CEF over syslog, Splunk HEC" in out


def test_sink_help_names_each_flag_its_value_and_the_variable_it_overrides(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an operator reads to run the sink: each flag with the name of its value, its
    choices and the MCPMON_* variable it overrides (the variable, spelt as it is set)."""
    monkeypatch.setenv("COLUMNS", "200")
    text = flat(help_text(capsys, "sink"))
    assert (
        "usage: mcpmon sink [-h] [--to {ocsf-file,cef-syslog,splunk-hec}] [--file PATH] "
        "[--protocol {tcp,udp}] [--from-file ALERTS.jsonl] [--start-line N] [--timeout SECONDS] "
        "[--loglevel {debug,info,warning,error}]" in text
    )
    for line in (
        "--to {ocsf-file,cef-syslog,splunk-hec} overrides MCPMON_SINK_TO (default ocsf-file)",
        "--file PATH ocsf-file: overrides MCPMON_SINK_FILE; - is stdout",
        "--protocol {tcp,udp} cef-syslog: overrides MCPMON_SINK_SYSLOG_PROTOCOL",
        "--from-file ALERTS.jsonl deliver this alerts file (- = stdin) instead of consuming "
        "mcp.alerts",
        "--start-line N --from-file: begin at line N (resume a stopped run)",
        "--timeout SECONDS --from-file: give up on an alert still failing after this long (60)",
    ):
        assert line in text, line


def test_sink_help_keeps_its_description_table_and_its_epilog(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The description is a table of the three sinks, printed as written (not re-flowed into
    one paragraph); the epilog gives examples and the exit statuses scripts test."""
    monkeypatch.setenv("COLUMNS", "200")
    out = help_text(capsys, "sink")
    assert "Consume alerts (MCPMON_TOPIC_ALERTS, mcp.alerts) in the consumer group\n" in out
    assert (
        "\n  ocsf-file   OCSF Detection Finding (class 2004), one JSON object a line,\n"
        "              appended to MCPMON_SINK_FILE and fsync'ed\n"
    ) in out
    assert "\n  splunk-hec  POST MCPMON_SINK_HEC_URL/services/collector/event with\n" in out
    assert "\nExamples:\n  MCPMON_SINK_HEC_URL=https://splunk:8088 MCPMON_SINK_HEC_TOKEN=..." in out
    assert (
        "Exit status: 0 stopped, 1 configuration error; --from-file: 0 all delivered, 1 a line "
        "refused or the run stopped early." in flat(out)
    )


# ------------------------------------------------------------------ flags as parsed
def test_flags_left_out_leave_the_settings_to_the_environment() -> None:
    """None for --to/--file/--protocol: MCPMON_SINK_* (or its default) stands; --from-file
    starts at line 1 and gives an alert the 60 s the help promises."""
    args = build_parser().parse_args(["sink"])
    assert (args.to, args.file, args.protocol, args.from_file) == (None, None, None, None)
    assert args.start_line == 1 and args.timeout == 60.0


@pytest.mark.parametrize(
    ("flag", "values"),
    [
        ("--to", ["ocsf-file", "cef-syslog", "splunk-hec"]),
        ("--protocol", ["tcp", "udp"]),
        ("--loglevel", ["debug", "info", "warning", "error"]),
    ],
)
def test_each_documented_choice_is_taken_and_any_other_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], flag: str, values: list[str]
) -> None:
    """A typo is a usage error (exit 2) naming the flag, not a sink run with a default."""
    parser = build_parser()
    for value in values:
        assert getattr(parser.parse_args(["sink", flag, value]), flag[2:]) == value
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["sink", flag, "tls"])
    assert exit_.value.code == 2
    assert f"argument {flag}: invalid choice: 'tls'" in capsys.readouterr().err


def test_start_line_and_timeout_are_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(["sink", "--start-line", "3", "--timeout", "0.5"])
    assert (args.start_line, args.timeout) == (3, 0.5)
    for flag, value in (("--start-line", "2.5"), ("--timeout", "soon")):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(["sink", flag, value])
        assert exit_.value.code == 2
        assert f"argument {flag}: invalid" in capsys.readouterr().err


# ------------------------------------------------------------------ what it runs
def test_runs_the_sink_service_with_its_settings_and_exits_0(
    ran: Ran, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flags override their variables; every other MCPMON_SINK_* is still read."""
    monkeypatch.setenv("MCPMON_SINK_TO", "splunk-hec")
    monkeypatch.setenv("MCPMON_SINK_SYSLOG_PROTOCOL", "tcp")
    monkeypatch.setenv("MCPMON_SINK_SYSLOG_PORT", "6514")
    monkeypatch.setenv("MCPMON_SINK_RETRY_ATTEMPTS", "7")
    argv = ["sink", "--to", "cef-syslog", "--protocol", "udp", "--loglevel", "error"]
    assert main(argv) == 0
    (service,) = ran.services
    assert isinstance(service, SinkService)
    s = service.settings.sink
    assert (s.to, s.syslog_protocol, s.syslog_port, s.retry_attempts) == (
        "cef-syslog",
        "udp",
        6514,
        7,
    )
    assert isinstance(service.transport, SyslogUdp)
    assert service.deliverer.transport is service.transport


def test_the_file_flag_overrides_the_variable(
    ran: Ran, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MCPMON_SINK_FILE", str(tmp_path / "from-env.jsonl"))
    assert main(["sink", "--file", str(tmp_path / "flag.jsonl"), "--loglevel", "error"]) == 0
    (service,) = ran.services
    assert isinstance(service.transport, OcsfFile)
    assert service.transport.path == tmp_path / "flag.jsonl"


def test_splunk_hec_without_a_url_exits_1_naming_the_variable(
    ran: Ran, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sink", "--to", "splunk-hec", "--loglevel", "error"]) == 1
    assert capsys.readouterr().err == (
        "error: setting sink_hec_url (MCPMON_SINK_HEC_URL): required for splunk-hec\n"
    )
    assert ran.services == []


# ------------------------------------------------------------------ --from-file
def _alerts(tmp_path: Path, n: int) -> Path:
    p = tmp_path / "alerts.jsonl"
    p.write_bytes(b"".join(alert(alert_id=f"a{i}").to_json() + b"\n" for i in range(n)))
    return p


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in [v for v in os.environ if v.startswith("MCPMON_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("MCPMON_SINK_HOSTNAME", "mon-1")
    return monkeypatch


@pytest.mark.parametrize(
    "bad",
    [
        ["--start-line", "0"],
        ["--start-line", "-2", "--timeout", "5"],
        ["--timeout", "0"],
        ["--timeout", "-1"],
    ],
)
def test_from_file_refuses_a_start_line_below_1_or_a_timeout_not_above_0(
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    bad: list[str],
) -> None:
    """Refused before anything is delivered (exit 1), with the rule the flags break."""
    out = tmp_path / "f.ocsf.jsonl"
    argv = ["sink", "--from-file", str(_alerts(tmp_path, 1)), "--file", str(out), *bad]
    assert main([*argv, "--loglevel", "error"]) == 1
    assert capsys.readouterr().err == "error: --start-line must be >= 1 and --timeout > 0\n"
    assert not out.exists()


def test_from_file_writes_findings_to_stdout_and_the_summary_to_stderr(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``--file - | jq``: stdout carries only the OCSF findings, the summary goes to stderr.
    A timeout under a second is a timeout, not a refusal."""
    argv = ["sink", "--from-file", str(_alerts(tmp_path, 2)), "--file", "-", "--timeout", "0.5"]
    assert main([*argv, "--loglevel", "error"]) == 0
    captured = capsys.readouterr()
    findings = [orjson.loads(x) for x in captured.out.splitlines()]
    assert [(f["class_uid"], f["finding_info"]["uid"]) for f in findings] == [
        (2004, "a0"),
        (2004, "a1"),
    ]
    assert captured.err == "ocsf-file: delivered 2, refused 0\n"


def test_from_file_resumes_at_the_start_line(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "f.ocsf.jsonl"
    src = _alerts(tmp_path, 3)
    argv = ["sink", "--from-file", str(src), "--file", str(out), "--start-line", "2"]
    assert main([*argv, "--loglevel", "error"]) == 0
    findings = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [f["finding_info"]["uid"] for f in findings] == ["a1", "a2"]
    assert capsys.readouterr().err == "ocsf-file: delivered 2, refused 0\n"


def test_from_file_findings_follow_the_deployments_revoke_min_severity(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A high alert of an enforcing charter revokes only when high >= MCPMON_REVOKE_MIN_SEVERITY:
    with critical, the finding says Detected, not Access Revoked (docs/siem.md)."""
    clean_env.setenv("MCPMON_REVOKE_MIN_SEVERITY", "critical")
    out = tmp_path / "f.ocsf.jsonl"
    argv = ["sink", "--from-file", str(_alerts(tmp_path, 1)), "--file", str(out)]
    assert main([*argv, "--loglevel", "error"]) == 0
    (finding,) = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert (finding["disposition_id"], finding["disposition"]) == (15, "Detected")


def _hec_env(env: pytest.MonkeyPatch, srv: HecServer) -> None:
    env.setenv("MCPMON_SINK_HEC_URL", srv.url("").rstrip("/"))
    env.setenv("MCPMON_SINK_HEC_TOKEN", TOKEN)
    env.setenv("MCPMON_SINK_RETRY_BASE_SECONDS", "0.01")
    env.setenv("MCPMON_SINK_RETRY_MAX_SECONDS", "0.01")
    env.setenv("MCPMON_SINK_RETRY_ATTEMPTS", "50")  # no error log while the test runs


def test_from_file_retries_a_failing_delivery_with_the_sinks_retry_settings(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A collector that is busy once: the alert is retried (MCPMON_SINK_RETRY_*) and
    delivered once, exit 0."""
    hec = HecBehaviour(TOKEN, script=[Reply(503, b'{"text":"Server is busy","code":9}')])
    srv = HecServer(hec)
    try:
        _hec_env(clean_env, srv)
        argv = ["sink", "--from-file", str(_alerts(tmp_path, 1)), "--to", "splunk-hec"]
        assert main([*argv, "--loglevel", "error"]) == 0
    finally:
        srv.close()
    assert len(srv.requests) == 2
    assert [e["event"]["alert_id"] for e in hec.events] == ["a0"]
    assert capsys.readouterr().err == "splunk-hec: delivered 1, refused 0\n"


def test_from_file_stops_at_an_alert_still_failing_after_timeout_and_names_the_line(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--timeout bounds the retries of one alert: the collector fails its first 200 answers
    (at least 2 s of 0.01 s waits), so the run stops at 0.2 s at line 1, delivers nothing
    of it or after it, exits 1 and says how to resume."""
    hec = HecBehaviour(TOKEN, script=[Reply(503, b'{"text":"Server is busy","code":9}')] * 200)
    srv = HecServer(hec)
    try:
        _hec_env(clean_env, srv)
        argv = ["sink", "--from-file", str(_alerts(tmp_path, 2)), "--to", "splunk-hec"]
        assert main([*argv, "--timeout", "0.2", "--loglevel", "error"]) == 1
    finally:
        srv.close()
    assert hec.events == []
    assert capsys.readouterr().err == (
        "splunk-hec: delivered 0, refused 0; stopped at line 1 (still failing): "
        "resume with --start-line 1\n"
    )
