"""The one settings object, built in the shell and passed down as plain values.

Every value can come from the environment (``MCPMON_<NAME>``, upper case), a
``_FILE``, the secrets directory or ``.env`` (:mod:`monitor.settings_sources`), and
CLI flags override it. Each service's own settings are a section of their own,
named as their variables are: ``settings.revoker.actuators`` is
``MCPMON_REVOKER_ACTUATORS`` (setting name ``revoker_actuators``), ``settings.sink.to``
is ``MCPMON_SINK_TO``; settings several shells share (Kafka, topics, signing keys,
redaction, metrics address, ...) are at the top: ``settings.kafka_bootstrap`` is
``MCPMON_KAFKA_BOOTSTRAP``. :data:`SETTING_PATHS` lists them all. The core never
reads this module: shells turn it into :class:`monitor.core.EngineSettings`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Literal

import orjson
import structlog
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitor.core import EngineSettings
from monitor.core.redact import RedactionRules, Redactor
from monitor.errors import MonitorError
from monitor.settings_sections import (
    ProxySettings,
    RevokerSettings,
    SinkSettings,
    TapSettings,
    WorkerSettings,
    _Section,
    _section,
)
from monitor.settings_sources import ENV_PREFIX, FILE_SUFFIX
from monitor.signing import CHARTERS, COMMANDS, Keyring, SigningConfigError, parse_keyring

_log = structlog.get_logger("monitor.settings")

__all__ = [
    "SETTING_PATHS",
    "TOP_GROUPS",
    "VARIABLES",
    "ProxySettings",
    "RevokerSettings",
    "Settings",
    "SinkSettings",
    "TapSettings",
    "WorkerSettings",
    "load_settings",
    "setting_group",
    "unknown_variables",
]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_dedup_seconds: float = Field(
        300.0, ge=0, description="Repeated alerts within this are one"
    )
    revoke_min_severity: Literal["low", "medium", "high", "critical"] = Field(
        "high", description="Lowest severity that revokes (in enforce mode)"
    )
    force_observe: bool = Field(False, description="Shadow mode for every charter: never enforce")
    clock_skew_seconds: float = Field(
        5.0, ge=0, description="Clock difference forgiven on expiry/revocation"
    )
    allowed_lateness_seconds: float = Field(0.0, ge=0, description="Event-time watermark lag")
    max_future_seconds: float = Field(
        300.0,
        ge=0,
        description="An event stamped more than this ahead of the judging process's clock is "
        "refused (dead letter, reason on ts), so one forged or misclocked ts cannot move event "
        "time; allow for the clock skew between gateways and the monitor; 0 turns it off",
    )
    feedback_ranker: bool = Field(
        False,
        description="Learn analysts' alert_feedback verdicts with one online classifier "
        "(river) and annotate alerts with details.feedback_score, P(malicious); it demotes "
        "nothing (results/feedback_ranker.md). A worker keeps it in DATA_DIR/feedback_ranker.json",
    )
    # ---- alert redaction (monitor/core/redact.py), before an alert leaves worker or replay
    redact_secrets: bool = Field(
        True, description="Redact tokens, keys, passwords and secret key=value pairs in alerts"
    )
    redact_emails: bool = Field(False, description="Also redact e-mail addresses in alerts")
    redact_patterns: str = Field(
        "", description='Extra regular expressions to redact, as a JSON list: ["acct-[0-9]+"]'
    )

    # ---- signatures; see monitor/signing.py and README "Signed commands and charters"
    command_signing_keys: SecretStr = Field(
        SecretStr(""),
        description="KEY_ID:SECRET[,KEY_ID:SECRET...] (secrets >= 16 bytes): the worker and "
        "replay sign revocation commands with the first key; the revoker accepts any of them "
        "and refuses unsigned or badly signed commands. Empty: commands are unsigned and "
        "accepted unsigned (a warning at start)",
    )
    charter_signing_keys: SecretStr = Field(
        SecretStr(""),
        description="KEY_ID:SECRET[,...]: a charter_updated event must carry a signature by one "
        "of these keys (mcpmon sign-charter) and a version above the last one applied for its "
        "pattern, else it is refused with a charter_rejected alert. Empty: no update can be "
        "verified, so every one is refused unless charter_allow_unsigned is set. A key may "
        "name what it signs, KEY_ID@charters:SECRET or KEY_ID@commands+charters:SECRET (both "
        "variables); a key without @ signs only what its variable is for",
    )
    charter_allow_unsigned: bool = Field(
        False,
        description="Apply charter_updated events without a verified signature (each raises a "
        "charter_unsigned alert; a warning at start). Anyone who can write to the events topic "
        "can then change any charter: for tests and migration only. A badly signed update is "
        "refused all the same",
    )

    # ---- streaming worker (mcpmon worker, bench kafka); see monitor/worker/__init__.py
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port...]"
    )
    topic_events: str = Field("mcp.events", description="Input: tool calls and lifecycle")
    topic_alerts: str = Field("mcp.alerts", description="Output: alerts (key agent_id)")
    topic_revocations: str = Field("mcp.revocations", description="Output: revocation commands")
    topic_revocation_acks: str = Field(
        "mcp.revocation-acks", description="Revoker acknowledgements"
    )
    topic_deadletter: str = Field(
        "mcp.deadletter", description="Messages that could not be decoded"
    )
    topic_charters: str = Field(
        "mcp.charters", description="Compacted: charter updates broadcast to every worker"
    )
    partitions: int = Field(4, ge=1, description="Partitions of the topics the worker creates")
    replication_factor: int = Field(1, ge=1, description="Replication of the topics it creates")
    app_id: str = Field("mcpmon", description="Faust app id: consumer group and changelog prefix")
    store: Literal["memory://", "rocksdb://"] = Field(
        "memory://", description="Table store; rocksdb:// needs the rocksdb extra (rocksdict)"
    )
    data_dir: str = Field(".cache/mcpmon-worker", description="Worker data dir (RocksDB files)")
    kafka_session_timeout_seconds: float = Field(
        30.0,
        ge=6,
        le=300,
        description="Consumer-group session: how long a crashed worker holds its partitions",
    )
    watermark_idle_seconds: float = Field(
        5.0,
        ge=0,
        description="A partition quiet this long (wall clock) has its event time advanced by "
        "the wall time elapsed, so timers fire; 0 turns it off",
    )

    # ---- Prometheus metrics (GET /metrics); see monitor/metrics.py for the metric names
    metrics_addr: str = Field(
        "127.0.0.1",
        description="Address the metrics endpoints listen on: loopback by default; 0.0.0.0 (or "
        "a pod IP) exposes them to the network, which a scraper outside the host needs",
    )
    heartbeat_file: str = Field(
        "",
        description="revoker, sink, tap: a file rewritten every few seconds while the consume loop "
        "turns, for container health checks (its age); empty: off (monitor/heartbeat.py)",
    )

    # ---- one section per service: settings.revoker.actuators is MCPMON_REVOKER_ACTUATORS
    worker: WorkerSettings = _section(WorkerSettings)
    tap: TapSettings = _section(TapSettings)
    revoker: RevokerSettings = _section(RevokerSettings)
    sink: SinkSettings = _section(SinkSettings)
    proxy: ProxySettings = _section(ProxySettings)

    def engine(self) -> EngineSettings:
        return EngineSettings(
            alert_dedup_seconds=self.alert_dedup_seconds,
            revoke_min_severity=self.revoke_min_severity,
            force_observe=self.force_observe,
            clock_skew_seconds=self.clock_skew_seconds,
            allowed_lateness_seconds=self.allowed_lateness_seconds,
            max_future_seconds=self.max_future_seconds,
            feedback_ranker=self.feedback_ranker,
            redaction=self.redaction(),
            charter_keys=self.charter_keyring(),
            charter_allow_unsigned=self.charter_allow_unsigned,
        )

    def redaction(self) -> RedactionRules:
        """The alert redaction rules (monitor/core/redact.py) these settings ask for."""
        extra: object = []
        if self.redact_patterns.strip():
            try:
                extra = orjson.loads(self.redact_patterns)
            except orjson.JSONDecodeError:
                extra = None
        if not isinstance(extra, list) or not all(isinstance(p, str) for p in extra):
            raise MonitorError(
                "setting redact_patterns (MCPMON_REDACT_PATTERNS): a JSON list of regular "
                f"expressions, not {self.redact_patterns!r}"
            )
        rules = RedactionRules(self.redact_secrets, self.redact_emails, tuple(extra))
        try:
            Redactor(rules)
        except ValueError as err:
            raise MonitorError(f"setting redact_patterns (MCPMON_REDACT_PATTERNS): {err}") from None
        return rules

    def command_keyring(self) -> Keyring | None:
        """The revocation-command keys, or None when commands are unsigned."""
        return parse_keyring(
            self.command_signing_keys.get_secret_value(), "MCPMON_COMMAND_SIGNING_KEYS", COMMANDS
        )

    def charter_keyring(self) -> Keyring | None:
        """The charter-update keys, or None when charter updates need no signature."""
        return parse_keyring(
            self.charter_signing_keys.get_secret_value(), "MCPMON_CHARTER_SIGNING_KEYS", CHARTERS
        )

    @field_validator("command_signing_keys", "charter_signing_keys")
    @classmethod
    def _keyring_parses(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        # a bad key setting fails at load, naming the variable (and only its own setting)
        var = f"{ENV_PREFIX}{str(info.field_name).upper()}"
        scope = COMMANDS if info.field_name == "command_signing_keys" else CHARTERS
        try:
            parse_keyring(value.get_secret_value(), var, scope)
        except SigningConfigError as err:
            raise PydanticCustomError(
                "keyring", "{detail}", {"detail": str(err).removeprefix(f"{var}: ")}
            ) from None
        return value

    @model_validator(mode="after")
    def _keyrings_distinct(self) -> Settings:
        commands, charters = self.command_keyring(), self.charter_keyring()
        if commands is not None and charters is not None:
            shared_secret(commands, charters)
        return self


def shared_secret(commands: Keyring, charters: Keyring) -> None:
    """Refuse one secret that signs commands in one variable and charters in the other
    without saying so: the revoker (which holds the command keys) could then sign
    charter updates, and the policy owner revocations. A key that names both scopes
    (``KEY_ID@commands+charters:SECRET``) is the operator's explicit choice."""
    for c in commands.keys:
        if COMMANDS not in c.scopes:
            continue
        for p in charters.keys:
            if CHARTERS in p.scopes and p.secret == c.secret and c.scopes != p.scopes:
                raise SigningConfigError(
                    f"MCPMON_COMMAND_SIGNING_KEYS key {c.kid!r} and MCPMON_CHARTER_SIGNING_KEYS "
                    f"key {p.kid!r} have the same secret, so a holder of either signs both "
                    "revocation commands and charter updates: give each its own secret (or, to "
                    "accept that, scope the key KEY_ID@commands+charters in both)"
                )


