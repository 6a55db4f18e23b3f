"""A malformed setting stops the command that reads it, naming it, and runs nothing; one of
another service's is only warned about. Never the default instead of what the operator wrote."""

from __future__ import annotations

import pytest

from monitor.cli import main
from tests.commands import Ran


@pytest.mark.parametrize(
    ("command", "others"),
    [
        ("revoker", {"MCPMON_SINK_TO": "carrier-pigeon", "MCPMON_PROXY_METRICS_PORT": "-1"}),
        ("sink", {"MCPMON_REVOKER_RETRY_ATTEMPTS": "0", "MCPMON_PROXY_METRICS_PORT": "-1"}),
    ],
)
def test_a_malformed_setting_of_another_service_does_not_stop_the_command(
    ran: Ran,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    others: dict[str, str],
) -> None:
    for variable, value in others.items():
        monkeypatch.setenv(variable, value)
    assert main([command, "--loglevel", "error"]) == 0
    assert len(ran.services) == 1


@pytest.mark.parametrize(
    ("command", "variable", "value", "name"),
    [
        # the revoker's own section
        ("revoker", "MCPMON_REVOKER_RETRY_ATTEMPTS", "0", "revoker_retry_attempts"),
        # command keys: a typo must not leave the revoker accepting unsigned commands
        ("revoker", "MCPMON_COMMAND_SIGNING_KEYS", "not-a-key", "command_signing_keys"),
        # its consumer
        ("revoker", "MCPMON_KAFKA_SESSION_TIMEOUT_SECONDS", "1", "kafka_session_timeout_seconds"),
        # the redaction of acks, alerts and logs (settings.redaction()): without it the
        # revoker would run without the redaction asked for
        ("revoker", "MCPMON_REDACT_EMAILS", "ture", "redact_emails"),
        ("revoker", "MCPMON_REDACT_SECRETS", "nope", "redact_secrets"),
        # the sink's own section
        ("sink", "MCPMON_SINK_RETRY_ATTEMPTS", "0", "sink_retry_attempts"),
        ("sink", "MCPMON_SINK_SYSLOG_PORT", "70000", "sink_syslog_port"),
        # its consumer
        ("sink", "MCPMON_KAFKA_SESSION_TIMEOUT_SECONDS", "1", "kafka_session_timeout_seconds"),
        ("sink", "MCPMON_PARTITIONS", "four", "partitions"),
        # the OCSF finding's action/disposition (formats.action): a typo must not turn the
        # deployment's threshold into the default one in every finding
        ("sink", "MCPMON_REVOKE_MIN_SEVERITY", "Critical", "revoke_min_severity"),
    ],
)
def test_a_malformed_setting_the_command_reads_exits_1_naming_it(
    ran: Ran,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    variable: str,
    value: str,
    name: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert main([command, "--loglevel", "error"]) == 1
    assert f"error: setting {name} ({variable})" in capsys.readouterr().err
    assert ran.services == []
