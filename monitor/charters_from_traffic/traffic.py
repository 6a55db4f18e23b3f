"""Recorded traffic in, one compact picture per agent out: what it did, where, how fast.

Both ``mcpmon map`` and ``mcpmon charter suggest`` read the same thing from the
same events, so it is collected once, here, by :class:`Observer` (event time
only, memory bounded per agent). Sources are a JSONL file (``-`` for stdin) or a
Kafka topic range (:func:`kafka_lines`); undecodable lines are counted and
skipped — ``mcpmon replay`` dead-letters them with reasons.

>>> from monitor import testing as tb
>>> obs = Observer()
>>> obs.observe(tb.call(0, "a", "fs", "read_file", resources=["file:///repo/x.py"]))
>>> obs.observe(tb.call(5, "a", "web", "http_post"))
>>> obs.agents["a"].transitions
Counter({(('fs', 'read_file'), ('web', 'http_post')): 1})
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from monitor.charters_from_traffic.classes import DANGEROUS_PAIRS, Classifier
from monitor.core.globs import compile_glob
from monitor.core.policy import BUILTIN_SECRET_PATTERNS
from monitor.errors import DecodeError, MonitorError
from monitor.events import (
    CredentialIssued,
    SponsorActive,
    TaskEnded,
    TaskStarted,
    ToolCall,
    decode_event,
)

ToolKey = tuple[str, str]

#: Distinct resources remembered per agent; beyond it new ones are counted, not kept.
MAX_RESOURCES = 50_000
#: The window in which a dangerous pair counts as a "path" (the simulator's and README's default).
PATH_WITHIN_CALLS = 10
PATH_WITHIN_SECONDS = 600.0

_SECRET = [compile_glob(p) for p in BUILTIN_SECRET_PATTERNS]


def is_builtin_secret(resource: str) -> bool:
    return any(rx.match(resource) for rx in _SECRET)


@dataclass(slots=True)
class Seen:
    """How often and when: the evidence behind every suggested line."""

    count: int = 0
    first: float = 0.0
    last: float = 0.0

    def add(self, t: float, n: int = 1) -> None:
        if self.count == 0:
            self.first = self.last = t
        else:
            self.first, self.last = min(self.first, t), max(self.last, t)
        self.count += n

    def merge(self, other: Seen) -> None:
        if other.count:
            self.add(other.first, other.count)
            self.last = max(self.last, other.last)


@dataclass(slots=True)
class ToolUse:
    seen: Seen = field(default_factory=Seen)
    classes: set[str] = field(default_factory=set)
    denied: int = 0
    secret_resource_calls: int = 0  # calls whose resources are built-in secret sources


@dataclass(slots=True)
class PairGap:
    """The closest an agent came to a dangerous pair (first class, then second class)."""

    within_window: int = 0  # occurrences inside PATH_WITHIN_CALLS and PATH_WITHIN_SECONDS
    min_calls: int | None = None  # span in calls, first and last step included
    min_seconds: float | None = None
    example: tuple[str, str] | None = None  # (first event id, second event id) within window


@dataclass(slots=True)
class AgentTraffic:
    agent_id: str
    kinds: Counter[str] = field(default_factory=Counter)
    calls: Seen = field(default_factory=Seen)
    tools: dict[ToolKey, ToolUse] = field(default_factory=dict)
    transitions: Counter[tuple[ToolKey, ToolKey]] = field(default_factory=Counter)
    tenants: dict[str, Seen] = field(default_factory=dict)
    domains: dict[str, Seen] = field(default_factory=dict)
    resources: dict[str, Seen] = field(default_factory=dict)
    resources_dropped: int = 0
    per_minute: Counter[int] = field(default_factory=Counter)  # epoch minute -> calls
    minute_of_day: Counter[int] = field(default_factory=Counter)
    days: set[int] = field(default_factory=set)
    class_calls: Counter[str] = field(default_factory=Counter)
    pairs: dict[str, PairGap] = field(default_factory=dict)
    tasks: dict[str, list[float | None]] = field(default_factory=dict)  # task -> [start, end]
    credential_ttls: list[float] = field(default_factory=list)
    sponsor_quiet_max: float | None = None
    # streaming state
    _prev: ToolKey | None = None
    _n: int = 0
    _armed: dict[str, tuple[int, float, str]] = field(default_factory=dict)
    _sponsor_seen: float | None = None

    def task_lengths(self) -> list[float]:
        return [e - s for s, e in self.tasks.values() if s is not None and e is not None]


@dataclass(slots=True)
class Alerted:
    """Traffic an alert points at, kept out of what a suggestion learns (``--exclude-alerted``).

    The evidence calls themselves, and every call of the same agent in the same
    session or task: an attack's preparation is rarely in the evidence, and an
    episode with an attack in it is not a sample of normal work.
    """

    events: set[str] = field(default_factory=set)
    episodes: set[tuple[str, str, str]] = field(default_factory=set)  # (agent, kind, id)
    skipped: int = 0

    def add(self, alert: dict[str, Any]) -> None:
        agent = str(alert.get("agent_id", ""))
        self.events.update(str(e) for e in alert.get("evidence") or ())
        for kind in ("session_id", "task_id"):
            if alert.get(kind):
                self.episodes.add((agent, kind, str(alert[kind])))

    def covers(self, e: ToolCall) -> bool:
        return (
            e.event_id in self.events
            or (
                e.session_id is not None
                and (e.agent_id, "session_id", e.session_id) in self.episodes
            )
            or (e.task_id is not None and (e.agent_id, "task_id", e.task_id) in self.episodes)
        )


class Observer:
    """Accumulates :class:`AgentTraffic` per agent from decoded events (event time only)."""

    def __init__(
        self, classifier: Classifier | None = None, alerted: Alerted | None = None
    ) -> None:
        self.classifier = classifier or Classifier()
        self.alerted = alerted
        self.agents: dict[str, AgentTraffic] = {}
        self.events = 0
        self.bad_lines = 0
        self.start: float | None = None
        self.end: float | None = None

    def _agent(self, agent_id: str) -> AgentTraffic:
        a = self.agents.get(agent_id)
        if a is None:
            a = self.agents[agent_id] = AgentTraffic(agent_id)
        return a

    def observe(self, event: Any) -> None:
        t = event.ts.timestamp()
        self.events += 1
        self.start = t if self.start is None else min(self.start, t)
        self.end = t if self.end is None else max(self.end, t)
        if isinstance(event, ToolCall):
            if self.alerted is not None and self.alerted.covers(event):
                self.alerted.skipped += 1
                return
            self._call(self._agent(event.agent_id), event, t)
        elif isinstance(event, TaskStarted):
            a = self._agent(event.agent_id)
            a.tasks.setdefault(event.task_id, [None, None])[0] = t
            if event.agent_kind:
                a.kinds[event.agent_kind] += 0  # known kind, no call yet
            a._sponsor_seen = t
        elif isinstance(event, TaskEnded):
            self._agent(event.agent_id).tasks.setdefault(event.task_id, [None, None])[1] = t
        elif isinstance(event, SponsorActive):
            self._agent(event.agent_id)._sponsor_seen = t
        elif isinstance(event, CredentialIssued):
            ttl = event.expires_at.timestamp() - t
            self._agent(event.agent_id).credential_ttls.append(ttl)

    def _call(self, a: AgentTraffic, e: ToolCall, t: float) -> None:
        key = (e.server, e.tool)
        a.calls.add(t)
        if e.agent_kind:
            a.kinds[e.agent_kind] += 1
        use = a.tools.get(key)
        if use is None:
            use = a.tools[key] = ToolUse()
        use.seen.add(t)
        if e.outcome == "denied":
            use.denied += 1
        classes = set(self.classifier.classes(e.server, e.tool, e.args))
        use.classes |= classes
        secret = False
        for r in e.resources:
            seen = a.resources.get(r)
            if seen is None:
                if len(a.resources) >= MAX_RESOURCES:
                    a.resources_dropped += 1
                    continue
                seen = a.resources[r] = Seen()
            seen.add(t)
            if r.startswith(("file:", "vault:", "secret:")) and is_builtin_secret(r):
                secret = True
        if secret:
            use.secret_resource_calls += 1
            classes.add("read_secret")
        if a._prev is not None:
            a.transitions[(a._prev, key)] += 1
        a._prev = key
        if e.tenant:
            a.tenants.setdefault(e.tenant, Seen()).add(t)
        if e.data_domain:
            a.domains.setdefault(e.data_domain, Seen()).add(t)
        minute = int(t // 60)
        a.per_minute[minute] += 1
        a.minute_of_day[minute % 1440] += 1
        a.days.add(minute // 1440)
        for c in classes:
            a.class_calls[c] += 1
        if (e.agent_kind == "delegated" or e.sponsor) and a._sponsor_seen is not None:
            quiet = t - a._sponsor_seen
            a.sponsor_quiet_max = max(a.sponsor_quiet_max or 0.0, quiet)
        if e.outcome != "denied":  # a denied call advances no chain (as in the engine)
            self._pairs(a, classes, t, e.event_id)

    def _pairs(self, a: AgentTraffic, classes: set[str], t: float, event_id: str) -> None:
        a._n += 1
        for name, first, then in DANGEROUS_PAIRS:
            armed = a._armed.get(name)
            if then in classes and armed is not None:
                n0, t0, e0 = armed
                gap = a.pairs.setdefault(name, PairGap())
                span, secs = a._n - n0 + 1, t - t0
                gap.min_calls = span if gap.min_calls is None else min(gap.min_calls, span)
                gap.min_seconds = secs if gap.min_seconds is None else min(gap.min_seconds, secs)
                if span <= PATH_WITHIN_CALLS and secs <= PATH_WITHIN_SECONDS:
                    gap.within_window += 1
                    gap.example = gap.example or (e0, event_id)
            if first in classes:
                a._armed[name] = (a._n, t, event_id)

    def observe_all(self, events: Iterable[Any]) -> None:
        for e in events:
            self.observe(e)

    def total_calls(self) -> int:
        return sum(a.calls.count for a in self.agents.values())


# --------------------------------------------------------------------------- sources


class Progress:
    """``N lines  M events  x/s`` on a terminal, every half second; silent otherwise."""

    def __init__(self, stream: IO[str] | None, total_bytes: int | None = None) -> None:
        self.stream = stream if stream is not None and stream.isatty() else None
        self.total = total_bytes
        self.start = time.monotonic()
        self.next = 0.0

    def tick(self, lines: int, nbytes: int) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if now < self.next:
            return
        self.next = now + 0.5
        share = f" {100 * nbytes / self.total:5.1f}%" if self.total else ""
        rate = lines / (now - self.start) if now > self.start else 0.0
        self.stream.write(f"\rreading{share}  {lines:,} lines  {rate:,.0f} lines/s ")
        self.stream.flush()

    def done(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")


def file_lines(path: str) -> Iterator[bytes]:
    if path == "-":
        yield from sys.stdin.buffer
        return
    p = Path(path)
    if not p.is_file():
        raise MonitorError(f"events file not found: {path}")
    with p.open("rb") as f:
        yield from f


def observe_lines(
    lines: Iterable[bytes], observer: Observer, progress: IO[str] | None = None, size: int = 0
) -> Observer:
    """Decode and observe every line; undecodable ones are counted in ``observer.bad_lines``."""
    bar = Progress(progress, size or None)
    nbytes = 0
    for n, raw in enumerate(lines, 1):
        nbytes += len(raw)
        if not raw.strip():
            continue
        try:
            observer.observe(decode_event(raw))
        except DecodeError:
            observer.bad_lines += 1
        if n & 0x3FF == 0:
            bar.tick(n, nbytes)
    bar.done()
    return observer


def _bound(value: str | None) -> tuple[str, float] | None:
    """``--from/--to``: an integer offset, or an RFC 3339 time (record timestamp)."""
    if value is None:
        return None
    if value.lstrip("-").isdigit():
        return ("offset", float(value))
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MonitorError(
            f"--from/--to must be an offset (123) or an RFC 3339 time "
            f"(2026-03-02T08:00:00Z), got {value!r}"
        ) from None
    if dt.tzinfo is None:
        raise MonitorError(f"--from/--to time needs a UTC offset (Z or +00:00): {value!r}")
    return ("time", dt.timestamp())


def kafka_lines(
    bootstrap: str,
    topic: str,
    start: str | None = None,
    stop: str | None = None,
    idle: float = 10.0,
    timeout: float = 600.0,
) -> list[bytes]:
    """The values of ``topic`` with offset (or record time) in ``[start, stop]`` (inclusive).

    Reads every partition from the beginning up to its end offset at the start
    of the call (or the ``stop`` offset), with
    :func:`monitor.kafka_io.read_topics`; ``idle`` seconds without a new record
    end the read early (a safety net, not the normal stop). Records inside the
    range are returned in offset order per partition.
    """
    from monitor.kafka_io import end_offsets, read_topics

    lo, hi = _bound(start), _bound(stop)
    ends = asyncio.run(end_offsets(bootstrap, topic))
    if hi is not None and hi[0] == "offset":
        ends = {p: min(end, int(hi[1]) + 1) for p, end in ends.items()}
    want = {p: end - 1 for p, end in ends.items() if end > 0}

    def done(records: list[Any]) -> bool:
        top: dict[int, int] = {}
        for r in records:
            top[r.partition] = max(top.get(r.partition, -1), r.offset)
        return all(top.get(p, -1) >= last for p, last in want.items())

    records = (
        asyncio.run(read_topics(bootstrap, [topic], until=done, idle=idle, timeout=timeout))
        if want
        else []
    )

    def inside(r: Any) -> bool:
        for b, ok in ((lo, lambda v, x: v >= x), (hi, lambda v, x: v <= x)):
            if b is None:
                continue
            v = r.offset if b[0] == "offset" else r.timestamp / 1000.0
            if not ok(v, b[1]):
                return False
        return True

    kept = sorted((r for r in records if inside(r)), key=lambda r: (r.partition, r.offset))
    return [r.value for r in kept if r.value is not None]