def _paths() -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name, info in Settings.model_fields.items():
        section = info.annotation
        paths: list[tuple[str, ...]]
        if isinstance(section, type) and issubclass(section, _Section):
            assert section.section == name, (section, name)
            paths = [(name, f) for f in section.model_fields]
        else:
            paths = [(name,)]
        for path in paths:
            flat = "_".join(path)
            assert flat not in out, f"two settings named {flat}"  # a variable reads one field
            out[flat] = path
    return out


#: Every setting by its name (``revoker_actuators``: the variable less ``MCPMON_``, lower
#: case, as error messages name it) -> where it is in :class:`Settings` (``("revoker",
#: "actuators")``: ``settings.revoker.actuators``). Top-level settings have a path of one.
SETTING_PATHS: Mapping[str, tuple[str, ...]] = _paths()
#: Every environment variable a setting reads -> the setting's name.
VARIABLES: Mapping[str, str] = {ENV_PREFIX + n.upper(): n for n in SETTING_PATHS}


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"revoker_actuators": v}`` -> ``{"revoker": {"actuators": v}}``; a name that is no
    setting stays at the top, where validation refuses it by name."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        path = SETTING_PATHS.get(name, (name,))
        if len(path) == 1:
            out[name] = value
        else:
            out.setdefault(path[0], {})[path[1]] = value
    return out


