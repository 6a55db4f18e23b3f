"""The one settings object, built in the shell and passed down as plain values.

Every value can come from the environment (``MCPMON_<NAME>``, upper case) and
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
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import orjson
import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from monitor.core import EngineSettings
from monitor.core.redact import RedactionRules, Redactor
from monitor.errors import MonitorError
from monitor.signing import CHARTERS, COMMANDS, Keyring, SigningConfigError, parse_keyring

ENV_PREFIX = "MCPMON_"
_log = structlog.get_logger("monitor.settings")


class _Section(BaseModel):
    """The settings of one service, nested in :class:`Settings` under :attr:`section`.

    A field ``f`` of the section named ``revoker`` is ``settings.revoker.f``; its
    setting name (in error messages) is ``revoker_f`` and its variable
    ``MCPMON_REVOKER_F``, exactly as when the settings were one flat list.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    #: the section's attribute in Settings, and the middle of its variables' names
    section: ClassVar[str]

    @classmethod
    def variable(cls, field: str) -> str:
        """``MCPMON_<SECTION>_<FIELD>``, the environment variable of one field."""
        return f"{ENV_PREFIX}{cls.section.upper()}_{field.upper()}"


class WorkerSettings(_Section):
    """mcpmon worker (and bench kafka): MCPMON_WORKER_*; see monitor/worker/__init__.py.

    The worker's other settings (partitions, app_id, store, data_dir, ...) have
    variables without the WORKER_ part and stay at the top of :class:`Settings`.
    """

    section = "worker"

    flush_seconds: float = Field(
        0.2,
        gt=0,
        le=10,
        description="The worker writes changed agents to its state table (and, once the broker "
        "has them, counts their events as done; offsets are committed once a second) at least "
        "this often; outputs never wait for it. Longer: fewer writes of busy agents, more events "
        "processed again after a crash",
    )
    flush_events: int = Field(
        2000,
        ge=1,
        description="... and after at most this many events (1 writes after every event)",
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="mcpmon worker's /metrics port; 0 off (suggested 9464)"
    )


class TapSettings(_Section):
    """Gateway tap (mcpmon tap): MCPMON_TAP_*; see monitor/tap/__init__.py."""

    section = "tap"

    batch_records: int = Field(
        500,
        ge=1,
        le=100_000,
        description="Records per delivery batch; the checkpoint advances once a batch is confirmed",
    )
    linger_seconds: float = Field(
        0.2, ge=0, le=10, description="Longest a mapped record waits before its batch is sent"
    )
    poll_seconds: float = Field(
        0.25,
        gt=0,
        le=5,
        description="--follow: how often a quiet source is checked for lines, rotation, truncation",
    )
    pair_window_requests: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Paired formats: most requests awaiting a response; beyond it the oldest is "
        "emitted with outcome unknown",
    )
    pair_window_seconds: float = Field(
        60.0,
        gt=0,
        description="Paired formats: a request without a response for this long (tap clock) is "
        "emitted with outcome unknown",
    )


