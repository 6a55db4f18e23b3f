"""Event time done right: reordering within the allowed lateness, late events flagged, clock skew.

- Events that arrive out of order but within ``allowed_lateness_seconds`` of the
  newest are held and applied in event-time order: the alerts are those of the
  sorted stream (a property over random streams and random delays).
- Events older than that are *late*: still judged (never dropped, so a late
  call cannot hide), counted, and flagged with a ``late_event`` alert.
- Clock skew between gateways: a call stamped a few seconds after ``task_ended``
  by a clock that runs ahead is not lingering; a real lingering call still is.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import testing as tb
from monitor.core import Engine, EngineSettings
from monitor.core.state import MAX_PENDING, AgentState
from monitor.errors import DecodeError
from monitor.events import encode_event
from monitor.replay import replay_lines

from .strategies import CHARTERS, event_streams

LATENESS = 120.0
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

A = "agent:assist/1"


def _charter(grace: float = 30, **limits: Any) -> Any:
    return tb.charter(
        "agent:assist/*",
        "delegated",
        tools=[{"server": "fs", "tool": "read_file", "classes": ["read"]}],
        # calls here carry no issued credential: static_credential has its own tests
        limits={"task_grace_seconds": grace, "require_jit_credentials": False, **limits},
    )


def _outputs(engine: Engine, events: list[Any]) -> tuple[list[str], list[str]]:
    alerts: list[str] = []
    commands: list[str] = []
    for d in [*(engine.process(ev) for ev in events), engine.drain()]:
        alerts += [a.to_json().decode() for a in d.alerts]
        commands += [c.to_json().decode() for c in d.revocations]
    return alerts, commands


def _arrival_order(events: list[Any], delays: list[float]) -> list[Any]:
    """Each event reaches the monitor ``delay`` seconds after its event time."""
    order = sorted(range(len(events)), key=lambda i: (events[i].ts.timestamp() + delays[i], i))
    return [events[i] for i in order]


def _detectors(d: Any) -> list[str]:
    return [a.detector for a in d.alerts]


# ------------------------------------------------------------------ within the lateness


@FAST
@given(event_streams(), st.data())
def test_out_of_order_within_the_lateness_gives_the_alerts_of_the_sorted_stream(
    events: list[Any], data: st.DataObject
) -> None:
    delays = data.draw(
        st.lists(
            st.floats(0, LATENESS - 1, allow_nan=False),
            min_size=len(events),
            max_size=len(events),
        )
    )
    arrived = _arrival_order(events, delays)
    in_order = sorted(events, key=lambda e: (e.ts.timestamp(), e.event_id))
    want = _outputs(Engine(CHARTERS), in_order)  # no lateness: applied as they come
    held = Engine(CHARTERS, EngineSettings(allowed_lateness_seconds=LATENESS))
    assert _outputs(held, arrived) == want
    assert held.counters().get("late_events", 0) == 0
    assert all(not s.pending for s in held.states.values())


def test_a_call_that_overtakes_its_task_end_is_still_lingering() -> None:
    """Two gateways: the call (stamped 40 s after the end) reaches Kafka before the end does."""
    eng = Engine([_charter()], EngineSettings(allowed_lateness_seconds=60))
    end = tb.task_ended(100, A, "T", "alice")
    call = tb.call(140, A, "fs", "read_file", task_id="T", sponsor="alice")
    d = tb.feed(eng, tb.task_started(0, A, "T", "alice"), call, end)
    d = d.merged(eng.drain())
    assert "lingering_access" in _detectors(d)
    assert eng.counters().get("late_events", 0) == 0


def test_held_events_wait_for_the_watermark_and_quiet_streams_release_them() -> None:
    eng = Engine([_charter()], EngineSettings(allowed_lateness_seconds=60))
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.task_ended(10, A, "T", "alice"))
    d = eng.process(tb.call(100, A, "fs", "read_file", task_id="T", sponsor="alice"))
    assert not d.alerts and len(eng.states[A].pending) == 1  # held: 100 > watermark 40
    d = eng.advance_watermark(tb.at(100).timestamp())  # the worker's idle tick: event time moves on
    assert _detectors(d) == ["lingering_access"] and not eng.states[A].pending


def test_held_events_survive_a_restart_in_the_agent_state() -> None:
    events = [
        tb.task_started(0, A, "T", "alice"),
        tb.task_ended(10, A, "T", "alice"),
        tb.call(50, A, "fs", "read_file", task_id="T", sponsor="alice"),
        tb.call(45, A, "github", "delete_repo", task_id="T", sponsor="alice"),
        tb.call(200, A, "fs", "read_file", task_id="T", sponsor="alice"),
    ]
    lateness = EngineSettings(allowed_lateness_seconds=100)
    want = _outputs(Engine([_charter()], lateness), events)
    first = Engine([_charter()], lateness)
    before = _outputs_no_drain(first, events[:4])
    assert first.states[A].pending  # something is held when the worker stops
    restored = {k: AgentState.restore(s.snapshot()) for k, s in first.states.items()}
    assert [p[:2] for p in restored[A].pending] == [p[:2] for p in first.states[A].pending]
    second = Engine([_charter()], lateness, restored)
    after = _outputs(second, events[4:])
    assert (before[0] + after[0], before[1] + after[1]) == want


def _outputs_no_drain(engine: Engine, events: list[Any]) -> tuple[list[str], list[str]]:
    alerts: list[str] = []
    commands: list[str] = []
    for ev in events:
        d = engine.process(ev)
        alerts += [a.to_json().decode() for a in d.alerts]
        commands += [c.to_json().decode() for c in d.revocations]
    return alerts, commands


def test_the_reorder_buffer_is_bounded_per_agent() -> None:
    eng = Engine([_charter()], EngineSettings(allowed_lateness_seconds=10_000))
    for i in range(MAX_PENDING * 3):
        eng.process(tb.call(i, A, "fs", "read_file", task_id="T", sponsor="alice"))
    assert len(eng.states[A].pending) == MAX_PENDING
    assert eng.counters()["held_overflow"] == MAX_PENDING * 2


def test_replay_with_lateness_drains_at_the_end_and_matches_the_sorted_file() -> None:
    events = [
        tb.task_started(0, A, "T", "alice"),
        tb.task_ended(10, A, "T", "alice"),
        tb.call(70, A, "fs", "read_file", task_id="T", sponsor="alice"),
        tb.call(60, A, "github", "delete_repo", task_id="T", sponsor="alice"),
    ]

    def run(evs: list[Any], lateness: float) -> bytes:
        out = {n: io.BytesIO() for n in "ard"}
        eng = Engine([_charter()], EngineSettings(allowed_lateness_seconds=lateness))
        replay_lines([encode_event(e) for e in evs], eng, out["a"], out["r"], out["d"])
        return out["a"].getvalue()

    in_order = sorted(events, key=lambda e: e.ts)
    assert run(events, 30) == run(in_order, 0)
    assert b"lingering_access" in run(events, 30)


# ------------------------------------------------------------------ beyond the lateness


def test_a_late_event_is_judged_counted_and_flagged() -> None:
    eng = Engine([_charter()], EngineSettings(allowed_lateness_seconds=10))
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.issued(1, A, "c1", 600, "T"))
    eng.process(tb.call(200, A, "fs", "read_file", task_id="T", sponsor="alice"))
    revoked = tb.revoked(100, A, "c1")  # 90 s behind the watermark (190)
    d = eng.process(revoked)
    [flag] = d.alerts
    assert flag.detector == "late_event" and flag.severity == "low"
    assert flag.evidence == [revoked.event_id]
    assert flag.details["seconds_behind_watermark"] == 90.0
    assert not d.revocations  # a flag, not a reason to revoke
    assert eng.counters()["late_events"] == 1
    # the late revocation was applied all the same: using the credential is caught
    d = tb.feed(eng, tb.call(300, A, "fs", "read_file", task_id="T", credential_id="c1"))
    assert "lingering_access" in _detectors(d.merged(eng.drain()))


def test_a_late_call_is_still_judged_so_lateness_cannot_hide_it() -> None:
    eng = Engine([_charter()], EngineSettings(allowed_lateness_seconds=5))
    eng.process(tb.call(1000, A, "fs", "read_file", task_id="T", sponsor="alice"))
    d = eng.process(tb.call(10, A, "github", "delete_repo", task_id="T", sponsor="alice"))
    assert set(_detectors(d)) == {"out_of_charter_tool", "late_event"}
    assert d.revocations  # the violation revokes as it would have in order


def test_late_flags_are_one_alert_per_agent_per_dedup_window_but_all_counted() -> None:
    eng = Engine([_charter()])  # lateness 0: anything older than the newest is late
    eng.process(tb.call(1000, A, "fs", "read_file", task_id="T", sponsor="alice"))
    flags = []
    for i in range(5):
        d = eng.process(tb.call(900 + i, A, "fs", "read_file", task_id="T", sponsor="alice"))
        flags += [a for a in d.alerts if a.detector == "late_event"]
    assert len(flags) == 1 and eng.counters()["late_events"] == 5


def test_a_restored_engine_keeps_its_event_time() -> None:
    """After a restart, an event the old engine would have called late is still late."""
    eng = Engine([_charter()], EngineSettings(allowed_lateness_seconds=10))
    eng.process(tb.call(1000, A, "fs", "read_file", task_id="T", sponsor="alice"))
    eng.drain()
    restored = {k: AgentState.restore(s.snapshot()) for k, s in eng.states.items()}
    again = Engine([_charter()], EngineSettings(allowed_lateness_seconds=10), restored)
    d = again.process(tb.call(500, A, "fs", "read_file", task_id="T", sponsor="alice"))
    assert "late_event" in _detectors(d)


def test_a_partly_written_restore_does_not_call_redelivered_events_late() -> None:
    """A crash mid-write: agent B's state was saved after its 100 s call, A's only before
    its 60 s call. Input resumes at A's 60 s call (the committed offset): it is on time."""
    b = "agent:assist/2"
    eng = Engine([_charter()])
    eng.process(tb.call(50, A, "fs", "read_file", task_id="T", sponsor="alice"))
    saved_a = AgentState.restore(eng.states[A].snapshot())
    eng.process(tb.call(60, A, "fs", "read_file", task_id="T", sponsor="alice", event_id="a60"))
    eng.process(tb.call(100, b, "fs", "read_file", task_id="U", sponsor="bob", event_id="b100"))
    restored = {A: saved_a, b: AgentState.restore(eng.states[b].snapshot())}
    again = Engine([_charter()], EngineSettings(), restored)
    d = again.process(
        tb.call(60, A, "fs", "read_file", task_id="T", sponsor="alice", event_id="a60")
    )
    assert "late_event" not in _detectors(d) and again.counters().get("late_events", 0) == 0
    redelivered = tb.call(100, b, "fs", "read_file", task_id="U", sponsor="bob", event_id="b100")
    assert again.process(redelivered).duplicate  # B's state has it: dropped, not late


