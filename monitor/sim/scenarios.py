"""The planted scenarios: rule attacks, near-misses and behaviour-only attacks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True, slots=True)
class Scenario:
    """One injected violation or benign near-miss, played by one agent.

    ``detector`` is the detector that must alert (attack), or that the
    near-miss sits next to and must leave silent; ``minutes`` bounds the
    script's length (for placing it inside the run).
    """

    name: str
    label: str  # "attack" | "near_miss"
    archetype: str
    detector: str
    severity: str | None
    minutes: float


def _attack(name: str, archetype: str, detector: str, severity: str, minutes: float) -> Scenario:
    return Scenario(name, "attack", archetype, detector, severity, minutes)


def _near(name: str, archetype: str, detector: str, minutes: float) -> Scenario:
    return Scenario(name, "near_miss", archetype, detector, None, minutes)


_OOC, _CHAIN, _LINGER, _SPONSOR, _RATE = (
    "out_of_charter_tool",
    "forbidden_chain",
    "lingering_access",
    "absent_sponsor",
    "rate_limit",
)

SCENARIOS: tuple[Scenario, ...] = (
    # attacks, round-robin over the detectors
    _attack("ungranted_tool", "coding", _OOC, "high", 4),
    _attack("exfiltration", "coding", _CHAIN, "critical", 4),
    _attack("call_after_task_end", "coding", _LINGER, "high", 5),
    _attack("sponsor_ended_then_call", "coding", _SPONSOR, "high", 5),
    _attack("rate_burst", "monitor", _RATE, "medium", 3),
    _attack("foreign_tenant", "support", _OOC, "high", 4),
    _attack("untrusted_exec", "patcher", _CHAIN, "critical", 4),
    _attack("revoked_credential_use", "coding", _LINGER, "critical", 5),
    _attack("sponsor_quiet", "support", _SPONSOR, "high", 13),
    _attack("foreign_data_domain", "etl", _OOC, "high", 4),
    _attack("privilege_escalation", "etl", _CHAIN, "critical", 4),
    _attack("expired_credential_use", "patcher", _LINGER, "high", 8),
    _attack("resource_outside_charter", "coding", _OOC, "high", 4),
    _attack("ttl_above_max", "etl", _LINGER, "high", 4),
    _attack("off_hours_call", "support", _OOC, "medium", 3),
    _attack("credential_for_ended_task", "coding", _LINGER, "high", 5),
    _attack("gateway_denied_tool", "support", _OOC, "medium", 4),
    # benign near-misses
    _near("call_within_task_grace", "coding", _LINGER, 5),
    _near("chain_outside_within_calls", "coding", _CHAIN, 6),
    _near("sponsor_back_before_quiet", "support", _SPONSOR, 13),
    _near("rate_at_limit", "monitor", _RATE, 3),
    _near("ttl_at_max", "etl", _LINGER, 4),
    _near("call_just_before_expiry", "patcher", _LINGER, 8),
    _near("call_just_before_task_end", "coding", _LINGER, 4),
    _near("chain_outside_within_seconds", "coding", _CHAIN, 13),
    _near("sponsor_left_within_grace", "coding", _SPONSOR, 5),
)

_BEHAVIOUR = "behaviour_anomaly"

#: Behaviour-only attacks: every call is granted and inside the charter (no rule may fire),
#: but the agent acts unlike its own past. Planted only in runs of at least
#: :data:`BEHAVIOUR_MIN_MINUTES` (a carrier first needs its baseline's warm-up of benign calls).
BEHAVIOUR_SCENARIOS: tuple[Scenario, ...] = (
    _attack("exfil_new_recipient", "support", _BEHAVIOUR, "medium", 5),
    _attack("exfil_new_host", "patcher", _BEHAVIOUR, "medium", 4),
    _attack("unusual_tool_chain", "patcher", _BEHAVIOUR, "medium", 4),
    _attack("quiet_burst", "monitor", _BEHAVIOUR, "medium", 3),
    _attack("repo_sweep", "coding", _BEHAVIOUR, "medium", 4),
    _attack("bulk_export", "etl", _BEHAVIOUR, "medium", 4),
)
BEHAVIOUR_MIN_MINUTES = 120
BEHAVIOUR_SHARE = 0.25  # of the agents a rule scenario left free
#: Benign calls a behaviour carrier makes beyond its charter's warm-up before the attack.
WARMUP_MARGIN = 20
#: Calls per minute each archetype makes at least (measured ~0.85-2.5): where warm-up ends.
_PACE = {"coding": 1.5, "support": 0.8, "patcher": 1.8, "etl": 2.0, "monitor": 2.3}

SCENARIO_BY_NAME: dict[str, Scenario] = {s.name: s for s in (*SCENARIOS, *BEHAVIOUR_SCENARIOS)}


def scenarios_for(attacks: bool) -> tuple[Scenario, ...]:
    """The scenario cycle: all of them, or only the near-misses when ``attacks`` is off."""
    return SCENARIOS if attacks else tuple(s for s in SCENARIOS if s.label == "near_miss")


def behaviour_carriers(agents: int, taken: Iterable[int]) -> dict[int, Scenario]:
    """Agent index -> behaviour scenario, for a share of the agents no rule scenario took."""
    busy = set(taken)
    free = [i for i in range(agents) if i not in busy]
    n = min(len(free), max(len(BEHAVIOUR_SCENARIOS), round(agents * BEHAVIOUR_SHARE)))
    return {
        free[k * len(free) // n]: BEHAVIOUR_SCENARIOS[k % len(BEHAVIOUR_SCENARIOS)]
        for k in range(n)
    }


def carrier_count(agents: int, n_scenarios: int) -> int:
    """About a third of the agents, but enough that every scenario shows once N >= 2 × S."""
    if n_scenarios == 0:
        return 0
    return min(agents, max(round(agents / 3), min(n_scenarios, agents // 2)))
