"""Who the simulated agents are: identities, charters and scenario anchors, decided up front."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

from monitor.charter import Charter
from monitor.sim.charters import (
    _with_hours,
    coding_charter,
    etl_charter,
    monitor_charter,
    patcher_charter,
    support_charter,
)
from monitor.sim.scenarios import (
    _BEHAVIOUR,
    _PACE,
    BEHAVIOUR_MIN_MINUTES,
    WARMUP_MARGIN,
    Scenario,
    behaviour_carriers,
    carrier_count,
    scenarios_for,
)
from monitor.sim.vocab import (
    _ARCHETYPES,
    _DOMAINS,
    _FIRST,
    _LAST,
    _WEIGHTS,
    CODING_PATTERN,
    DEFAULT_START,
    LEAD_MS,
    MONITOR_PATTERN,
    PATCHER_PATTERN,
    SUPPORT_PATTERN,
    TAIL_MS,
    _business_hours,
    _hhmm,
    _minute_floor,
    _ms,
)

# --------------------------------------------------------------------------- plan


@dataclass(slots=True)
class AgentPlan:
    """Who one simulated agent is; decided up front so charters exist before any event."""

    index: int
    agent_id: str
    archetype: str
    seed: int
    charter: Charter
    sponsor: str | None = None
    domains: tuple[str, ...] = ()
    scenario: Scenario | None = None
    anchor_ms: int | None = None
    first_ms: int = 0


@dataclass(slots=True)
class Plan:
    agents: list[AgentPlan]
    charters: list[Charter]
    start_ms: int
    end_ms: int


def plan(
    agents: int, minutes: float, seed: int, start: datetime = DEFAULT_START, attacks: bool = True
) -> Plan:
    """Decide the agents, their charters and scenario anchors (cheap; no events yet)."""
    if agents < 1:
        raise ValueError(f"agents must be at least 1, got {agents}")
    if not minutes > 0 or math.isinf(minutes):
        raise ValueError(f"minutes must be a positive number, got {minutes}")
    rng = random.Random(seed)
    start_ms = _ms(start)
    end_ms = start_ms + round(minutes * 60_000)
    cycle = scenarios_for(attacks)
    n_carriers = carrier_count(agents, len(cycle))
    carriers = {k * agents // n_carriers: cycle[k % len(cycle)] for k in range(n_carriers)}
    if attacks and minutes >= BEHAVIOUR_MIN_MINUTES:
        carriers.update(behaviour_carriers(agents, carriers))
    hours = _business_hours(start_ms, end_ms)
    fleet = {
        "coding": coding_charter(CODING_PATTERN, hours),
        "support": support_charter(SUPPORT_PATTERN, hours),
        "patcher": patcher_charter(PATCHER_PATTERN),
        "monitor": monitor_charter(MONITOR_PATTERN),
    }
    numbers: dict[str, int] = {}
    used_fleets: set[str] = set()
    exact: list[Charter] = []
    out: list[AgentPlan] = []
    for i in range(agents):
        scenario = carriers.get(i)
        archetype = scenario.archetype if scenario else rng.choices(_ARCHETYPES, _WEIGHTS)[0]
        numbers[archetype] = n = numbers.get(archetype, 0) + 1
        if archetype == "coding":
            agent_id = f"coding-assistant-{n:03d}"
        elif archetype == "support":
            agent_id = f"support-mail-{n:03d}"
        else:
            agent_id = f"spiffe://corp/agents/{archetype}-{n}"
        p = AgentPlan(
            i, agent_id, archetype, rng.getrandbits(64), fleet.get(archetype, fleet["coding"])
        )
        if archetype in ("coding", "support"):
            p.sponsor = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}@corp.example"
        if archetype == "etl":
            p.domains = tuple(rng.sample(_DOMAINS, rng.choice((1, 1, 2))))
            p.charter = etl_charter(agent_id, p.domains, "enforce" if n % 2 else "observe")
            exact.append(p.charter)
        p.first_ms = start_ms + rng.randint(0, 90_000)
        if scenario is not None:
            _place(p, scenario, rng, start_ms, end_ms)
        if (
            p.scenario is not None
            and p.anchor_ms is not None
            and p.scenario.name == "off_hours_call"
        ):
            # Its own charter: a shift that ends just before the anchor.
            shift_end = _minute_floor(p.anchor_ms)
            shift_start = _minute_floor(max(start_ms, shift_end - 20 * 3_600_000))
            p.first_ms = max(p.first_ms, shift_start)
            shift = f"{_hhmm(shift_start)}-{_hhmm(shift_end)}"
            p.charter = _with_hours(fleet["support"], agent_id, shift)
            exact.append(p.charter)
        elif archetype != "etl":
            used_fleets.add(archetype)
        out.append(p)
    charters = [fleet[a] for a in ("coding", "support", "patcher", "monitor") if a in used_fleets]
    return Plan(out, charters + exact, start_ms, end_ms)


def _place(
    p: AgentPlan, scenario: Scenario, rng: random.Random, start_ms: int, end_ms: int
) -> None:
    """Draw the scenario's anchor so its script fits; leave the agent plain if it cannot."""
    hi = end_ms - round(scenario.minutes * 60_000) - TAIL_MS
    lo = start_ms + LEAD_MS
    if scenario.detector == _BEHAVIOUR:  # after the baseline's warm-up, at the archetype's pace
        warmup = p.charter.baseline.warmup_events + WARMUP_MARGIN
        lo += round(warmup / _PACE[scenario.archetype] * 60_000)
        if hi < lo:
            return
    if hi < lo:
        if scenario.name == "off_hours_call":
            return  # its shift needs some minutes of background before the anchor
        lo = start_ms + 5_000
        if hi < lo:
            return
    p.scenario = scenario
    p.anchor_ms = rng.randint(lo, hi)
