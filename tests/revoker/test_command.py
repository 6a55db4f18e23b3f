"""``mcpmon revoker``: registered on the CLI; configuration errors exit 1 with the reason."""

from __future__ import annotations

import pytest

from monitor.cli import build_parser, main


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
