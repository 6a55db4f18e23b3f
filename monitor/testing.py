"""Builders for events and charters, for tests and notebooks.

Time is given as seconds after a fixed epoch (:data:`T0`), so a test reads like
a timeline: ``call(90, "a", "fs", "read_file")`` is a call 90 s in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from monitor.charter import Charter
from monitor.core import Decision, Engine
from monitor.events import (
    CredentialIssued,
    CredentialRevoked,
    SponsorActive,
    SponsorEnded,
    TaskEnded,
    TaskStarted,
    ToolCall,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_ids = count(1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _id(event_id: str | None) -> str:
    return event_id or f"t-{next(_ids)}"


def call(
    sec: float, agent: str, server: str, tool: str, *, event_id: str | None = None, **kw: Any
) -> ToolCall:
    kw.setdefault("outcome", "ok")
    return ToolCall(
        event_id=_id(event_id), ts=at(sec), agent_id=agent, server=server, tool=tool, **kw
    )


def task_started(
    sec: float,
    agent: str,
    task_id: str,
    sponsor: str | None = None,
    event_id: str | None = None,
    **kw: Any,
) -> TaskStarted:
    return TaskStarted(
        event_id=_id(event_id), ts=at(sec), agent_id=agent, task_id=task_id, sponsor=sponsor, **kw
    )


def task_ended(
    sec: float,
    agent: str,
    task_id: str,
    sponsor: str | None = None,
    event_id: str | None = None,
    **kw: Any,
) -> TaskEnded:
    return TaskEnded(
        event_id=_id(event_id), ts=at(sec), agent_id=agent, task_id=task_id, sponsor=sponsor, **kw
    )


def issued(
    sec: float,
    agent: str,
    credential_id: str,
    ttl: float,
    task_id: str | None = None,
    event_id: str | None = None,
) -> CredentialIssued:
    return CredentialIssued(
        event_id=_id(event_id),
        ts=at(sec),
        agent_id=agent,
        credential_id=credential_id,
        task_id=task_id,
        expires_at=at(sec + ttl),
    )


def revoked(
    sec: float, agent: str, credential_id: str, event_id: str | None = None
) -> CredentialRevoked:
    return CredentialRevoked(
        event_id=_id(event_id),
        ts=at(sec),
        agent_id=agent,
        credential_id=credential_id,
        reason="test",
    )


def sponsor_active(
    sec: float, agent: str, sponsor: str, task_id: str | None = None, event_id: str | None = None
) -> SponsorActive:
    return SponsorActive(
        event_id=_id(event_id), ts=at(sec), agent_id=agent, sponsor=sponsor, task_id=task_id
    )


def sponsor_ended(
    sec: float, agent: str, sponsor: str, task_id: str | None = None, event_id: str | None = None
) -> SponsorEnded:
    return SponsorEnded(
        event_id=_id(event_id), ts=at(sec), agent_id=agent, sponsor=sponsor, task_id=task_id
    )


def feed(engine: Engine, *events: Any) -> Decision:
    """Feed events in order; one Decision with every alert and revocation they caused."""
    alerts: list[Any] = []
    revocations: list[Any] = []
    for e in events:
        d = engine.process(e)
        alerts += d.alerts
        revocations += d.revocations
    return Decision(alerts=alerts, revocations=revocations)


def charter(agent: str = "agent:*", kind: str = "autonomous", **kw: Any) -> Charter:
    """A charter from keyword overrides; ``mode`` defaults to enforce here."""
    kw.setdefault("mode", "enforce")
    return Charter.model_validate({"agent": agent, "kind": kind, **kw})


def fleet_charter(agents: str) -> str:
    """An enforcing charter for the fleet MCP server's read tools (list_hosts, read_file),
    for agents matching ``agents``: what the proxy end-to-end tests and the dashboard
    snapshot put behind ``mcpmon proxy --policy inline``."""
    return f"""\
agent: "{agents}"
kind: autonomous
mission: "read the fleet inventory"
mode: enforce
tools:
  - {{server: fleet, tool: list_hosts, classes: [read]}}
  - {{server: fleet, tool: read_file, classes: [read]}}
tenants: [corp]
"""


#: The proxy identity mapping of those tests: agent and credential from two headers.
HEADER_IDENTITY_MAPPING = """\
fields:
  agent_id: headers.x-agent-id
  credential_id: headers.x-credential-id
defaults: {tenant: corp}
"""
