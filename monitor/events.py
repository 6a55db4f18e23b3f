"""Input contract v1: the events on ``mcp.events``.

One topic carries tool calls *and* lifecycle, keyed by ``agent_id``, so that per
agent the order of "task ended" and "tool called" is kept. Every message is a
JSON object with a ``type`` discriminator; :func:`decode_event` is the only way
in, and it raises :class:`~monitor.errors.DecodeError` naming the bad field.

Unknown extra fields are ignored (forward compatibility with newer gateways);
unknown ``type`` values and invalid fields are rejected.

Trust at the boundary (README "Trust at the boundaries"): every identifier
(``agent_id``, ``sponsor``, ``task_id``, ``session_id``, ``credential_id``) is
put in its one canonical spelling by :func:`monitor.identity.canonical_id`
(``SPIFFE://CORP/agents/a`` is ``spiffe://corp/agents/a``; ``corp//agents``,
a trailing ``/``, ``%41``, control and invisible characters are refused), so
a re-spelled id can never be a new identity that no charter covers. Times are
RFC 3339 text with an offset, nothing else: JSON numbers and digit strings,
which pydantic's lax mode would read as epoch seconds, are refused. A JSON
object with a key twice is refused too: parsers disagree on which value wins
(here the last), so the gateway and the monitor could see different events.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError, from_json

from monitor.charter import canonical_agent_pattern
from monitor.errors import DecodeError
from monitor.identity import canonical_id

Id = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Text = Annotated[str, StringConstraints(max_length=4096)]
AgentKind = Literal["delegated", "autonomous"]
Outcome = Literal["ok", "error", "denied", "unknown"]


def _canonical(field: str) -> AfterValidator:
    """An identifier's one spelling (monitor/identity.py); a bad one is an error on ``field``.

    The check is cached per field (in C: a repeated identifier costs no Python
    call on the hot path); refusals are not cached, they raise every time.
    """

    def check(value: str) -> str:
        try:
            return canonical_id(value, field)
        except DecodeError as err:
            why = err.reason.removeprefix(f"{field}: ")
            raise PydanticCustomError("identifier", "{why}", {"why": why}) from None

    return AfterValidator(functools.lru_cache(maxsize=8192)(check))


def _agent_pattern(value: str) -> str:
    try:
        return canonical_agent_pattern(value)
    except ValueError as err:
        raise PydanticCustomError("identifier", "{why}", {"why": str(err)}) from None


#: The identifiers (agent, sponsor, task, session, credential): canonical or refused.
AgentId = Annotated[Id, _canonical("agent_id")]
SponsorId = Annotated[Id, _canonical("sponsor")]
TaskId = Annotated[Id, _canonical("task_id")]
SessionId = Annotated[Id, _canonical("session_id")]
CredentialId = Annotated[Id, _canonical("credential_id")]
#: A charter update's key: the charter's ``agent`` pattern (a glob) or an agent id, folded alike.
AgentPattern = Annotated[Id, AfterValidator(_agent_pattern)]

#: Largest message accepted; bigger ones go to the dead-letter output unparsed.
MAX_MESSAGE_BYTES = 1 << 20

#: Event times accepted. Outside, the time is certainly wrong (a reset clock, a
#: forged value) and near the ends of ``datetime``'s range arithmetic on it fails.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _in_range(ts: datetime) -> datetime:
    if 1970 < ts.year < 2199:  # no UTC offset (< 24 h) takes these across a bound
        return ts
    try:
        ok = EARLIEST <= ts < LATEST
    except OverflowError:  # an offset that takes it past year 1 or 9999
        ok = False
    if not ok:
        raise ValueError(f"time outside {EARLIEST:%Y-%m-%d} .. {LATEST:%Y-%m-%d}")
    return ts


#: RFC 3339 ``date-time`` (§5.6): full date, ``T`` (or ``t``, space), full time, an offset.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    """Only RFC 3339 text with an offset (or a datetime built in code, e.g. by the tap).

    pydantic's lax mode would read ``1796302800`` or ``"1796302800"`` as epoch
    seconds and ``2026-01-01T10:00Z`` as a time; the contract says RFC 3339.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) <= 64 and _RFC3339.fullmatch(value):
        return value
    shown = repr(value) if isinstance(value, str | int | float | bool) else type(value).__name__
    raise PydanticCustomError(
        "rfc3339",
        "expected RFC 3339 text with a UTC offset such as 2026-01-01T10:00:00Z, got {got}",
        {"got": shown[:80]},
    )


Time = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_range)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: Id
    ts: Time = Field(description="Event time, RFC 3339 with a UTC offset (1970 to 2200).")
    agent_id: AgentId


