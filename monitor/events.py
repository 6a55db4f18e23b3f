"""Input contract v1: the events on ``mcp.events``.

One topic carries tool calls *and* lifecycle, keyed by ``agent_id``, so that per
agent the order of "task ended" and "tool called" is kept. Every message is a
JSON object with a ``type`` discriminator; :func:`decode_event` is the only way
in, and it raises :class:`~monitor.errors.DecodeError` naming the bad field.

Unknown extra fields are ignored (forward compatibility with newer gateways);
unknown ``type`` values and invalid fields are rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from monitor.errors import DecodeError

Id = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Text = Annotated[str, StringConstraints(max_length=4096)]
AgentKind = Literal["delegated", "autonomous"]
Outcome = Literal["ok", "error", "denied", "unknown"]

#: Largest message accepted; bigger ones go to the dead-letter output unparsed.
MAX_MESSAGE_BYTES = 1 << 20

#: Event times accepted. Outside, the time is certainly wrong (a reset clock, a
#: forged value) and near the ends of ``datetime``'s range arithmetic on it fails.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _in_range(ts: datetime) -> datetime:
    try:
        ok = EARLIEST <= ts < LATEST
    except OverflowError:  # an offset that takes it past year 1 or 9999
        ok = False
    if not ok:
        raise ValueError(f"time outside {EARLIEST:%Y-%m-%d} .. {LATEST:%Y-%m-%d}")
    return ts


Time = Annotated[AwareDatetime, AfterValidator(_in_range)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: Id
    ts: Time = Field(description="Event time, RFC 3339 with a UTC offset (1970 to 2200).")
    agent_id: Id


class ToolCall(_Event):
    """One MCP ``tools/call`` as a gateway saw it."""

    type: Literal["tool_call"] = "tool_call"
    agent_kind: AgentKind | None = Field(
        default=None, description="Absent: taken from the agent's charter."
    )
    sponsor: Id | None = None
    task_id: Id | None = None
    session_id: Id | None = None
    credential_id: Id | None = None
    tenant: Id | None = None
    data_domain: Id | None = Field(
        default=None, description="Extension: the data domain the call touches, if known."
    )
    server: Id
    tool: Id
    args: dict[str, Any] = Field(default_factory=dict, description="May be redacted.")
    resources: list[Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=list, max_length=1024
    )
    outcome: Outcome = Field(
        default="unknown", description="unknown: the gateway logs only the request."
    )
    bytes_in: int = Field(default=0, ge=0)
    bytes_out: int = Field(default=0, ge=0)
    trace_id: Id | None = None


class TaskStarted(_Event):
    type: Literal["task_started"] = "task_started"
    task_id: Id
    sponsor: Id | None = None
    agent_kind: AgentKind | None = None


class TaskEnded(_Event):
    type: Literal["task_ended"] = "task_ended"
    task_id: Id
    sponsor: Id | None = None
    agent_kind: AgentKind | None = None


class CredentialIssued(_Event):
    type: Literal["credential_issued"] = "credential_issued"
    credential_id: Id
    task_id: Id | None = None
    scopes: list[Id] = Field(default_factory=list, max_length=1024)
    expires_at: Time


class CredentialRevoked(_Event):
    type: Literal["credential_revoked"] = "credential_revoked"
    credential_id: Id
    reason: Text = ""


class SponsorActive(_Event):
    type: Literal["sponsor_active"] = "sponsor_active"
    sponsor: Id
    task_id: Id | None = None


class SponsorEnded(_Event):
    type: Literal["sponsor_ended"] = "sponsor_ended"
    sponsor: Id
    task_id: Id | None = None


class CharterUpdated(_Event):
    """Replaces (or adds) the charter whose ``agent`` pattern matches the document's."""

    type: Literal["charter_updated"] = "charter_updated"
    charter: dict[str, Any]
    signature: Annotated[str, StringConstraints(max_length=256)] | None = Field(
        default=None,
        description="Extension: hmac-sha256:<key id>:<base64url> over the charter "
        "(monitor/signing.py, mcpmon sign-charter); required unless the monitor allows unsigned "
        "charter updates",
    )
    version: int | None = Field(
        default=None,
        ge=1,
        le=(1 << 53) - 1,
        description="Extension: covered by the signature; a signed update must carry one above "
        "the version last accepted for its agent pattern (mcpmon sign-charter: epoch seconds)",
    )


class AlertFeedback(_Event):
    """An analyst's verdict on an alert; ``agent_id`` is the alert's agent (the partition key).

    ``benign``: the behaviour baseline learns the alerted call as normal for this
    agent. ``malicious``: it unlearns it. Other detectors ignore feedback.
    """

    type: Literal["alert_feedback"] = "alert_feedback"
    alert_id: Id
    verdict: Literal["benign", "malicious"]
    note: Text = ""


Event = Annotated[
    ToolCall
    | TaskStarted
    | TaskEnded
    | CredentialIssued
    | CredentialRevoked
    | SponsorActive
    | SponsorEnded
    | CharterUpdated
    | AlertFeedback,
    Field(discriminator="type"),
]

EVENT_TYPES: dict[str, type[_Event]] = {
    "tool_call": ToolCall,
    "task_started": TaskStarted,
    "task_ended": TaskEnded,
    "credential_issued": CredentialIssued,
    "credential_revoked": CredentialRevoked,
    "sponsor_active": SponsorActive,
    "sponsor_ended": SponsorEnded,
    "charter_updated": CharterUpdated,
    "alert_feedback": AlertFeedback,
}

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def _describe(err: ValidationError) -> tuple[str, str | None]:
    first = err.errors(include_url=False)[0]
    loc = [str(p) for p in first["loc"]]
    # The discriminated union puts the type tag first in the location; drop it.
    if loc and loc[0] in EVENT_TYPES:
        loc = loc[1:]
    field = ".".join(loc) or None
    msg = first["msg"]
    if first["type"] == "union_tag_invalid":
        tag = first.get("input", {})
        tag = tag.get("type") if isinstance(tag, dict) else None
        return f"unknown event type {tag!r}", "type"
    if first["type"] == "union_tag_not_found":
        return "missing field 'type'", "type"
    more = len(err.errors()) - 1
    suffix = f" (and {more} more)" if more > 0 else ""
    return (f"{field}: {msg}{suffix}" if field else f"{msg}{suffix}"), field


def decode_event(raw: bytes | str) -> Event:
    """Decode and validate one JSON message into an event.

    >>> decode_event(b'{"type":"task_started","event_id":"e1","ts":"2026-01-01T00:00:00Z",'
    ...              b'"agent_id":"a","task_id":"t"}').task_id
    't'
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        raise DecodeError(f"message of {len(raw)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")
    try:
        return _ADAPTER.validate_json(raw)
    except ValidationError as err:
        if err.errors()[0]["type"] == "json_invalid":
            raise DecodeError(f"not JSON: {err.errors()[0]['msg']}") from None
        if err.errors()[0]["type"] == "model_attributes_type":
            raise DecodeError("not a JSON object") from None
        reason, field = _describe(err)
        raise DecodeError(reason, field) from None


def encode_event(event: _Event) -> bytes:
    """Encode an event as compact JSON (the inverse of :func:`decode_event`)."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


def epoch(ts: datetime) -> float:
    """Seconds since the epoch for an aware datetime (the engine's time unit)."""
    return ts.timestamp()
