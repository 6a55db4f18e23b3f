"""Settings nested per service keep every environment variable of the flat list they replaced.

``BASE_VARIABLES`` is the list the flat ``Settings`` of commit e85cdee accepted, taken from it
once (``MCPMON_`` + each field name upper-cased); deployments, compose files and the helm
chart set these names, so none may go, change or appear by accident.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr, ValidationError
from structlog.testing import capture_logs

from monitor.errors import MonitorError
from monitor.settings import (
    ENV_PREFIX,
    SETTING_PATHS,
    VARIABLES,
    RevokerSettings,
    Settings,
    load_settings,
    unknown_variables,
)

BASE_VARIABLES = frozenset(
    "MCPMON_" + n
    for n in (
        "ALERT_DEDUP_SECONDS",
        "ALLOWED_LATENESS_SECONDS",
        "APP_ID",
        "CHARTER_ALLOW_UNSIGNED",
        "CHARTER_SIGNING_KEYS",
        "CLOCK_SKEW_SECONDS",
        "COMMAND_SIGNING_KEYS",
        "DATA_DIR",
        "FEEDBACK_RANKER",
        "FORCE_OBSERVE",
        "HEARTBEAT_FILE",
        "KAFKA_BOOTSTRAP",
        "KAFKA_SESSION_TIMEOUT_SECONDS",
        "MAX_FUTURE_SECONDS",
        "METRICS_ADDR",
        "PARTITIONS",
        "PROXY_DENYLIST_TIMEOUT_SECONDS",
        "PROXY_DRAIN_SECONDS",
        "PROXY_EMIT_BUFFER_EVENTS",
        "PROXY_ENFORCE",
        "PROXY_FAIL_MODE",
        "PROXY_METRICS_PORT",
        "REDACT_EMAILS",
        "REDACT_PATTERNS",
        "REDACT_SECRETS",
        "REPLICATION_FACTOR",
        "REVOKER_ACTUATORS",
        "REVOKER_COMMAND_MAX_AGE_SECONDS",
        "REVOKER_DENYLIST_PREFIX",
        "REVOKER_DENYLIST_TTL_SECONDS",
        "REVOKER_GROUP_ID",
        "REVOKER_LEDGER",
        "REVOKER_LEDGER_TTL_SECONDS",
        "REVOKER_METRICS_PORT",
        "REVOKER_OAUTH_CLIENT_ID",
        "REVOKER_OAUTH_CLIENT_SECRET",
        "REVOKER_OAUTH_TOKEN_TYPE_HINT",
        "REVOKER_OAUTH_URL",
        "REVOKER_REDIS_URL",
        "REVOKER_RETRY_ATTEMPTS",
        "REVOKER_RETRY_BASE_SECONDS",
        "REVOKER_RETRY_MAX_SECONDS",
        "REVOKER_TIMEOUT_SECONDS",
        "REVOKER_VAULT_ADDR",
        "REVOKER_VAULT_NAMESPACE",
        "REVOKER_VAULT_PREFIX_TEMPLATE",
        "REVOKER_VAULT_TOKEN",
        "REVOKER_WEBHOOK_SECRET",
        "REVOKER_WEBHOOK_URL",
        "REVOKE_MIN_SEVERITY",
        "SINK_FILE",
        "SINK_GROUP_ID",
        "SINK_HEC_INDEX",
        "SINK_HEC_SOURCE",
        "SINK_HEC_SOURCETYPE",
        "SINK_HEC_TOKEN",
        "SINK_HEC_URL",
        "SINK_HEC_VERIFY_TLS",
        "SINK_HOSTNAME",
        "SINK_METRICS_PORT",
        "SINK_RETRY_ATTEMPTS",
        "SINK_RETRY_BASE_SECONDS",
        "SINK_RETRY_MAX_SECONDS",
        "SINK_SYSLOG_FACILITY",
        "SINK_SYSLOG_HOST",
        "SINK_SYSLOG_PORT",
        "SINK_SYSLOG_PROTOCOL",
        "SINK_TIMEOUT_SECONDS",
        "SINK_TO",
        "STORE",
        "TAP_BATCH_RECORDS",
        "TAP_LINGER_SECONDS",
        "TAP_PAIR_WINDOW_REQUESTS",
        "TAP_PAIR_WINDOW_SECONDS",
        "TAP_POLL_SECONDS",
        "TOPIC_ALERTS",
        "TOPIC_CHARTERS",
        "TOPIC_DEADLETTER",
        "TOPIC_EVENTS",
        "TOPIC_REVOCATIONS",
        "TOPIC_REVOCATION_ACKS",
        "WATERMARK_IDLE_SECONDS",
        "WORKER_BACKLOG_FLUSH_SECONDS",
        "WORKER_FETCH_MIN_BYTES",
        "WORKER_FLUSH_EVENTS",
        "WORKER_FLUSH_SECONDS",
        "WORKER_METRICS_PORT",
    )
)
SECTIONS = {"worker", "tap", "revoker", "sink", "proxy"}
#: values that must be valid where a field is free text (signing keys and patterns are parsed)
VALID_TEXT = {
    "command_signing_keys": "k1:" + "c" * 24,
    "charter_signing_keys": "k2:" + "p" * 24,
    "redact_patterns": '["acct-[0-9]+"]',
}


def _get(settings: Settings, path: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _annotation(path: tuple[str, ...]) -> Any:
    model: Any = Settings
    for part in path:
        info = model.model_fields[part]
        model = info.annotation
    return model


def test_the_accepted_variables_are_exactly_those_of_the_flat_settings() -> None:
    assert set(VARIABLES) == BASE_VARIABLES
    unknown = {v for v, _ in unknown_variables({v: "x" for v in BASE_VARIABLES})}
    assert unknown == set()
    files = {v + "_FILE": "x" for v in BASE_VARIABLES}
    assert unknown_variables(files) == []


def test_each_service_setting_is_nested_in_its_section_under_its_old_name() -> None:
    nested = {n: p for n, p in SETTING_PATHS.items() if len(p) == 2}
    assert {p[0] for p in nested.values()} == SECTIONS
    for name, path in SETTING_PATHS.items():
        assert VARIABLES[ENV_PREFIX + "_".join(path).upper()] == name
        assert name == "_".join(path)
    # every flat name with a service prefix went into its section; nothing else did
    for name, path in SETTING_PATHS.items():
        prefix = name.split("_", 1)[0]
        assert (len(path) == 2) == (prefix in SECTIONS), name
    assert SETTING_PATHS["revoker_actuators"] == ("revoker", "actuators")
    assert SETTING_PATHS["sink_to"] == ("sink", "to")
    assert SETTING_PATHS["kafka_bootstrap"] == ("kafka_bootstrap",)
    assert RevokerSettings.variable("oauth_url") == "MCPMON_REVOKER_OAUTH_URL"


@pytest.mark.parametrize("name", sorted(SETTING_PATHS))
def test_each_variable_reaches_its_field_or_is_refused_naming_it(name: str) -> None:
    path, var = SETTING_PATHS[name], ENV_PREFIX + name.upper()
    if _annotation(path) in (str, SecretStr):
        value = VALID_TEXT.get(name, f"probe-{name}")
        assert _get(load_settings(env={var: value}), path) == value
        assert _get(load_settings(env={}), path) != value  # the variable did it
    else:  # int, float, bool, Literal: a value that is none of them names the variable
        with pytest.raises(MonitorError, match=rf"^setting {name} \({var}\): "):
            load_settings(env={var: "not-a-value"})


def test_a_secret_file_fills_a_nested_field(tmp_path: Path) -> None:
    (tmp_path / "hec").write_text("hec-token-value\n")
    s = load_settings(env={"MCPMON_SINK_HEC_TOKEN_FILE": str(tmp_path / "hec")})
    assert s.sink.hec_token.get_secret_value() == "hec-token-value"
    with pytest.raises(MonitorError, match=r"MCPMON_SINK_HEC_TOKEN and .*_FILE"):
        load_settings(
            env={
                "MCPMON_SINK_HEC_TOKEN": "x",
                "MCPMON_SINK_HEC_TOKEN_FILE": str(tmp_path / "hec"),
            }
        )


def test_a_misspelt_service_variable_is_named_with_the_one_meant() -> None:
    with capture_logs() as logs:
        load_settings(env={"MCPMON_REVOKER_ACTUATR": "oauth", "MCPMON_REVOKER": "x"})
    # a section's name alone is no variable (the closest one is offered, as before nesting)
    got = [(e["variable"], e["did_you_mean"]) for e in logs if e["event"] == "unknown_setting"]
    assert got == [
        ("MCPMON_REVOKER", "MCPMON_REVOKER_LEDGER"),
        ("MCPMON_REVOKER_ACTUATR", "MCPMON_REVOKER_ACTUATORS"),
    ]


def test_overrides_by_setting_name_reach_the_nested_field() -> None:
    s = load_settings({"revoker_actuators": "oauth", "tap_poll_seconds": 0.5}, env={})
    assert s.revoker.actuators == "oauth" and s.tap.poll_seconds == 0.5
    with pytest.raises(MonitorError, match=r"setting tap_poll_seconds \(MCPMON_TAP_POLL_SECONDS\)"):
        load_settings({"tap_poll_seconds": -1}, env={})
    with pytest.raises(MonitorError, match=r"setting nope \(MCPMON_NOPE\)"):
        load_settings({"nope": 1}, env={})


def test_a_flat_name_given_to_the_model_is_refused_not_ignored() -> None:
    with pytest.raises(ValidationError, match="revoker_actuators"):
        Settings.model_validate({"revoker_actuators": "oauth"})
    with pytest.raises(ValidationError):
        Settings.model_validate({"revoker": {"revoker_actuators": "oauth"}})
    section = Settings().revoker
    assert isinstance(section, BaseModel) and section.model_config.get("frozen") is True
