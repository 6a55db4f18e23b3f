"""``mcpmon revoker``: registered on the CLI; configuration errors exit 1 with the reason."""

from __future__ import annotations

import pytest

from monitor.cli import build_parser, main
from monitor.revoker.service import RevokerService
from tests.commands import Ran, flat, help_text


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
def test_mcpmon_help_lists_the_revoker_with_what_it_does(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = flat(help_text(capsys))
    assert (
        "revoker carry out revocation commands through actuators, ack to mcp.revocation-acks" in out
    )


def test_revoker_help_names_its_flags_choices_and_what_they_override(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = help_text(capsys, "revoker")
    text = flat(out)
    assert (
        "usage: mcpmon revoker [-h] [--actuators LIST] [--loglevel {debug,info,warning,error}]"
        in text
    )
    assert "--actuators LIST comma-separated, overrides MCPMON_REVOKER_ACTUATORS" in text
    # the epilog: an example, how to stop it, and the exit status scripts test
    assert "Exit status: 0 stopped, 1 configuration error." in text
    assert "MCPMON_REVOKER_OAUTH_CLIENT_SECRET=... mcpmon revoker" in text
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