def _setting_name(loc: tuple[int | str, ...]) -> str:
    """The setting a validation error is about: ``("revoker", "actuators")`` -> its name."""
    if not loc:
        return "?"
    flat = "_".join(str(p) for p in loc[:2])
    return flat if len(loc) > 1 and flat in SETTING_PATHS else str(loc[0])


#: The settings naming a topic (``topic_events``: MCPMON_TOPIC_EVENTS, ...).
TOPIC_SETTINGS: tuple[str, ...] = tuple(n for n in Settings.model_fields if n.startswith("topic_"))

#: What a command declares it reads (``load_settings(uses=...)``): each service section
#: by its name, and these groups of the top-level settings. A malformed value of a
#: setting outside them is a warning naming its variable, not a failure.
TOP_GROUPS: Mapping[str, tuple[str, ...]] = {
    "engine": (
        "alert_dedup_seconds",
        "revoke_min_severity",
        "force_observe",
        "clock_skew_seconds",
        "allowed_lateness_seconds",
        "max_future_seconds",
        "feedback_ranker",
        "redact_secrets",
        "redact_emails",
        "redact_patterns",
        "charter_signing_keys",
        "charter_allow_unsigned",
    ),
    "commands": ("command_signing_keys",),
    "kafka": (
        "kafka_bootstrap",
        *TOPIC_SETTINGS,
        "partitions",
        "replication_factor",
        "app_id",
        "store",
        "data_dir",
        "kafka_session_timeout_seconds",
        "watermark_idle_seconds",
    ),
    "service": ("metrics_addr", "heartbeat_file"),
}
_GROUP_OF = {name: group for group, names in TOP_GROUPS.items() for name in names}


