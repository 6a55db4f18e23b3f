"""The shape every corpus converter returns, and the split that is fixed before tuning.

A *session* is one agent run: ``(agent_id, session_id)``. It is labelled
``benign`` or ``attack`` (with an attack class such as ``data_stealing`` or
``direct_harm``), and belongs to the ``tuning`` or the ``held_out`` part by a
hash of its *source case* (never by its outcome), so every run of one case —
e.g. the same injected case run by six models — lands in the same part and the
held-out figures are on cases tuning never saw. Sessions marked ``warmup`` are
benign history an agent has before it is scored; they are not counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any, Literal

Split = Literal["tuning", "held_out"]
Kind = Literal["benign", "attack", "warmup"]

#: Share of source cases in the tuning part; the rest is held out.
TUNING_SHARE = 0.5


def split_of(case_key: str, salt: str = "mcpmon-corpus-split-v1") -> Split:
    """The part a source case belongs to: a stable hash, the same on every machine."""
    h = blake2b(f"{salt}\x00{case_key}".encode(), digest_size=8).digest()
    return "tuning" if int.from_bytes(h, "big") / 2**64 < TUNING_SHARE else "held_out"


@dataclass(frozen=True, slots=True)
class SessionLabel:
    agent_id: str
    session_id: str
    kind: Kind
    split: Split
    case: str  # the source case this session came from (what the split hashes)
    attack_class: str | None = None  # for kind == "attack"
    #: event ids of the calls the attacker caused (the ones a detector should point at)
    attack_events: tuple[str, ...] = ()
    source: str = ""  # file / model / setting in the source corpus, for debugging
    #: for kind == "attack": did the attack achieve its goal, as the source logged it
    #: (None: not logged). A failed attack may leave no trace in the calls at all.
    succeeded: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "kind": self.kind,
            "split": self.split,
            "case": self.case,
            "attack_class": self.attack_class,
            "attack_events": list(self.attack_events),
            "source": self.source,
            "succeeded": self.succeeded,
        }


@dataclass(slots=True)
class Corpus:
    """One converted corpus: events in time order, charter documents, session labels."""

    name: str
    licence: str  # e.g. "MIT, Copyright (c) ... (source URL)"
    events: list[dict[str, Any]] = field(default_factory=list)  # mcp.events dicts, ts-ordered
    charters: list[dict[str, Any]] = field(default_factory=list)  # charter documents (YAML-able)
    sessions: list[SessionLabel] = field(default_factory=list)

    def by_split(self, split: Split) -> Iterator[SessionLabel]:
        return (s for s in self.sessions if s.split == split)


def granted_charter(
    agent_id: str, mission: str, tools: list[dict[str, Any]], warmup_events: int
) -> dict[str, Any]:
    """The charter every converted agent gets: its whole toolkit granted, observe mode, the
    learned baseline on after ``warmup_events`` calls.

    Granting every tool the agent uses is the point: a hijack through granted tools is
    what charters cannot see, so what is caught here is the behaviour layers' doing.

    >>> granted_charter("spiffe://x/a", "m", [{"server": "s", "tool": "t"}], 5)["baseline"]
    {'enabled': True, 'warmup_events': 5}
    """
    return {
        "agent": agent_id,
        "kind": "autonomous",
        "mission": mission,
        "mode": "observe",
        "tools": tools,
        "baseline": {"enabled": True, "warmup_events": warmup_events},
    }


def tool_results(messages: Sequence[Any]) -> dict[str, Any]:
    """The content of each ``role: tool`` message of an OpenAI-style conversation, by the
    ``tool_call_id`` it answers (what τ-bench and LiveMCPBench log).

    >>> tool_results([{"role": "tool", "tool_call_id": "c1", "content": "ok"}, {"role": "user"}])
    {'c1': 'ok'}
    """
    return {
        m["tool_call_id"]: m.get("content")
        for m in messages
        if isinstance(m, dict)
        and m.get("role") == "tool"
        and isinstance(m.get("tool_call_id"), str)
    }
