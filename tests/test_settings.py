"""Settings from the environment: *_FILE secrets, unknown variables named, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.errors import MonitorError
from monitor.settings import load_settings

KEY = "k1:" + "s" * 24


def test_a_value_can_come_from_a_file_as_docker_and_kubernetes_mount_secrets(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "keys"
    secret.write_text(KEY + "\n")
    s = load_settings(env={"MCPMON_COMMAND_SIGNING_KEYS_FILE": str(secret)})
    assert s.command_signing_keys.get_secret_value() == KEY
    assert s.command_keyring() is not None


def test_both_the_variable_and_its_file_is_an_error_naming_both(tmp_path: Path) -> None:
    (tmp_path / "k").write_text(KEY)
    env = {
        "MCPMON_COMMAND_SIGNING_KEYS": KEY,
        "MCPMON_COMMAND_SIGNING_KEYS_FILE": str(tmp_path / "k"),
    }
    with pytest.raises(MonitorError, match=r"MCPMON_COMMAND_SIGNING_KEYS and .*_FILE"):
        load_settings(env=env)


def test_an_unreadable_file_names_the_variable_and_never_the_value(tmp_path: Path) -> None:
    with pytest.raises(MonitorError, match="MCPMON_COMMAND_SIGNING_KEYS_FILE: cannot read"):
        load_settings(env={"MCPMON_COMMAND_SIGNING_KEYS_FILE": str(tmp_path / "missing")})


def test_a_misspelt_variable_is_logged_with_the_name_meant() -> None:
    with capture_logs() as logs:
        load_settings(env={"MCPMON_FORCE_OBSERV": "true", "MCPMON_ZZZ": "1", "OTHER": "x"})
    got = [(e["variable"], e["did_you_mean"]) for e in logs if e["event"] == "unknown_setting"]
    assert got == [("MCPMON_FORCE_OBSERV", "MCPMON_FORCE_OBSERVE"), ("MCPMON_ZZZ", None)]
    assert not any("true" in str(e) for e in logs)  # names, never values


def test_known_variables_and_their_file_forms_are_not_unknown(tmp_path: Path) -> None:
    (tmp_path / "v").write_text("true")
    with capture_logs() as logs:
        s = load_settings(env={"MCPMON_FORCE_OBSERVE_FILE": str(tmp_path / "v")})
    assert s.force_observe is True
    assert [e for e in logs if e["event"] == "unknown_setting"] == []


def test_a_malformed_value_names_the_variable() -> None:
    with pytest.raises(MonitorError, match=r"MCPMON_CLOCK_SKEW_SECONDS"):
        load_settings(env={"MCPMON_CLOCK_SKEW_SECONDS": "five"})