def setting_group(name: str) -> str | None:
    """The group (``engine``, ``kafka``, ...) or section (``revoker``, ...) of a setting."""
    path = SETTING_PATHS.get(name)
    if path is None:
        return None
    return path[0] if len(path) == 2 else _GROUP_OF.get(name)


_warned: set[tuple[str, str]] = set()


def _warn_once(event: str, variable: str, **kw: Any) -> None:
    """One warning per variable and kind per process, however often settings are loaded."""
    if (event, variable) not in _warned:
        _warned.add((event, variable))
        _log.warning(event, variable=variable, **kw)


def unknown_variables(source: Iterable[str]) -> list[tuple[str, str | None]]:
    """``MCPMON_*`` variables no setting reads, each with the closest known name (or None).

    A misspelt ``MCPMON_REVOKER_ACTUATR`` would otherwise be ignored without a word.
    """
    known = set(VARIABLES)
    known |= {k + FILE_SUFFIX for k in known}
    out = []
    for var in sorted(source):
        if var.startswith(ENV_PREFIX) and var not in known:
            close = difflib.get_close_matches(var, sorted(known), n=1, cutoff=0.75)
            out.append((var, close[0] if close else None))
    return out


_DEFAULT: Any = object()


def load_settings(
    overrides: dict[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    uses: Collection[str] | None = None,
    secrets_dir: str | None = _DEFAULT,
    env_file: str | None = _DEFAULT,
) -> Settings:
    """The settings from their sources (see :mod:`monitor.settings_sources`: environment,
    ``MCPMON_<NAME>_FILE``, secrets directory, ``.env``, default), then explicit
    overrides (e.g. CLI flags that were given), both by setting name
    (``{"revoker_actuators": "oauth"}``, see :data:`SETTING_PATHS`).

    ``env`` None reads ``os.environ``, ``/run/secrets`` (when it exists) and
    ``./.env``; a given ``env`` (tests) reads only it unless ``secrets_dir`` or
    ``env_file`` are given too. ``uses``: the sections and :data:`TOP_GROUPS` the
    command reads (None: all); a malformed value elsewhere is logged
    (``malformed_setting``, naming the variable) and its default kept. Unknown
    ``MCPMON_*`` variables are logged (``unknown_setting``) with the closest known
    name. Each warning once per process, on stderr; values are never logged.
    """
    from monitor.settings_sources import DEFAULT_ENV_FILE, DEFAULT_SECRETS_DIR, read_sources

    if secrets_dir is _DEFAULT:
        secrets_dir = DEFAULT_SECRETS_DIR if env is None else None
    if env_file is _DEFAULT:
        env_file = DEFAULT_ENV_FILE if env is None else None
    raw = read_sources(SETTING_PATHS, os.environ if env is None else env, secrets_dir, env_file)
    for var, close in unknown_variables(raw.variables):
        _warn_once("unknown_setting", var, did_you_mean=close)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    values: dict[str, Any] = {**raw.values, **given}
    while True:
        try:
            return Settings.model_validate(_nest(values))
        except ValidationError as err:
            e = err.errors(include_url=False)[0]
            name = _setting_name(e["loc"])
            var = ENV_PREFIX + name.upper()
            origin = "" if name in given else raw.origins.get(name, "")
            group = setting_group(name)
            if uses is None or name in given or group is None or group in uses:
                raise MonitorError(f"setting {name} ({var}{origin}): {e['msg']}") from None
            _warn_once(
                "malformed_setting",
                var,
                source=f"{var}{origin}",
                error=e["msg"],
                ignored="this command does not use it; the default stands",
            )
            del values[name]
