"""The settings of each service, one section each (``settings.revoker.actuators`` is
``MCPMON_REVOKER_ACTUATORS``), nested in :class:`monitor.settings.Settings`."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from monitor.settings_sources import ENV_PREFIX


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
        "this often; outputs never wait for it, but they share the producer with the state "
        "records, so a short interval keeps each burst of them small. Longer: fewer writes of "
        "busy agents, larger bursts, more events processed again after a crash",
    )
    flush_events: int = Field(
        5000,
        ge=1,
        description="... and after at most this many events (1 writes after every event)",
    )
    backlog_flush_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="While the worker is behind (more events wait in its buffer than it takes "
        "at once), the timed write waits this long since the last write instead of "
        "flush_seconds: a backlog drains with fewer writes of the same busy agents. "
        "flush_events still applies",
    )
    fetch_min_bytes: int = Field(
        16_384,
        ge=1,
        le=1_048_576,
        description="A fetch returns once the broker has this many bytes for the worker, or "
        "after 20 ms: under steady traffic, a few fetches of many events instead of one "
        "round trip per event or two (1: aiokafka's default, the least latency and the "
        "most CPU)",
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
        description="revoke-prefix for task/session/agent scope, e.g. mcp/creds/{agent_path}/ "
        "({agent_path}: a SPIFFE ID's trust domain and path; also {agent_id}, {task_id}, "
        "{session_id}, {scope}; a value that is not path-safe is refused); "
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
    drain_seconds: int = Field(
        10,
        ge=1,
        le=3600,
        description="On SIGTERM, longest the HTTP proxy waits for calls under way; then they "
        "are cancelled (each still an event, outcome unknown) and its events are delivered "
        "(that too bounded by 10 s): keep the two under the orchestrator's grace period",
    )


def _section(cls: type[_Section]) -> Any:
    """The Settings field holding one section: all its defaults unless a variable says else."""
    return Field(
        default_factory=lambda: cls.model_validate({}),
        description=(cls.__doc__ or "").splitlines()[0],
    )