# ------------------------------------------------------------------ clock skew


def test_skew_does_not_make_a_valid_call_lingering_under_a_zero_grace() -> None:
    """Gateway B runs 3 s ahead: its call, made before the end, is stamped 3 s after it."""
    eng = Engine([_charter(grace=0)], EngineSettings(clock_skew_seconds=5))
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.task_ended(100, A, "T", "alice"))
    d = eng.process(tb.call(103, A, "fs", "read_file", task_id="T", sponsor="alice"))
    assert "lingering_access" not in _detectors(d)


def test_skew_does_not_hide_a_real_lingering_call() -> None:
    eng = Engine([_charter(grace=0)], EngineSettings(clock_skew_seconds=5))
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.task_ended(100, A, "T", "alice"))
    d = eng.process(tb.call(106, A, "fs", "read_file", task_id="T", sponsor="alice"))
    assert "lingering_access" in _detectors(d)


def test_skew_is_not_added_to_the_grace() -> None:
    """grace 30, skew 5: a call 31 s after the end lingers (grace + skew would hide it)."""
    eng = Engine([_charter(grace=30)], EngineSettings(clock_skew_seconds=5))
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.task_ended(100, A, "T", "alice"))
    assert not _detectors(eng.process(tb.call(129, A, "fs", "read_file", task_id="T")))
    d = eng.process(tb.call(131, A, "fs", "read_file", task_id="T"))
    assert "lingering_access" in _detectors(d)


