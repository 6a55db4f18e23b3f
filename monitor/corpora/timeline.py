"""Shared plumbing for corpus converters: a fixed clock, stable ids, one timeline per agent
(the fixture files themselves: :mod:`monitor.corpora.fixtures`).

Why a fixed clock: a corpus converted twice must be byte-identical (the committed
fixture is checked against the converter), so nothing here reads the wall clock,
a random source or a dict order that depends on hashing. Sessions of one agent are
laid out one after another: warm-up sessions first (the benign history the agent
has before it is scored), then the scored sessions in an order fixed by a hash of
their session id, so attacked and benign sessions interleave the same way on every
machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import blake2b
from typing import Any

from monitor.corpora.base import Corpus, SessionLabel

#: Every converted corpus starts here (a Monday, inside any charter's working hours).
BASE_TIME = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)
#: Gap between two calls of one session, and between two sessions of one agent.
CALL_GAP = timedelta(seconds=4)
SESSION_GAP = timedelta(minutes=10)
#: Gap between the start of one agent's timeline and the next one's (agents overlap).
AGENT_STAGGER = timedelta(seconds=1)


@dataclass(slots=True)
class Call:
    """One tool call as a source corpus recorded it."""

    server: str
    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    outcome: str = "ok"
    result_digests: list[str] = field(default_factory=list)
    attack: bool = False  # caused by the attacker (its event id goes into attack_events)


@dataclass(slots=True)
class Session:
    label: SessionLabel  # attack_events is filled in by :func:`lay_out`
    calls: list[Call]


def order_key(session_id: str) -> bytes:
    """A stable, well-mixed sort key for a session id (same on every machine)."""
    return blake2b(session_id.encode(), digest_size=8, person=b"mcpmon-order").digest()


def fmt_ts(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def lay_out(
    agents: Sequence[tuple[str, Sequence[Session]]], *, kind: str = "autonomous"
) -> tuple[list[dict[str, Any]], list[SessionLabel]]:
    """Events (time-ordered) and labels for ``[(agent_id, sessions)]``.

    Within an agent, warm-up sessions keep their given order and come first; the
    scored sessions follow, ordered by :func:`order_key`. Event ids are
    ``<session_id>/<n>``: stable and unique as long as session ids are.
    """
    events: list[dict[str, Any]] = []
    labels: list[SessionLabel] = []
    for a, (agent_id, sessions) in enumerate(agents):
        warm = [s for s in sessions if s.label.kind == "warmup"]
        scored = sorted(
            (s for s in sessions if s.label.kind != "warmup"),
            key=lambda s: order_key(s.label.session_id),
        )
        t = BASE_TIME + a * AGENT_STAGGER
        for s in [*warm, *scored]:
            attack_ids: list[str] = []
            for n, c in enumerate(s.calls):
                ev: dict[str, Any] = {
                    "type": "tool_call",
                    "event_id": f"{s.label.session_id}/{n}",
                    "ts": fmt_ts(t + n * CALL_GAP),
                    "agent_id": agent_id,
                    "agent_kind": kind,
                    "session_id": s.label.session_id,
                    "task_id": s.label.session_id,
                    "server": c.server,
                    "tool": c.tool,
                    "args": c.args,
                    "outcome": c.outcome,
                }
                if c.result_digests:
                    ev["result_digests"] = c.result_digests
                if c.attack:
                    attack_ids.append(ev["event_id"])
                events.append(ev)
            lab = s.label
            labels.append(
                SessionLabel(
                    agent_id=lab.agent_id,
                    session_id=lab.session_id,
                    kind=lab.kind,
                    split=lab.split,
                    case=lab.case,
                    attack_class=lab.attack_class,
                    attack_events=tuple(attack_ids),
                    source=lab.source,
                    succeeded=lab.succeeded,
                )
            )
            t += max(len(s.calls), 1) * CALL_GAP + SESSION_GAP
    events.sort(key=lambda e: (e["ts"], e["agent_id"], e["event_id"]))
    return events, labels


def counts(corpus: Corpus) -> dict[str, Any]:
    """Sizes for the notes and tests: agents, sessions per kind and split, calls."""
    out: dict[str, Any] = {
        "agents": len({s.agent_id for s in corpus.sessions}),
        "calls": len(corpus.events),
        "sessions": len(corpus.sessions),
    }
    per: dict[str, int] = {}
    for s in corpus.sessions:
        key = f"{s.kind}/{s.split}"
        per[key] = per.get(key, 0) + 1
        if s.kind == "attack":
            k = f"attack/{s.split}/{s.attack_class}/{'succeeded' if s.succeeded else 'failed'}"
            per[k] = per.get(k, 0) + 1
    out["by_kind_split"] = dict(sorted(per.items()))
    return out


def unique(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, first occurrence order."""
    return list(dict.fromkeys(items))