class RevokerSettings(_Section):
    """Revoker (mcpmon revoker): MCPMON_REVOKER_*; see monitor/revoker/__init__.py."""

    section = "revoker"

    group_id: str = Field(
        "mcpmon-revoker", description="Consumer group of the revokers reading mcp.revocations"
    )
    actuators: str = Field(
        "denylist",
        description="Comma-separated actuators every command goes through: denylist, oauth, "
        "webhook, vault",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis holding the deny-list and the applied-set"
    )
    ledger: Literal["redis", "memory"] = Field(
        "redis",
        description="Applied-set store (idempotence by command_id); memory forgets on exit",
    )
    ledger_ttl_seconds: int = Field(
        30 * 86_400,
        ge=0,
        description="How long an applied command is remembered at least (longer while its "
        "deny-list entry holds); 0 forever",
    )
    denylist_prefix: str = Field("mcpmon:deny:", description="Deny-list key prefix")
    denylist_ttl_seconds: int = Field(
        86_400,
        ge=0,
        description="Expiry of deny-list entries no credential expiry bounds (task/session "
        "commands naming no credential); credentials are held until their expiry + 300 s, "
        "agents until lifted; 0 keeps every entry",
    )
    retry_attempts: int = Field(
        5, ge=1, le=50, description="Attempts per actuator before a command is acked failed"
    )
    retry_base_seconds: float = Field(
        0.5, ge=0, le=60, description="First backoff wait; doubles per attempt"
    )
    retry_max_seconds: float = Field(
        30.0, ge=0, le=600, description="Longest backoff wait between two attempts"
    )
    timeout_seconds: float = Field(
        5.0, gt=0, le=120, description="Per request (HTTP, Redis) timeout of an actuator"
    )
    command_max_age_seconds: float = Field(
        86_400.0,
        ge=0,
        description="With command_signing_keys: a command whose ts is further than this from "
        "the revoker's clock (older, or in the future) is refused as a replay; must exceed the "
        "worst worker lag; 0: no limit",
    )
    oauth_url: str = Field("", description="RFC 7009 revocation endpoint")
    oauth_client_id: str = Field("", description="Client id (HTTP Basic client auth)")
    oauth_client_secret: SecretStr = Field(SecretStr(""), description="Client secret")
    oauth_token_type_hint: str = Field(
        "access_token", description="token_type_hint sent with every token"
    )
    webhook_url: str = Field("", description="Signed webhook (SOAR / ticketing) URL")
    webhook_secret: SecretStr = Field(
        SecretStr(""), description="HMAC-SHA256 key of the X-MCPMon-Signature header"
    )
    vault_addr: str = Field("", description="Vault address, e.g. https://vault:8200")
    vault_token: SecretStr = Field(SecretStr(""), description="X-Vault-Token")
    vault_namespace: str = Field("", description="X-Vault-Namespace (Enterprise)")
    vault_prefix_template: str = Field(
        "",
        description="revoke-prefix for task/session/agent scope, e.g. mcp/creds/{agent_id}/; "
        "empty: leases by credential id only",
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="mcpmon revoker's /metrics port; 0 off (suggested 9465)"
    )


class SinkSettings(_Section):
    """SIEM sinks (mcpmon sink): MCPMON_SINK_*; see monitor/sinks/__init__.py and docs/siem.md."""

    section = "sink"

    to: Literal["ocsf-file", "cef-syslog", "splunk-hec"] = Field(
        "ocsf-file", description="Where mcpmon sink delivers alerts"
    )
    group_id: str = Field(
        "", description="Consumer group of the sink; empty: mcpmon-sink-<sink_to>"
    )
    file: str = Field("alerts.ocsf.jsonl", description="ocsf-file: JSON-lines file to append")
    syslog_host: str = Field("127.0.0.1", description="cef-syslog: receiver host")
    syslog_port: int = Field(514, ge=1, le=65535, description="cef-syslog: receiver port")
    syslog_protocol: Literal["tcp", "udp"] = Field(
        "tcp", description="cef-syslog: tcp (octet counting, RFC 6587) or udp (no delivery proof)"
    )
    syslog_facility: int = Field(
        10, ge=0, le=23, description="cef-syslog: RFC 5424 facility (10 security/authorization)"
    )
    hostname: str = Field(
        "", description="HOSTNAME in syslog / host in HEC; empty: this machine's name"
    )
    hec_url: str = Field("", description="splunk-hec: collector base URL, e.g. https://splunk:8088")
    hec_token: SecretStr = Field(SecretStr(""), description="splunk-hec: HEC token")
    hec_source: str = Field("mcpmon", description="splunk-hec: source")
    hec_sourcetype: str = Field("mcpmon:alert", description="splunk-hec: sourcetype")
    hec_index: str = Field("", description="splunk-hec: index; empty: the token's default")
    hec_verify_tls: bool = Field(True, description="splunk-hec: verify the TLS certificate")
    retry_attempts: int = Field(
        5, ge=1, le=50, description="Failed attempts before a delivery is logged as failing"
    )
    retry_base_seconds: float = Field(
        0.5, ge=0, le=60, description="First backoff wait; doubles per attempt"
    )
    retry_max_seconds: float = Field(
        30.0, ge=0, le=600, description="Longest backoff wait between two attempts"
    )
    timeout_seconds: float = Field(
        5.0, gt=0, le=120, description="Per delivery (connect + send / HTTP request) timeout"
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="mcpmon sink's /metrics port; 0 off (suggested 9466)"
    )