def test_skew_after_sponsor_ended() -> None:
    eng = Engine([_charter(grace=0)], EngineSettings(clock_skew_seconds=5))
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.sponsor_ended(100, A, "alice"))
    d = eng.process(tb.call(103, A, "fs", "read_file", task_id="T", sponsor="alice"))
    assert "absent_sponsor" not in _detectors(d)
    d = eng.process(tb.call(110, A, "fs", "read_file", task_id="T", sponsor="alice"))
    assert "absent_sponsor" in _detectors(d)


def _two_gateways(lateness: float) -> tuple[Engine, list[str]]:
    """Gateway A (lifecycle) runs 4 s ahead of gateway B (tool calls); they interleave."""
    eng = Engine(
        [_charter(grace=30)],
        EngineSettings(clock_skew_seconds=5, allowed_lateness_seconds=lateness),
    )
    ahead, behind = 4.0, 0.0
    events = [
        tb.task_started(0 + ahead, A, "T", "alice"),
        tb.call(1 + behind, A, "fs", "read_file", task_id="T", sponsor="alice"),
        tb.task_ended(100 + ahead, A, "T", "alice"),
        tb.call(101 + behind, A, "fs", "read_file", task_id="T", sponsor="alice"),  # in grace
        tb.sponsor_active(150 + ahead, A, "bob"),  # A's clock pushes the watermark on
        tb.call(150 + behind, A, "fs", "read_file", task_id="T", sponsor="alice"),  # lingering
    ]
    found: list[str] = []
    for ev in events:
        found += _detectors(eng.process(ev))
    found += _detectors(eng.drain())
    return eng, found


