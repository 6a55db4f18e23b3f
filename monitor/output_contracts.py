"""Output contracts v1: alerts, revocation commands and their acknowledgements.

These are what SIEM rules and revocation consumers are written against: field
names are a public interface. Extend compatibly, never rename.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
Scope = Literal["credential", "task", "session", "agent"]
Mode = Literal["enforce", "observe"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


class FrameworkRef(_Out):
    id: str
    name: str


class Frameworks(_Out):
    """Mappings to published frameworks, by their own ids and names."""

    owasp_agentic: list[FrameworkRef] = Field(
        description="OWASP Top 10 for Agentic Applications (2026)"
    )
    maestro: list[FrameworkRef] = Field(description="CSA MAESTRO layers")
    nist_ai_rmf: list[str] = Field(description="NIST AI RMF functions")


class CharterClause(_Out):
    """The part of the charter an alert is about."""

    charter: str | None = Field(
        description="The charter's agent pattern; None if no charter applies"
    )
    key: str = Field(
        description='Key path in the charter, e.g. "tools" or "forbidden_chains.exfiltration"'
    )
    text: str = Field(description="What the clause says, in words")
    mission: str = ""


class Alert(_Out):
    alert_id: str = Field(
        description="Deterministic: same cause, same id (replays and retries); two findings "
        "(e.g. two calls after one task end) never share one"
    )
    ts: AwareDatetime = Field(description="Event time of the event that raised it")
    agent_id: str
    agent_kind: Literal["delegated", "autonomous"] | None
    detector: str
    severity: Severity
    score: float = Field(ge=0, le=1)
    reason: str = Field(description="Plain-language explanation")
    evidence: list[str] = Field(description="event_ids of the events that prove it")
    clause: CharterClause
    frameworks: Frameworks
    mode: Mode
    task_id: str | None = None
    sponsor: str | None = None
    session_id: str | None = None
    credential_id: str | None = None
    details: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class RevocationCommand(_Out):
    command_id: str = Field(description="Deterministic from agent + scope + cause: idempotent")
    ts: AwareDatetime
    agent_id: str
    scope: Scope
    credential_ids: list[str] = Field(default_factory=list)
    task_id: str | None = None
    session_id: str | None = Field(default=None, description="Extension: set for scope=session")
    reason: str
    alert_ids: list[str] = Field(default_factory=list)
    mode: Mode
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="Extension: the latest expiry of the credentials it names; a deny-list "
        "holds its entries at least until then. Absent for agent scope (held until an "
        "operator lifts it) and when an expiry is unknown (credentials then held without "
        "expiry)",
    )
    signature: str | None = Field(
        default=None,
        max_length=256,
        description="Extension: hmac-sha256:<key id>:<base64url> over the other fields "
        "(monitor/signing.py); absent when the monitor has no signing key",
    )

    @model_serializer(mode="wrap")
    def _without_absent_extensions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No ``expires_at`` key when it is unset: a command without it dumps (and so is
        signed, monitor/signing.py) exactly as before the extension existed."""
        doc: dict[str, Any] = handler(self)
        if doc.get("expires_at", "") is None:
            del doc["expires_at"]
        return doc

    def to_json(self) -> bytes:
        """Without a ``signature`` key when unsigned: the bytes of contract v1."""
        doc = self.model_dump(mode="json")
        if doc["signature"] is None:
            del doc["signature"]
        return orjson.dumps(doc)


class RevocationAck(_Out):
    command_id: str
    actuator: str
    status: Literal["applied", "already_applied", "failed"]
    ts: datetime
    detail: str = ""
