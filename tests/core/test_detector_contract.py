"""Shared property checks that every detector, through the engine, must pass.

Like river's estimator checks: deterministic, input not mutated, state
round-trips through bytes mid-stream, scores finite and in range, replay equals
streaming, and re-delivered events change nothing (same command_ids).
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings

from monitor.core import Engine, EngineSettings
from monitor.core.detectors import REGISTRY
from monitor.core.state import AgentState

from .strategies import CHARTERS, event_streams

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(events: list[Any], engine: Engine | None = None) -> tuple[list[str], list[str], Engine]:
    eng = engine or Engine(CHARTERS)
    alerts, commands = [], []
    for ev in events:
        d = eng.process(ev)
        alerts += [a.to_json().decode() for a in d.alerts]
        commands += [c.to_json().decode() for c in d.revocations]
    return alerts, commands, eng


def test_every_registered_detector_is_enabled_by_default() -> None:
    assert {d.name for d in Engine(CHARTERS).detectors} == set(REGISTRY)
    assert set(REGISTRY) >= {
        "out_of_charter_tool",
        "forbidden_chain",
        "lingering_access",
        "absent_sponsor",
        "rate_limit",
    }


@FAST
@given(event_streams())
def test_deterministic(events: list[Any]) -> None:
    assert _run(events)[:2] == _run(events)[:2]


@FAST
@given(event_streams())
def test_input_not_mutated(events: list[Any]) -> None:
    before = [e.model_dump() for e in events]
    _run(events)
    assert [e.model_dump() for e in events] == before


@FAST
@given(event_streams(), event_streams())
def test_state_round_trips_mid_stream(first: list[Any], second: list[Any]) -> None:
    """Snapshot every agent after the first part, restore into a fresh engine: same outputs."""
    _, _, eng = _run(first)
    states = {k: AgentState.restore(s.snapshot()) for k, s in eng.states.items()}
    assert all(states[k].snapshot() == s.snapshot() for k, s in eng.states.items())
    fresh = Engine(CHARTERS, states=states)
    fresh.max_ts = eng.max_ts
    assert _run(second, fresh)[:2] == _run(second, eng)[:2]


@FAST
@given(event_streams())
def test_scores_finite_and_alerts_explained(events: list[Any]) -> None:
    eng = Engine(CHARTERS)
    ids = {e.event_id for e in events}
    for ev in events:
        d = eng.process(ev)
        for a in d.alerts:
            assert math.isfinite(a.score) and 0 <= a.score <= 1
            assert a.reason and a.evidence and set(a.evidence) <= ids
            assert a.clause.key and a.frameworks.owasp_agentic and a.frameworks.nist_ai_rmf
        for c in d.revocations:
            assert c.reason
            assert c.mode in ("enforce", "observe")


@FAST
@given(event_streams(), event_streams())
def test_redelivery_changes_nothing(events: list[Any], extra: list[Any]) -> None:
    """Re-delivering already-processed events yields no output and same command ids later."""
    alerts, commands, eng = _run(events)
    again_a, again_c, _ = _run(events[: len(events) // 2 + 1], eng)
    assert again_a == [] and again_c == []
    # and a fresh run over a stream with duplicates interleaved gives the same outputs
    doubled = [e for ev in events for e in (ev, ev)]
    assert _run(doubled)[:2] == (alerts, commands)


@FAST
@given(event_streams())
def test_state_stays_bounded(events: list[Any]) -> None:
    eng = _run(events * 3)[2]  # repeats are duplicates; still bounded
    for st in eng.states.values():
        assert len(st.snapshot()) <= 16 * 1024


def test_settings_choose_detectors() -> None:
    eng = Engine(CHARTERS, EngineSettings(detectors=("rate_limit",)))
    assert [d.name for d in eng.detectors] == ["rate_limit"]