def test_gateway_skew_within_the_lateness_is_handled_in_order() -> None:
    eng, found = _two_gateways(lateness=5)
    assert found.count("lingering_access") == 1
    assert "late_event" not in found and eng.counters().get("late_events", 0) == 0


def test_gateway_skew_beyond_the_lateness_is_flagged_but_hides_nothing() -> None:
    eng, found = _two_gateways(lateness=0)
    assert found.count("lingering_access") == 1  # the real one still fires
    assert "late_event" in found and eng.counters()["late_events"] >= 1


def test_late_event_alert_is_valid_json_with_a_reason() -> None:
    eng = Engine([_charter()])
    eng.process(tb.call(1000, A, "fs", "read_file", task_id="T", sponsor="alice"))
    d = eng.process(tb.task_ended(10, A, "T", "alice"))
    [flag] = [a for a in d.alerts if a.detector == "late_event"]
    doc = orjson.loads(flag.to_json())
    assert "behind the event-time watermark" in doc["reason"]
    assert doc["details"]["event_type"] == "task_ended"


# ------------------------------------------------------------------ ts far ahead (issue 13)


def _stamped(event: Any, when: datetime) -> Any:
    return event.model_copy(update={"ts": when})


def test_a_forged_future_ts_does_not_make_every_later_event_late() -> None:
    """One event stamped 2199 is refused; the held and later events keep their order."""
    eng = Engine([_charter()], EngineSettings(allowed_lateness_seconds=30, max_future_seconds=300))
    eng.clock = tb.at(60).timestamp()  # the judging process's clock
    start = tb.task_started(0, A, "T", "alice")
    held = tb.call(10, A, "fs", "read_file", task_id="T", sponsor="alice")
    tb.feed(eng, start, held)
    forged = _stamped(
        tb.call(20, "agent:assist/9", "fs", "read_file"), datetime(2199, 1, 1, tzinfo=UTC)
    )
    with pytest.raises(DecodeError, match="ahead of the judging clock"):
        eng.process(forged)
    # both still held: the forged time released nothing
    assert [p[1] for p in eng.states[A].pending] == [start.event_id, held.event_id]
    d = tb.feed(eng, tb.call(50, A, "fs", "read_file", task_id="T", sponsor="alice"))
    d = d.merged(eng.drain())
    assert "late_event" not in _detectors(d)
    assert eng.counters()["future_events"] == 1 and eng.counters().get("late_events", 0) == 0


