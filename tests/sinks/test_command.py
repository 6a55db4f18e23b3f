"""``mcpmon sink``: parser, settings and which transport is built."""

from __future__ import annotations

import asyncio

import pytest

from monitor.cli import build_parser
from monitor.errors import MonitorError
from monitor.settings import load_settings
from monitor.sinks.command import cmd_sink
from monitor.sinks.service import build_transport, group_id, retry_policy
from monitor.sinks.transports import OcsfFile, SplunkHec, SyslogTcp, SyslogUdp


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
