"""Shared property checks that every detector, through the engine, must pass.

Like river's estimator checks: deterministic, input not mutated, state
round-trips through bytes mid-stream (and per detector: its own section only,
through its own dump/load), scores finite and in range, replay equals
streaming, and re-delivered events change nothing (same command_ids).
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from monitor.core import Engine, EngineSettings
from monitor.core.detectors import REGISTRY, Detector
from monitor.core.detectors.base import register
from monitor.core.state import CODECS, AgentState, load_section

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


ONE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ONE
@given(event_streams(), event_streams())
def test_each_detector_owns_its_section_and_it_round_trips_mid_stream(
    first: list[Any], second: list[Any]
) -> None:
    """Per detector, alone: it writes only its own section (none if it declares none), the
    section goes through its dump_state / load_state unchanged, and an engine restored
    mid-stream from the snapshots raises what the running one does."""
    for name, cls in REGISTRY.items():
        only = EngineSettings(detectors=(name,))
        _, _, eng = _run(first, Engine(CHARTERS, only))
        for st in eng.states.values():
            assert set(st.sections) <= ({cls.section} if cls.section else set()), name
            for value in st.sections.values():
                data = orjson.loads(orjson.dumps(cls.dump_state(value)))
                assert orjson.dumps(cls.dump_state(cls.load_state(data))) == orjson.dumps(data)
        states = {k: AgentState.restore(s.snapshot()) for k, s in eng.states.items()}
        fresh = Engine(CHARTERS, only, states=states)
        fresh.max_ts = eng.max_ts
        assert _run(second, fresh)[:2] == _run(second, eng)[:2], name


def test_every_stateful_detector_registers_a_codec_and_garbage_is_a_value_error() -> None:
    stateful = {cls.section: cls for cls in REGISTRY.values() if cls.section}
    assert set(stateful) == set(CODECS)  # and no section without its detector
    for section in stateful:
        for bad in (None, 7, "x", [None], {"k": None}):
            with pytest.raises(ValueError, match=section):
                load_section(section, bad)
    for cls in REGISTRY.values():
        if cls.section is None:  # one with no state takes none back
            with pytest.raises(ValueError, match="no per-agent state"):
                cls.load_state([])


def test_a_section_needs_a_load_state_and_a_name_of_its_own() -> None:
    class NoLoad(Detector):
        name = "test_no_load"
        section = "test_no_load"

    class Taken(Detector):
        name = "test_taken"
        section = "rate_limit"

        @classmethod
        def load_state(cls, data: Any) -> Any:
            return data

    for cls in (NoLoad, Taken):
        with pytest.raises(ValueError, match="section"):
            register(cls)
        assert cls.name not in REGISTRY
