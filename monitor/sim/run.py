"""Running a plan: events in time order, labels collected as they are produced."""

from __future__ import annotations

import heapq
import inspect
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.charter import Charter
from monitor.sim.agent import SCRIPTS, _Agent, _Item
from monitor.sim.coding import _Coding
from monitor.sim.etl import _Etl
from monitor.sim.monitoring import _Monitor
from monitor.sim.patcher import _Patcher
from monitor.sim.plan import Plan, plan
from monitor.sim.scenarios import SCENARIO_BY_NAME, Scenario
from monitor.sim.support import _Support
from monitor.sim.vocab import DEFAULT_START, EVENTS_PER_AGENT_MINUTE

_CLASSES: dict[str, type[_Agent]] = {
    "coding": _Coding,
    "support": _Support,
    "patcher": _Patcher,
    "etl": _Etl,
    "monitor": _Monitor,
}


def describe(scenario: Scenario | str) -> str:
    """What a scenario does, in one line (the docstring of its script)."""
    s = SCENARIO_BY_NAME[scenario] if isinstance(scenario, str) else scenario
    doc = inspect.getdoc(SCRIPTS[s.name]) or ""
    return doc.splitlines()[0] if doc else s.name


# --------------------------------------------------------------------------- public API


@dataclass(slots=True)
class Simulation:
    """A finished simulation held in memory."""

    charters: list[Charter]
    events: list[dict[str, Any]]
    labels: list[dict[str, Any]]


@dataclass(slots=True)
class SimulationStream:
    """A simulation whose events are produced lazily, for runs too big to hold.

    ``charters`` are known up front; iterating yields the events in time order
    and collects the labels as their events are produced, so :meth:`sorted_labels`
    is complete once iteration has ended.
    """

    plan: Plan
    _labels: list[_Item] = field(default_factory=list)

    @property
    def charters(self) -> list[Charter]:
        return self.plan.charters

    def sorted_labels(self) -> list[dict[str, Any]]:
        """Labels in event order (the order of ``labels.jsonl``)."""
        return [x[3] for x in sorted(self._labels, key=lambda x: x[:3])]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        p, labels = self.plan, self._labels
        labels.clear()
        runs = [_CLASSES[a.archetype](a, p.start_ms, p.end_ms, labels).run() for a in p.agents]
        for item in heapq.merge(*runs, key=lambda x: x[:3]):
            yield item[3]


def stream(
    agents: int, minutes: float, seed: int, start: datetime = DEFAULT_START, attacks: bool = True
) -> SimulationStream:
    """Plan a simulation whose events are generated on iteration (memory stays flat)."""
    return SimulationStream(plan(agents, minutes, seed, start, attacks))


def iter_events(
    agents: int, minutes: float, seed: int, start: datetime = DEFAULT_START, attacks: bool = True
) -> Iterator[dict[str, Any]]:
    """The events of :func:`simulate`, one at a time, in the same order."""
    return iter(stream(agents, minutes, seed, start, attacks))


def simulate(
    agents: int, minutes: float, seed: int, start: datetime = DEFAULT_START, attacks: bool = True
) -> Simulation:
    """Simulate ``agents`` agents for ``minutes`` minutes of event time from ``start``.

    >>> sim = simulate(agents=6, minutes=10, seed=1)
    >>> sim.events[0]["ts"] <= sim.events[-1]["ts"]
    True
    """
    s = stream(agents, minutes, seed, start, attacks)
    events = list(s)
    return Simulation(s.charters, events, s.sorted_labels())


def size_for_events(n_events: int, minutes: float = 600.0) -> tuple[int, float]:
    """``(agents, minutes)`` that yield about ``n_events`` events or a few more (benchmarks).

    Ten hours from the default 08:00 start stay inside the charters' business
    hours; take exactly ``n_events`` with ``itertools.islice``.
    """
    agents = max(1, math.ceil(n_events / (EVENTS_PER_AGENT_MINUTE * minutes)))
    return agents, minutes