class ProxySettings(_Section):
    """MCP gateway proxy (mcpmon proxy): MCPMON_PROXY_*; see monitor/proxy/__init__.py.

    The deny-list it consults is the revoker's: MCPMON_REVOKER_REDIS_URL and
    MCPMON_REVOKER_DENYLIST_PREFIX (``settings.revoker.redis_url``, ``.denylist_prefix``).
    """

    section = "proxy"

    enforce: bool = Field(
        True, description="Check every tools/call against the deny-list; false: only emit events"
    )
    fail_mode: Literal["closed", "open"] = Field(
        "closed",
        description="When the deny-list cannot be read: closed refuses the call, open forwards it "
        "(counted and logged)",
    )
    denylist_timeout_seconds: float = Field(
        0.5, gt=0, le=30, description="Longest a deny-list check may take before fail mode applies"
    )
    emit_buffer_events: int = Field(
        10_000,
        ge=1,
        le=10_000_000,
        description="Events held while Kafka is unreachable; beyond it an event is logged in full "
        "and counted as an emit failure, never dropped silently",
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="mcpmon proxy's /metrics port; 0 off (suggested 9467)"
    )


def _section(cls: type[_Section]) -> Any:
    """The Settings field holding one section: all its defaults unless a variable says else."""
    return Field(
        default_factory=lambda: cls.model_validate({}),
        description=(cls.__doc__ or "").splitlines()[0],
    )


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

    @model_validator(mode="after")
    def _keyrings_parse(self) -> Settings:
        # a bad key setting fails at load, naming the variable
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


#: Suffix of a variable naming a file that holds the value (Docker / Kubernetes secrets).
FILE_SUFFIX = "_FILE"


def _from_file(var: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(1 << 20)
    except (OSError, UnicodeDecodeError) as err:
        raise MonitorError(f"{var}: cannot read {path}: {err}") from None
    return text[:-1] if text.endswith("\n") else text  # one trailing newline, as editors write


def unknown_variables(source: Mapping[str, str]) -> list[tuple[str, str | None]]:
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


def load_settings(
    overrides: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> Settings:
    """Environment first, then explicit overrides (e.g. CLI flags that were given), both
    by setting name (``{"revoker_actuators": "oauth"}``, see :data:`SETTING_PATHS`).

    ``MCPMON_<NAME>_FILE`` names a file holding the value (for secrets mounted
    by Docker or Kubernetes); giving both it and ``MCPMON_<NAME>`` is an error.
    Unknown ``MCPMON_*`` variables are logged (``unknown_setting``) with the
    closest known name.
    """
    source: Mapping[str, str] = os.environ if env is None else env
    values: dict[str, Any] = {}
    for var, name in VARIABLES.items():
        raw, path = source.get(var), source.get(var + FILE_SUFFIX)
        if raw is not None and path is not None:
            raise MonitorError(f"both {var} and {var}{FILE_SUFFIX} are set: give one")
        if path is not None:
            raw = _from_file(var + FILE_SUFFIX, path)
        if raw is not None:
            values[name] = raw
    for var, close in unknown_variables(source):
        _log.warning("unknown_setting", variable=var, did_you_mean=close)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Settings.model_validate(_nest(values))
    except ValidationError as err:
        e = err.errors(include_url=False)[0]
        name = _setting_name(e["loc"])
        raise MonitorError(f"setting {name} ({ENV_PREFIX}{name.upper()}): {e['msg']}") from None