def test_without_the_bound_one_future_ts_makes_later_events_late() -> None:
    """What the bound prevents (max_future_seconds=0 turns it off)."""
    eng = Engine([_charter()], EngineSettings(max_future_seconds=0))
    eng.clock = tb.at(60).timestamp()
    eng.process(tb.call(0, A, "fs", "read_file", task_id="T", sponsor="alice"))
    eng.process(_stamped(tb.call(1, A, "fs", "read_file"), datetime(2199, 1, 1, tzinfo=UTC)))
    d = eng.process(tb.call(2, "agent:assist/2", "fs", "read_file", task_id="U", sponsor="bob"))
    assert "late_event" in _detectors(d)


def test_a_restored_engine_after_an_outage_takes_the_events_that_follow_it() -> None:
    """Two days down: the first events after the restart are two days ahead of the state's
    event time, and real. Bounded by the judging clock, none is refused (a bound measured
    from the newest event time refused every event after a silence longer than itself)."""
    b = "agent:assist/2"
    eng = Engine([_charter()], EngineSettings(max_future_seconds=300))
    eng.clock = tb.at(3600).timestamp()
    eng.process(tb.call(0, A, "fs", "read_file", task_id="T", sponsor="alice"))
    eng.process(tb.call(3600, b, "fs", "read_file", task_id="U", sponsor="bob"))
    restored = {k: AgentState.restore(s.snapshot()) for k, s in eng.states.items()}
    again = Engine([_charter()], EngineSettings(max_future_seconds=300), restored)
    again.clock = tb.at(50 * 3600).timestamp()  # back up two days later
    again.process(tb.call(49 * 3600, b, "fs", "read_file", task_id="U", sponsor="bob"))
    again.process(tb.call(50 * 3600 + 299, A, "fs", "read_file", task_id="T", sponsor="alice"))
    assert again.counters().get("future_events", 0) == 0
    with pytest.raises(DecodeError):  # past the clock by more than the bound
        again.process(tb.call(50 * 3600 + 301, b, "fs", "read_file", task_id="U", sponsor="bob"))


def test_replay_dead_letters_a_future_ts_with_its_line_and_reason() -> None:
    events = [
        tb.call(0, A, "fs", "read_file", task_id="T", sponsor="alice"),
        _stamped(tb.call(1, A, "fs", "read_file"), datetime(2199, 1, 1, tzinfo=UTC)),
        tb.call(2, A, "fs", "read_file", task_id="T", sponsor="alice"),
    ]
    out = {n: io.BytesIO() for n in "ard"}
    eng = Engine([_charter()], EngineSettings(max_future_seconds=300))  # replay sets the clock
    s = replay_lines([encode_event(e) for e in events], eng, out["a"], out["r"], out["d"])
    [dead] = [orjson.loads(x) for x in out["d"].getvalue().splitlines()]
    assert dead["line"] == 2 and dead["field"] == "ts"
    assert "ahead of the judging clock" in dead["reason"]
    assert s.events == 2 and s.bad_lines == 1
    assert b"late_event" not in out["a"].getvalue()