class ToolCall(_Event):
    """One MCP ``tools/call`` as a gateway saw it."""

    type: Literal["tool_call"] = "tool_call"
    agent_kind: AgentKind | None = Field(
        default=None, description="Absent: taken from the agent's charter."
    )
    sponsor: SponsorId | None = None
    task_id: TaskId | None = None
    session_id: SessionId | None = None
    credential_id: CredentialId | None = None
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
    denied_by: Id | None = Field(
        default=None,
        description="Extension: with outcome denied, which check at the gateway refused the "
        "call: 'denylist', 'denylist_unavailable', 'token_expired' (a verified bearer token past "
        "its own exp), or a charter check as '<detector>:<clause key>' "
        "(mcpmon proxy --policy inline), e.g. 'out_of_charter_tool:tools', "
        "'rate_limit:limits.max_calls_per_minute', 'policy_unavailable'.",
    )
    result_digests: list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]] | None = (
        Field(
            default=None,
            max_length=64,
            description="Extension: digests of the entity-like values (addresses, URLs, account "
            "numbers, identifiers) the call's result carried, from monitor.core.values.value_digests; "
            "never the values. Lets the core see an egress argument that came from what a read "
            "returned (provenance). Absent: the gateway does not log results.",
        )
    )
    result_secrets: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,40}$")]] | None = (
        Field(
            default=None,
            max_length=8,
            description="Extension: names of the secret families (the redactor's token rules: "
            "'aws-key', 'private-key', 'jwt', 'authorization', ...) found in the call's result, "
            "sorted, at most 8, from monitor.core.detectors.secret_transit.result_secrets; never "
            "the secrets. Raises secret_in_transit (in its result). Absent: no secret found, or "
            "the gateway does not log results.",
        )
    )


class TaskStarted(_Event):
    type: Literal["task_started"] = "task_started"
    task_id: TaskId
    sponsor: SponsorId | None = None
    agent_kind: AgentKind | None = None


class TaskEnded(_Event):
    type: Literal["task_ended"] = "task_ended"
    task_id: TaskId
    sponsor: SponsorId | None = None
    agent_kind: AgentKind | None = None


class CredentialIssued(_Event):
    type: Literal["credential_issued"] = "credential_issued"
    credential_id: CredentialId
    task_id: TaskId | None = None
    scopes: list[Id] = Field(default_factory=list, max_length=1024)
    expires_at: Time


class CredentialRevoked(_Event):
    type: Literal["credential_revoked"] = "credential_revoked"
    credential_id: CredentialId
    reason: Text = ""


class SponsorActive(_Event):
    type: Literal["sponsor_active"] = "sponsor_active"
    sponsor: SponsorId
    task_id: TaskId | None = None


class SponsorEnded(_Event):
    type: Literal["sponsor_ended"] = "sponsor_ended"
    sponsor: SponsorId
    task_id: TaskId | None = None


class CharterUpdated(_Event):
    """Replaces (or adds) the charter whose ``agent`` pattern matches the document's."""

    type: Literal["charter_updated"] = "charter_updated"
    agent_id: AgentPattern  # the partition key: often the charter's agent pattern, a glob
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
    agent. ``malicious``: it unlearns it. Other detectors ignore feedback. With the
    feedback ranker on, it also learns the verdict (``details.feedback_score`` on later
    alerts).
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


#: A JSON string token, escapes included (the unrolled form: fast in ``re``).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def _duplicate_key(raw: bytes, doc: object) -> None:
    """Refuse a message in which some object has a key twice.

    The parser keeps the last value silently. Outside its strings, JSON text
    has one ``:`` per object member and no other, so the message and the
    parsed document written out again (orjson, compact) have as many colons
    outside strings unless a repeated key was dropped. Without a backslash in
    either, strings are spelled the same in both and whole colon counts
    compare; with one (an escape could spell a colon or a quote), strings are
    cut out first. Only a message that fails (or that orjson cannot write,
    such as an integer beyond 64 bits) is parsed again, with the standard
    library, to name the key.
    """
    try:
        again: bytes | None = orjson.dumps(doc)
    except orjson.JSONEncodeError:
        again = None
    if again is not None:
        if b"\\" not in raw and b"\\" not in again:
            if raw.count(b":") == again.count(b":"):
                return
        elif _STRING.sub(b"", raw).count(b":") == _STRING.sub(b"", again).count(b":"):
            return
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for k, _ in items:
            if k in seen and not found:
                found.append(k)
            seen.add(k)
        return dict(items)

    try:
        json.loads(raw, object_pairs_hook=pairs)
        checked = True
    except (ValueError, RecursionError):  # e.g. an integer of more than 4300 digits
        checked = False
    if not found and again is None:
        if checked:
            return  # only orjson could not write it (an integer beyond 64 bits): no repeat
        raise DecodeError("not JSON that can be checked for repeated keys")
    key = found[0] if found else None
    shown = repr(key[:80]) if key is not None else "a key"
    raise DecodeError(f"duplicate JSON key {shown}: which value wins is parser-dependent", key)


def decode_event(raw: bytes | str) -> Event:
    """Decode and validate one JSON message into an event.

    >>> decode_event(b'{"type":"task_started","event_id":"e1","ts":"2026-01-01T00:00:00Z",'
    ...              b'"agent_id":"a","task_id":"t"}').task_id
    't'
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        raise DecodeError(f"message of {len(raw)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")
    if isinstance(raw, str):  # lone surrogates stay invalid UTF-8 and the parser refuses them
        raw = raw.encode("utf-8", "surrogatepass")
    try:
        doc = from_json(raw)
    except ValueError as err:
        raise DecodeError(f"not JSON: {err}") from None
    if type(doc) is not dict:
        raise DecodeError("not a JSON object")
    _duplicate_key(raw, doc)
    try:
        return _ADAPTER.validate_python(doc)
    except ValidationError as err:
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
