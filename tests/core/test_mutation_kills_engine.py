"""The Engine (monitor/core/engine.py) pinned behaviour by behaviour, through its public API.

Written to kill the mutants ``make mutate`` left in the engine (results/mutation.md).
The Hypothesis suites (test_event_time.py, test_detector_contract.py, test_ids.py)
cover much of this but do not run in mutation testing (~40 s a mutant), so the
event-time rules (holding, release order, late events, overflow, restore) are
checked here on small hand-made timelines with exact outcomes: the alerts and
commands, the counters and the state left behind.
"""

from __future__ import annotations

from typing import Any

import pytest

from monitor import testing as tb
from monitor.core import Decision, Engine, EngineSettings
from monitor.core.decision import finding_id
from monitor.core.detectors import REGISTRY
from monitor.core.detectors.behaviour import BehaviourAnomaly, baseline_of
from monitor.core.engine import DUPLICATE, NOTHING
from monitor.core.state import MAX_PENDING, MAX_PENDING_BYTES, AgentState, held_size
from monitor.errors import DecodeError
from monitor.events import CharterUpdated
from monitor.signing import parse_keyring, sign_charter

A = "agent:assist/1"
B = "agent:assist/2"
PATTERN = "agent:assist/*"
READ = {"server": "fs", "tool": "read_file", "classes": ["read"]}


def charter(grace: float = 30, **kw: Any) -> Any:
    return tb.charter(
        PATTERN,
        "delegated",
        tools=[READ],
        # calls here carry no issued credential: static_credential has its own tests
        limits={"task_grace_seconds": grace, "require_jit_credentials": False},
        **kw,
    )


def engine(lateness: float = 0.0, **kw: Any) -> Engine:
    return Engine([charter()], EngineSettings(allowed_lateness_seconds=lateness, **kw))


def read(sec: float, agent: str = A, **kw: Any) -> Any:
    kw.setdefault("task_id", "T")
    kw.setdefault("sponsor", "alice")
    return tb.call(sec, agent, "fs", "read_file", **kw)


def delete(sec: float, agent: str = A, **kw: Any) -> Any:
    """A call outside the charter: an out_of_charter_tool alert (high) and a revocation."""
    kw.setdefault("task_id", "T")
    kw.setdefault("sponsor", "alice")
    return tb.call(sec, agent, "github", "delete_repo", **kw)


def detectors(d: Decision) -> list[str]:
    return [a.detector for a in d.alerts]


# ---------------------------------------------------------------- Decision


def test_a_decision_is_true_when_it_has_an_alert_or_a_revocation() -> None:
    eng = engine()
    d = eng.process(delete(1))
    assert d.alerts and d.revocations
    assert bool(d)
    assert bool(Decision(alerts=d.alerts))
    assert bool(Decision(revocations=d.revocations))
    assert not Decision()
    assert not DUPLICATE and DUPLICATE.duplicate
    assert not NOTHING and not NOTHING.duplicate


def test_merging_decisions_keeps_both_in_order() -> None:
    eng = engine()
    first = eng.process(delete(1, event_id="d1"))
    second = eng.process(delete(2, agent=B, event_id="d2", task_id="U", sponsor="bob"))
    both = first.merged(second)
    assert list(both.alerts) == [*first.alerts, *second.alerts]
    assert list(both.revocations) == [*first.revocations, *second.revocations]
    assert first.merged(NOTHING) is first
    assert NOTHING.merged(second) is second
    only_alert = Decision(alerts=first.alerts)
    assert list(only_alert.merged(Decision(revocations=second.revocations)).revocations) == list(
        second.revocations
    )


# ---------------------------------------------------------------- settings and detectors


def test_unknown_detectors_are_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError) as err:
        Engine([], EngineSettings(detectors=("rate_limit", "nope", "also_nope")))
    msg = str(err.value)
    assert msg.startswith("unknown detectors ['nope', 'also_nope']; known: [")
    assert "'rate_limit'" in msg and "'lingering_access'" in msg


def test_only_the_detectors_named_run() -> None:
    eng = Engine([charter()], EngineSettings(detectors=("rate_limit",)))
    assert [d.name for d in eng.detectors] == ["rate_limit"]
    assert not eng.process(delete(1))  # out_of_charter is not running
    every = Engine([charter()])
    assert {d.name for d in every.detectors} >= {"out_of_charter_tool", "lingering_access"}


@pytest.mark.parametrize("skew", [0.0, 20.0])
def test_the_clock_skew_setting_reaches_the_detectors_that_use_it(skew: float) -> None:
    eng = engine(clock_skew_seconds=skew)
    for name in ("lingering_access", "absent_sponsor", "static_credential"):
        det = next(d for d in eng.detectors if d.name == name)
        assert det.skew == skew  # type: ignore[attr-defined]
    # a call 10 s after its task ended, grace 0: lingering unless the skew forgives it
    eng = Engine([charter(grace=0)], EngineSettings(clock_skew_seconds=skew))
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.task_ended(10, A, "T", "alice"))
    d = eng.process(read(20))
    assert ("lingering_access" in detectors(d)) == (skew < 10)


# ---------------------------------------------------------------- the future bound


def test_an_event_beyond_the_future_bound_is_refused_counted_and_not_applied() -> None:
    eng = engine()
    eng.clock = tb.at(0).timestamp()
    ev = delete(301, event_id="future")
    with pytest.raises(DecodeError) as err:
        eng.process(ev)
    assert err.value.field == "ts"
    assert err.value.reason == (
        f"ts: {ev.ts.isoformat()} is more than max_future_seconds=300 ahead of the judging "
        "clock, the ceiling of the event-time watermark: a gateway clock or a forged time"
    )
    assert eng.stats["future_events"] == 1
    assert A not in eng.states and eng.max_ts == float("-inf")
    # exactly at the bound is accepted and applied
    d = eng.process(delete(300, event_id="edge"))
    assert detectors(d) == ["out_of_charter_tool"]
    assert eng.stats["future_events"] == 1


def test_the_future_bound_is_measured_from_the_clock_and_zero_turns_it_off() -> None:
    eng = engine(max_future_seconds=10)
    eng.clock = tb.at(100).timestamp()
    with pytest.raises(DecodeError, match="max_future_seconds=10 "):
        eng.process(read(111))
    assert not eng.process(read(110, event_id="ok"))  # at the bound: applied
    assert eng.max_ts == tb.at(110).timestamp()
    off = engine(max_future_seconds=0)
    off.clock = tb.at(0).timestamp()
    off.process(read(10_000))
    assert off.max_ts == tb.at(10_000).timestamp() and not off.stats["future_events"]
    none = engine()  # no clock: no bound
    none.process(read(10_000))
    assert none.max_ts == tb.at(10_000).timestamp()


# ---------------------------------------------------------------- duplicates and dirty


def test_a_duplicate_is_dropped_counted_and_leaves_the_agent_clean() -> None:
    eng = engine()
    eng.process(read(1, event_id="x"))
    assert eng.dirty == {A}
    eng.dirty.clear()
    assert eng.process(read(1, event_id="x")) is DUPLICATE
    assert eng.stats["duplicates"] == 1 and eng.dirty == set()
    eng.process(read(2, agent=B, event_id="y", task_id="U", sponsor="bob"))
    assert eng.dirty == {B}


def test_counters_count_calls_and_every_other_event_by_type() -> None:
    eng = engine()
    tb.feed(
        eng,
        tb.task_started(0, A, "T", "alice"),
        read(1),
        read(2),
        delete(3),
        tb.task_ended(4, A, "T", "alice"),
    )
    c = eng.counters()
    assert c["events"] == 5 and c["tool_call"] == 3
    assert c["task_started"] == 1 and c["task_ended"] == 1
    assert c["alerts.out_of_charter_tool"] == 1
    assert c["revocations"] == 2  # the violation's, and the routine one at task end
    fresh = engine().counters()
    assert fresh == {"events": 0, "tool_call": 0}


def test_suppressed_alerts_are_counted() -> None:
    eng = engine()
    tb.feed(eng, delete(1), delete(2), delete(3))
    c = eng.counters()
    assert c["alerts.out_of_charter_tool"] == 1
    assert c["alerts_suppressed"] == 2


# ---------------------------------------------------------------- kind of agent


def test_the_agent_kind_comes_from_the_call_then_the_charter_then_the_state() -> None:
    eng = Engine([])  # no charter
    eng.process(tb.call(1, A, "s", "t", sponsor="alice"))
    assert eng.states[A].kind == "delegated"
    eng.process(tb.call(2, B, "s", "t"))
    assert eng.states[B].kind == "autonomous"
    # the state keeps the kind once known: a later call without a sponsor stays delegated
    eng.process(tb.call(3, A, "s", "t"))
    assert eng.states[A].kind == "delegated"
    # the call says so: that wins
    eng.process(tb.call(4, A, "s", "t", agent_kind="autonomous"))
    assert eng.states[A].kind == "autonomous"
    # a charter's kind wins over the state and the sponsor
    ch = Engine([tb.charter(PATTERN, "autonomous", tools=[READ])])
    ch.process(read(1))
    assert ch.states[A].kind == "autonomous"


def test_task_started_sets_the_kind_and_sees_the_sponsor() -> None:
    eng = engine()
    eng.process(tb.task_started(0, A, "T", "alice", agent_kind="autonomous"))
    st = eng.states[A]
    assert st.kind == "autonomous"
    assert st.sponsors["alice"][0] == tb.at(0).timestamp()
    assert st.tasks["T"][0] == tb.at(0).timestamp()
    eng.process(tb.task_started(1, B, "U"))
    assert eng.states[B].kind is None and eng.states[B].sponsors == {}


def test_a_call_opens_its_task_once() -> None:
    eng = engine()
    eng.process(read(5, task_id="T"))
    assert eng.states[A].tasks["T"][0] == tb.at(5).timestamp()
    eng.process(read(3, task_id="T"))  # late; the task keeps its first start
    assert eng.states[A].tasks["T"][0] == tb.at(5).timestamp()
    eng.process(read(6, task_id=None, sponsor=None))
    assert set(eng.states[A].tasks) == {"T"}


# ---------------------------------------------------------------- lifecycle events


def test_lifecycle_events_update_the_ledger() -> None:
    eng = engine()
    tb.feed(
        eng,
        tb.issued(1, A, "c1", 60, "T"),
        tb.revoked(2, A, "c1"),
        tb.sponsor_active(3, A, "bob"),
    )
    st = eng.states[A]
    assert st.creds["c1"][:3] == ["T", tb.at(1).timestamp(), tb.at(61).timestamp()]
    assert st.creds["c1"][3] == tb.at(2).timestamp()
    assert st.sponsors["bob"][0] == tb.at(3).timestamp()
    assert st.last_ts == tb.at(3).timestamp()


def test_sponsor_ended_keeps_the_earliest_end() -> None:
    eng = engine(lateness=0)
    eng.process(tb.sponsor_ended(10, A, "alice", event_id="end10"))
    st = eng.states[A]
    assert st.sponsors["alice"][1:] == [tb.at(10).timestamp(), "end10"]
    eng.process(tb.sponsor_ended(5, A, "alice", event_id="end5"))  # late, earlier: kept
    assert st.sponsors["alice"][1:] == [tb.at(5).timestamp(), "end5"]
    eng.process(tb.sponsor_ended(5, A, "alice", event_id="end5b"))  # same instant: first kept
    assert st.sponsors["alice"][1:] == [tb.at(5).timestamp(), "end5"]
    eng.process(tb.sponsor_ended(20, A, "alice", event_id="end20"))  # later: not an earlier end
    assert st.sponsors["alice"][1:] == [tb.at(5).timestamp(), "end5"]


def test_the_agent_clock_only_moves_forward() -> None:
    eng = engine()
    eng.process(read(10))
    eng.process(read(4))  # late
    assert eng.states[A].last_ts == tb.at(10).timestamp()


# ---------------------------------------------------------------- timers


def test_a_sponsor_ended_timer_fires_on_the_next_event_of_any_agent() -> None:
    eng = engine()
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.issued(1, A, "c1", 600, "T"))
    eng.process(tb.sponsor_ended(10, A, "alice", event_id="bye"))
    assert not eng.process(read(39, agent=B, task_id="U", sponsor="bob"))  # due at 40
    d = eng.process(read(40, agent=B, task_id="U", sponsor="bob"))
    assert [(r.scope, r.task_id, r.credential_ids) for r in d.revocations] == [
        ("task", "T", ["c1"])
    ]
    assert eng.stats["timers_fired"] == 1
    assert eng.states[A].timers == []
    assert A in eng.dirty


def test_timers_of_one_agent_fire_one_after_another() -> None:
    """After a timer fires, the agent's next one (set earlier, due later) still fires."""
    eng = engine()
    tb.feed(
        eng,
        tb.task_started(0, A, "T", "alice"),
        tb.task_started(0, A, "U", "bob"),
        tb.sponsor_ended(10, A, "alice"),
        tb.sponsor_ended(20, A, "bob"),
    )
    first = eng.advance_watermark(tb.at(45).timestamp())
    assert [r.task_id for r in first.revocations] == ["T"]
    second = eng.advance_watermark(tb.at(55).timestamp())
    assert [r.task_id for r in second.revocations] == ["U"]
    assert eng.stats["timers_fired"] == 2


def test_timers_due_at_once_fire_in_time_order_in_one_decision() -> None:
    eng = engine()
    tb.feed(
        eng,
        tb.task_started(0, A, "U", "bob"),
        tb.task_started(0, B, "T", "alice"),
        tb.sponsor_ended(20, A, "bob"),
        tb.sponsor_ended(10, B, "alice"),
    )
    d = eng.advance_watermark(tb.at(100).timestamp())
    assert [(r.agent_id, r.task_id) for r in d.revocations] == [(B, "T"), (A, "U")]


def test_a_timer_of_a_sponsor_who_came_back_fires_without_a_command() -> None:
    eng = engine()
    tb.feed(
        eng,
        tb.task_started(0, A, "T", "alice"),
        tb.sponsor_ended(10, A, "alice"),
        tb.sponsor_active(20, A, "alice"),
    )
    d = eng.advance_watermark(tb.at(100).timestamp())
    assert not d and eng.stats["timers_fired"] == 1


def test_a_timer_of_a_detector_not_running_is_skipped() -> None:
    eng = engine()
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.sponsor_ended(10, A, "alice"))
    states = {k: AgentState.restore(v.snapshot()) for k, v in eng.states.items()}
    without = Engine([charter()], EngineSettings(detectors=("out_of_charter_tool",)), states=states)
    assert not without.advance_watermark(tb.at(100).timestamp())
    assert without.stats["timers_fired"] == 0
    assert without.states[A].timers == []  # popped all the same


def test_a_timer_set_by_a_call_is_indexed() -> None:
    """static_credential sets a timer on a call with an unknown credential; it must fire."""
    eng = Engine(
        [tb.charter(PATTERN, "autonomous", tools=[READ], limits={"require_jit_credentials": True})]
    )
    assert not eng.process(read(0, credential_id="ghost", task_id=None, sponsor=None))
    assert eng.states[A].timers
    d = eng.advance_watermark(tb.at(60).timestamp())
    assert detectors(d) == ["static_credential"]


def test_a_second_call_timer_of_the_same_credential_is_not_set_again() -> None:
    eng = Engine(
        [tb.charter(PATTERN, "autonomous", tools=[READ], limits={"require_jit_credentials": True})]
    )
    eng.process(read(0, credential_id="ghost", task_id=None, sponsor=None))
    eng.process(read(1, credential_id="ghost", task_id=None, sponsor=None))
    assert len(eng.states[A].timers) == 1
    d = eng.advance_watermark(tb.at(60).timestamp())
    assert detectors(d) == ["static_credential"]


# ---------------------------------------------------------------- advance_watermark and drain


def test_advance_watermark_moves_event_time_by_the_lateness_and_never_back() -> None:
    eng = engine(lateness=60)
    eng.advance_watermark(tb.at(100).timestamp())
    assert eng.max_ts == tb.at(160).timestamp()
    assert eng.watermark == tb.at(100).timestamp()
    eng.advance_watermark(tb.at(50).timestamp())
    assert eng.max_ts == tb.at(160).timestamp()


def test_drain_with_nothing_held_is_nothing() -> None:
    eng = engine(lateness=60)
    assert eng.drain() is NOTHING
    eng.process(read(1))
    assert eng.states[A].pending
    eng.drain()
    assert not eng.states[A].pending and eng.drain() is NOTHING


def test_drain_applies_what_is_held_in_time_order() -> None:
    eng = engine(lateness=1000)
    tb.feed(
        eng,
        tb.task_started(0, A, "T", "alice"),
        read(50),  # arrives before the end it follows: held, then judged after it
        tb.task_ended(10, A, "T", "alice"),
    )
    assert not eng.states[A].tasks  # nothing applied yet
    d = eng.drain()
    assert detectors(d) == ["lingering_access"]
    assert eng.states[A].tasks["T"][1] == tb.at(10).timestamp()


# ---------------------------------------------------------------- holding within the lateness


def test_with_lateness_events_are_held_until_the_watermark_passes_them() -> None:
    eng = engine(lateness=60)
    d = eng.process(delete(100, event_id="d"))
    assert not d and [p[:2] for p in eng.states[A].pending] == [[tb.at(100).timestamp(), "d"]]
    assert eng.max_ts == tb.at(100).timestamp() and A in eng.dirty
    assert not eng.process(read(159, agent=B, task_id="U", sponsor="bob"))
    d = eng.process(read(160, agent=B, task_id="U", sponsor="bob"))  # watermark 100: released
    assert detectors(d) == ["out_of_charter_tool"] and not eng.states[A].pending


def test_held_events_are_applied_in_time_then_event_id_order() -> None:
    eng = engine(lateness=100)
    tb.feed(
        eng,
        tb.task_started(0, A, "T", "alice", event_id="s"),
        read(60, event_id="late-read"),  # after the end (grace 30), but arrives before it
        tb.task_ended(20, A, "T", "alice", event_id="end"),
    )
    d = eng.advance_watermark(tb.at(60).timestamp())
    [a] = d.alerts
    assert a.detector == "lingering_access" and "late-read" in a.evidence


def test_an_older_event_held_after_a_newer_one_is_still_applied_first() -> None:
    # in arrival order: the call (50) then the end (10): the end must be applied first
    eng = engine(lateness=100)
    eng.process(tb.task_started(0, A, "T", "alice"))
    eng.process(read(50))
    eng.process(tb.task_ended(10, A, "T", "alice"))
    d = eng.advance_watermark(tb.at(60).timestamp())
    assert detectors(d) == ["lingering_access"]


def test_a_timer_due_before_a_held_event_fires_before_it() -> None:
    """A sponsor leaves at 10 (timer at 40): a call at 50 held until then sees the task revoked."""
    eng = engine(lateness=100)
    tb.feed(
        eng,
        tb.task_started(0, A, "T", "alice"),
        tb.issued(1, A, "c1", 600, "T"),
        tb.sponsor_ended(10, A, "alice"),
        read(50, agent=B, task_id="U", sponsor="bob"),
    )
    d = eng.advance_watermark(tb.at(60).timestamp())
    assert [r.task_id for r in d.revocations] == ["T"]
    assert eng.stats["timers_fired"] == 1
    assert not eng.states[B].pending


def test_a_timer_due_between_held_events_fires_between_them() -> None:
    """The timer (40) fires when the watermark reaches 40, not only once every held event is in."""
    eng = engine(lateness=100)
    tb.feed(
        eng,
        tb.task_started(0, A, "T", "alice"),
        tb.issued(1, A, "c1", 600, "T"),
        tb.sponsor_ended(10, A, "alice"),
    )
    d = eng.advance_watermark(tb.at(35).timestamp())
    assert not d.revocations
    d = eng.advance_watermark(tb.at(45).timestamp())
    assert [r.task_id for r in d.revocations] == ["T"]


def test_a_late_event_with_lateness_is_applied_at_once_not_held() -> None:
    eng = engine(lateness=10)
    eng.process(read(200, agent=B, task_id="U", sponsor="bob"))
    d = eng.process(delete(100))  # watermark 190: 90 s behind
    assert detectors(d) == ["out_of_charter_tool", "late_event"]
    assert not eng.states[A].pending


def test_an_event_at_the_watermark_is_held_not_late() -> None:
    eng = engine(lateness=10)
    eng.process(read(200, agent=B, task_id="U", sponsor="bob"))
    d = eng.process(delete(190))  # exactly at the watermark
    assert "late_event" not in detectors(d)
    assert not eng.stats["late_events"]


def test_the_reorder_buffer_overflows_by_count_oldest_first() -> None:
    eng = engine(lateness=10_000)
    tb.feed(eng, *(read(i, event_id=f"r{i:03}") for i in range(MAX_PENDING)))
    assert len(eng.states[A].pending) == MAX_PENDING and not eng.stats["held_overflow"]
    d = eng.process(delete(5000, event_id="last"))
    assert not d  # the oldest (a read) is applied: nothing to say about it
    assert eng.stats["held_overflow"] == 1
    held = [p[1] for p in eng.states[A].pending]
    assert "r000" not in held and "r001" in held and "last" in held
    assert len(held) == MAX_PENDING
    # the oldest is chosen by time, not by arrival
    eng2 = engine(lateness=10_000)
    tb.feed(eng2, delete(1, event_id="old"), *(read(100 + i) for i in range(MAX_PENDING - 1)))
    d = eng2.process(read(50, event_id="mid"))
    assert detectors(d) == ["out_of_charter_tool"]  # "old" (1 s) judged early
    assert "mid" in [p[1] for p in eng2.states[A].pending]


def test_the_reorder_buffer_overflows_by_bytes() -> None:
    eng = engine(lateness=10_000)
    big = {"blob": "x" * (MAX_PENDING_BYTES // 3)}
    tb.feed(eng, delete(1, event_id="a", args=big), read(2, event_id="b", args=big))
    assert len(eng.states[A].pending) == 2 and not eng.stats["held_overflow"]
    d = eng.process(read(3, event_id="c", args=big))  # three of them are over the bytes
    assert detectors(d) == ["out_of_charter_tool"]  # the oldest, "a", is judged now
    assert [p[1] for p in eng.states[A].pending] == ["b", "c"]
    assert eng.stats["held_overflow"] == 1


def test_one_event_too_big_to_hold_is_applied_at_once() -> None:
    eng = engine(lateness=10_000)
    huge = {"blob": "x" * (MAX_PENDING_BYTES + 1)}
    d = eng.process(delete(1, event_id="huge", args=huge))
    assert detectors(d) == ["out_of_charter_tool"]
    assert eng.states[A].pending == [] and eng.stats["held_overflow"] == 1
    # one that fits is held
    eng.process(read(2, event_id="small"))
    assert [p[1] for p in eng.states[A].pending] == ["small"]
    assert eng.stats["held_overflow"] == 1


def test_an_event_judged_early_is_applied_once_not_again_at_release() -> None:
    eng = engine(lateness=10_000)
    tb.feed(eng, *(read(10 + i, event_id=f"r{i:03}") for i in range(MAX_PENDING)))
    assert eng.counters()["tool_call"] == 0
    tb.feed(eng, read(100, event_id="overflow"))  # r000 judged early
    assert eng.counters()["tool_call"] == 1
    eng.drain()
    assert eng.counters()["tool_call"] == MAX_PENDING + 1  # each applied exactly once
    assert eng.states[A].n_calls == MAX_PENDING + 1
    assert not eng.states[A].pending


# ---------------------------------------------------------------- late events


def test_a_late_event_is_flagged_with_how_far_behind_it_was() -> None:
    eng = engine(lateness=10)
    eng.process(read(200, agent=B, task_id="U", sponsor="bob"))
    eng.advance_watermark(tb.at(190).timestamp())
    ev = tb.revoked(99.5, A, "c1", event_id="rv")
    d = eng.process(ev)
    [flag] = d.alerts
    assert flag.detector == "late_event" and flag.severity == "low"
    assert flag.agent_id == A
    assert flag.evidence == ["rv"]
    assert flag.details == {
        "event_type": "credential_revoked",
        "seconds_behind_watermark": 90.5,
        "allowed_lateness_seconds": 10,
    }
    assert flag.reason == (
        "credential_revoked rv of agent:assist/1 arrived 90 s behind the event-time watermark "
        "(allowed lateness 10 s): judged out of order, so order-dependent checks (task end, "
        "chains, sponsor) may have missed or misjudged it; check the gateway's clock and the "
        "pipeline's delay"
    )
    assert flag.clause.key == "allowed_lateness_seconds"
    assert flag.clause.text == "events are judged in event-time order within 10 s of the newest"
    assert flag.credential_id == "c1"
    assert not d.revocations
    assert eng.stats["late_events"] == 1
    assert eng.stats["alerts.late_event"] == 1
    # applied all the same
    assert eng.states[A].creds["c1"][3] == tb.at(99.5).timestamp()


def test_a_late_call_keeps_its_sponsor_and_credential_in_the_flag() -> None:
    eng = engine()
    eng.process(read(100, agent=B, task_id="U", sponsor="bob"))
    d = eng.process(read(50, credential_id="c9", sponsor="carol"))
    [flag] = d.alerts
    assert flag.detector == "late_event"
    assert flag.details["seconds_behind_watermark"] == 50
    assert flag.details["allowed_lateness_seconds"] == 0
    assert flag.sponsor == "carol"


def test_an_event_at_the_newest_time_is_not_late() -> None:
    eng = engine()
    eng.process(read(100, agent=B, task_id="U", sponsor="bob"))
    assert not eng.process(read(100))
    assert not eng.stats["late_events"]


# ---------------------------------------------------------------- restore


def test_a_restored_engine_resumes_at_the_oldest_agent_clock_held_events_included() -> None:
    eng = engine(lateness=1000)
    eng.process(read(50))  # held by A
    eng.process(read(10, agent=B, task_id="U", sponsor="bob"))  # held by B
    states = {k: AgentState.restore(v.snapshot()) for k, v in eng.states.items()}
    again = Engine([charter()], EngineSettings(allowed_lateness_seconds=1000), states)
    # A's clock is -inf but it holds an event at 50; B holds one at 10: resume at 10
    assert again.max_ts == tb.at(10).timestamp()
    assert sorted(h[:3] for h in again._held) == [
        (tb.at(10).timestamp(), states[B].pending[0][1], B),
        (tb.at(50).timestamp(), states[A].pending[0][1], A),
    ]
    d = again.drain()
    assert again.n_calls == 2 and not d


def test_a_restored_engine_resumes_at_the_oldest_last_ts() -> None:
    eng = engine()
    eng.process(read(50))
    eng.process(read(100, agent=B, task_id="U", sponsor="bob"))
    states = {k: AgentState.restore(v.snapshot()) for k, v in eng.states.items()}
    again = Engine([charter()], states=states)
    assert again.max_ts == tb.at(50).timestamp()
    d = again.process(read(60, event_id="on-time"))
    assert not d and not again.stats["late_events"]
    d = again.process(read(40, event_id="late"))
    assert detectors(d) == ["late_event"]


def test_an_engine_without_states_starts_at_minus_infinity() -> None:
    eng = engine()
    assert eng.max_ts == float("-inf") and eng.watermark == float("-inf")
    eng = Engine([charter()], states={})
    assert eng.max_ts == float("-inf")


def test_rebuild_timers_indexes_every_agents_timers() -> None:
    eng = engine()
    tb.feed(
        eng,
        tb.task_started(0, A, "T", "alice"),
        tb.task_started(0, B, "U", "bob"),
        tb.sponsor_ended(10, A, "alice"),
        tb.sponsor_ended(12, B, "bob"),
    )
    states = {k: AgentState.restore(v.snapshot()) for k, v in eng.states.items()}
    again = Engine([charter()], states=states)
    d = again.advance_watermark(tb.at(100).timestamp())
    assert sorted(r.task_id for r in d.revocations) == ["T", "U"]


# ---------------------------------------------------------------- judge


def no_baseline(**kw: Any) -> Engine:
    """The detectors the inline proxy judges with (monitor/proxy/policy.py REFUSING), and the
    sponsor's: no behaviour baseline and no hijack detector (the two judge tests below cover those)."""
    names = ("out_of_charter_tool", "rate_limit", "forbidden_chain", "lingering_access")
    return Engine([charter()], EngineSettings(detectors=(*names, "absent_sponsor"), **kw))


def test_judge_finds_without_applying() -> None:
    eng = no_baseline()
    eng.process(read(1, event_id="r1"))
    before = eng.states[A].snapshot()
    counters = eng.counters()
    findings = eng.judge(delete(2, event_id="j"))
    assert [f.detector for f in findings] == ["out_of_charter_tool"]
    again = eng.judge(delete(2, event_id="j"))  # no dedup: found every time
    assert [f.detector for f in again] == ["out_of_charter_tool"]
    assert eng.states[A].snapshot() == before
    assert eng.counters() == counters
    assert eng.dirty == {A} and not eng._timers
    # the event id was not remembered: the same call is still applied
    d = eng.process(delete(2, event_id="j"))
    assert detectors(d) == ["out_of_charter_tool"]


def test_judge_sees_the_state_the_applied_events_left() -> None:
    eng = no_baseline()
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.task_ended(10, A, "T", "alice"))
    assert [f.detector for f in eng.judge(read(100))] == ["lingering_access"]
    assert [f.detector for f in eng.judge(read(100, agent=B))] == []


def test_judge_an_unknown_agent_creates_no_state() -> None:
    eng = engine()
    assert [f.detector for f in eng.judge(delete(2, agent=B))] == ["out_of_charter_tool"]
    assert B not in eng.states
    assert eng.judge(read(3, agent=B)) == []
    assert eng.counters() == {"events": 0, "tool_call": 0}


def test_a_judged_call_is_not_learnt_by_the_baseline() -> None:
    eng = engine()
    eng.judge(read(1, event_id="j1"))
    eng.process(read(2, event_id="p1"))
    base = baseline_of(eng.states[A])  # (p1 learned as it is read: the judged j1 never)
    assert base is not None and base.n_learned == 1


def test_a_learner_hears_after_the_decision_only_of_calls_with_findings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A quiet call is the learner's to learn unprompted (the baseline, at its next step);
    after_call gets every call some detector found something in, with the findings."""
    heard: list[tuple[str, list[str]]] = []
    real = BehaviourAnomaly.after_call

    def after_call(self: Any, ctx: Any, st: Any, findings: Any, alerts: Any) -> None:
        heard.append((ctx.call.event_id, [f.detector for f in findings]))
        real(self, ctx, st, findings, alerts)

    monkeypatch.setattr(BehaviourAnomaly, "after_call", after_call)
    eng = engine()
    for d in (read(1, event_id="q1"), read(2, event_id="q2"), delete(3, event_id="x")):
        eng.process(d)
    assert heard == [("x", ["out_of_charter_tool"])]
    base = baseline_of(eng.states[A])
    assert base is not None and base.n_learned == 2  # q1, q2 learned; x revoke-worthy: not


def test_judging_an_agent_with_a_baseline() -> None:
    eng = engine()  # every detector, behaviour_anomaly too
    eng.process(read(1, event_id="r1"))
    assert eng.states[A].sections.get("behaviour_anomaly") is not None
    assert [f.detector for f in eng.judge(delete(2))] == ["out_of_charter_tool"]


def test_judging_leaves_the_hijack_sections_as_they_were() -> None:
    names = tuple(n for n in REGISTRY if n != "behaviour_anomaly")
    eng = Engine([charter()], EngineSettings(detectors=names))
    eng.process(read(1, event_id="r1"))
    before = eng.states[A].snapshot()
    eng.judge(delete(2, event_id="j"))
    assert eng.states[A].snapshot() == before


# ---------------------------------------------------------------- charter updates


def update(doc: dict[str, Any], event_id: str = "cu") -> CharterUpdated:
    return CharterUpdated(event_id=event_id, ts=tb.at(2), agent_id=A, charter=doc)


WIDER = {
    "agent": PATTERN,
    "kind": "delegated",
    "mode": "enforce",
    "tools": [READ, {"server": "github", "tool": "delete_repo", "classes": ["admin"]}],
    "limits": {"require_jit_credentials": False},
}


def test_an_applied_unsigned_widening_update_is_alerted_counted_and_in_force() -> None:
    eng = Engine([charter()], EngineSettings(charter_allow_unsigned=True))
    d = eng.process(update(WIDER))
    assert sorted(detectors(d)) == ["charter_unsigned", "charter_widened"]
    c = eng.counters()
    assert c["charter_updated"] == 1 and c["events"] == 1
    assert c["alerts.charter_unsigned"] == 1 and c["alerts.charter_widened"] == 1
    assert not eng.process(delete(3))  # delete_repo is granted now


def test_a_refused_update_is_one_alert_and_counted() -> None:
    eng = Engine([charter()])  # unsigned not allowed
    d = eng.process(update(WIDER))
    assert detectors(d) == ["charter_rejected"]
    c = eng.counters()
    assert c["charter_rejected"] == 1 and c["alerts.charter_rejected"] == 1
    assert "charter_updated" not in c
    assert detectors(eng.process(delete(3))) == ["out_of_charter_tool"]


def test_an_update_with_no_agent_pattern_is_refused() -> None:
    eng = Engine([charter()], EngineSettings(charter_allow_unsigned=True))
    d = eng.process(update({"kind": "delegated"}))
    assert detectors(d) == ["charter_rejected"]
    d = eng.process(update({"agent": 7, "kind": "delegated"}, event_id="cu2"))
    assert detectors(d) == ["charter_rejected"]


def test_an_unchanged_unsigned_update_applies_without_a_widening_alert() -> None:
    eng = Engine([charter()], EngineSettings(charter_allow_unsigned=True))
    same = charter().model_dump(mode="json")
    d = eng.process(update(same))
    assert detectors(d) == ["charter_unsigned"]
    assert eng.counters()["charter_updated"] == 1


def test_every_charter_update_takes_effect_on_the_detectors_that_run() -> None:
    """The engine caches which detectors a charter needs; an update must not reuse a stale plan
    (compiled charters come and go, and a new one may get the id of one freed before)."""
    eng = Engine([charter()], EngineSettings(charter_allow_unsigned=True))
    for i in range(12):
        limited = i % 4 >= 2  # first unlimited twice: a reused id would bring a plan without rate
        limits: dict[str, Any] = {"require_jit_credentials": False}
        if limited:
            limits["max_calls_per_minute"] = 1
        doc = {"agent": PATTERN, "kind": "delegated", "tools": [READ], "limits": limits}
        t0 = 1000 * (i + 1)
        eng.process(CharterUpdated(event_id=f"cu{i}", ts=tb.at(t0), agent_id=A, charter=doc))
        d = tb.feed(eng, read(t0 + 1, event_id=f"a{i}"), read(t0 + 2, event_id=f"b{i}"))
        assert ("rate_limit" in detectors(d)) == limited, i


def test_events_held_before_a_restart_are_released_in_order_with_lateness_now_zero() -> None:
    """Restarted with lateness 0, an engine still holds what the old one held: the next event
    goes through the reorder buffer, so the held one (earlier) is applied first."""
    eng = engine(lateness=100)
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.task_ended(10, A, "T", "alice"))
    eng.process(read(50, event_id="held"))
    assert [p[0] for p in eng.states[A].pending] == [tb.at(x).timestamp() for x in (0, 10, 50)]
    states = {k: AgentState.restore(v.snapshot()) for k, v in eng.states.items()}
    again = Engine([charter()], EngineSettings(allowed_lateness_seconds=0), states)
    d = again.process(read(200, agent=B, task_id="U", sponsor="bob"))
    assert detectors(d) == ["lingering_access"] and "held" in d.alerts[0].evidence
    assert not again.states[A].pending and again.drain() is NOTHING


KEYS = parse_keyring("policy-1:0123456789abcdef0123")


def signed(doc: dict[str, Any], version: int, event_id: str) -> CharterUpdated:
    assert KEYS is not None
    return CharterUpdated(
        event_id=event_id,
        ts=tb.at(2),
        agent_id=A,
        charter=doc,
        signature=sign_charter(doc, KEYS, version),
        version=version,
    )


def test_a_redelivered_signed_update_is_a_counted_duplicate_and_changes_nothing() -> None:
    eng = Engine([charter()], EngineSettings(charter_keys=KEYS))
    narrower = {**WIDER, "tools": []}
    assert not eng.process(signed(narrower, 1, "s1"))
    assert eng.stats["charter_updated"] == 1 and "duplicates" not in eng.stats
    for n in (1, 2):
        assert eng.process(signed(narrower, 1, "s1")) is DUPLICATE
        assert eng.stats["duplicates"] == n
    assert eng.stats["charter_updated"] == 1
    assert eng.counters()["events"] == 3
    assert not eng.process(signed({**narrower, "mission": "m"}, 2, "s2"))
    assert eng.stats["charter_updated"] == 2


def test_every_refused_and_every_applied_update_is_counted() -> None:
    eng = Engine([charter()])
    for i in range(3):
        eng.process(update(WIDER, event_id=f"r{i}"))
    c = eng.counters()
    assert c["charter_rejected"] == 3 and c["alerts.charter_rejected"] == 3
    allowed = Engine([charter()], EngineSettings(charter_allow_unsigned=True))
    allowed.process(update(WIDER, event_id="u1"))
    allowed.process(update({**WIDER, "mission": "m"}, event_id="u2"))
    c = allowed.counters()
    assert c["charter_updated"] == 2 and c["alerts.charter_unsigned"] == 2


@pytest.mark.parametrize("pattern", [["agent:*"], {"a": 1}, None, 7])
def test_an_update_whose_pattern_is_not_a_string_is_refused_not_a_crash(pattern: Any) -> None:
    for eng in (
        Engine([charter()], EngineSettings(charter_allow_unsigned=True)),
        Engine([charter()], EngineSettings(charter_keys=KEYS)),
    ):
        d = eng.process(update({**WIDER, "agent": pattern}))
        assert detectors(d) == ["charter_rejected"]
        assert eng.counters()["charter_rejected"] == 1


def test_every_refused_future_event_is_counted() -> None:
    eng = engine()
    eng.clock = tb.at(0).timestamp()
    for i in range(3):
        with pytest.raises(DecodeError):
            eng.process(read(1000 + i))
    assert eng.counters()["future_events"] == 3


def test_every_event_judged_early_is_counted_as_held_overflow() -> None:
    eng = engine(lateness=10_000)
    tb.feed(eng, *(read(i, event_id=f"r{i:03}") for i in range(MAX_PENDING + 3)))
    assert eng.counters()["held_overflow"] == 3
    huge = {"blob": "x" * (MAX_PENDING_BYTES + 1)}
    other = engine(lateness=10_000)
    tb.feed(other, *(read(i, agent=B, args=huge, task_id="U") for i in range(2)))
    assert other.counters()["held_overflow"] == 2


def test_the_late_flag_is_judged_under_the_agents_charter_with_the_documented_id() -> None:
    eng = engine()
    eng.process(read(100, agent=B, task_id="U", sponsor="bob"))
    ev = read(40, event_id="lt")
    [flag] = eng.process(ev).alerts
    assert flag.clause.charter == PATTERN and flag.mode == "enforce"
    t = ev.ts.timestamp()
    assert flag.alert_id == finding_id(
        A, "late_event", "allowed_lateness_seconds", "late", "lt", f"t={t!r}"
    )
    # an uncovered agent's flag is observe-only and names no charter
    free = Engine([])
    free.process(tb.call(100, "other", "s", "t"))
    flags = [a for a in free.process(tb.call(40, "other", "s", "t")).alerts]
    assert [
        (a.detector, a.mode, a.clause.charter) for a in flags if a.detector == "late_event"
    ] == [("late_event", "observe", None)]


def test_how_far_behind_is_rounded_to_the_millisecond() -> None:
    eng = engine()
    eng.process(read(100, agent=B, task_id="U", sponsor="bob"))
    [flag] = eng.process(read(9.876543)).alerts
    assert flag.details["seconds_behind_watermark"] == 90.123


def test_a_timer_of_an_agent_whose_state_is_gone_does_not_stop_the_others() -> None:
    """A shell may drop an agent's state (the proxy's bounded states): its heap entry is skipped."""
    states: dict[str, AgentState] = {}
    eng = Engine([charter()], EngineSettings(), states)
    tb.feed(
        eng,
        tb.task_started(0, A, "T", "alice"),
        tb.task_started(0, B, "U", "bob"),
        tb.sponsor_ended(10, A, "alice"),  # due at 40
        tb.sponsor_ended(12, B, "bob"),  # due at 42
    )
    del states[A]
    d = eng.advance_watermark(tb.at(45).timestamp())
    assert [(r.agent_id, r.task_id) for r in d.revocations] == [(B, "U")]


def test_a_moved_timer_leaves_a_stale_entry_that_does_not_stop_the_others() -> None:
    eng = engine()
    tb.feed(
        eng,
        tb.task_started(0, A, "T", "alice"),
        tb.task_started(0, B, "U", "bob"),
        tb.sponsor_ended(10, A, "alice"),  # due at 40 ...
        tb.sponsor_ended(12, B, "bob"),  # due at 42
        tb.sponsor_ended(20, A, "alice"),  # ... moved to 50: the entry at 40 is stale
    )
    d = eng.advance_watermark(tb.at(45).timestamp())
    assert [(r.agent_id, r.task_id) for r in d.revocations] == [(B, "U")]
    d = eng.advance_watermark(tb.at(50).timestamp())
    assert [(r.agent_id, r.task_id) for r in d.revocations] == [(A, "T")]


def test_firing_a_timer_marks_its_agent_dirty() -> None:
    eng = engine()
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.sponsor_ended(10, A, "alice"))
    eng.dirty.clear()
    eng.advance_watermark(tb.at(45).timestamp())
    assert eng.dirty == {A}  # its timer list changed: the shell must save it


def test_a_due_timer_of_a_detector_not_running_does_not_stop_the_agents_next_one() -> None:
    jit = tb.charter(PATTERN, "delegated", tools=[READ], limits={"require_jit_credentials": True})
    eng = Engine([jit])
    tb.feed(
        eng,
        tb.task_started(0, A, "T", "alice"),
        read(1, credential_id="ghost"),  # static_credential: a timer at ~6 s
        tb.sponsor_ended(3, A, "alice"),  # absent_sponsor: a timer at 33 s
    )
    assert sorted(t[1] for t in eng.states[A].timers) == ["absent_sponsor", "static_credential"]
    states = {k: AgentState.restore(v.snapshot()) for k, v in eng.states.items()}
    sponsor_only = Engine([jit], EngineSettings(detectors=("absent_sponsor",)), states)
    d = sponsor_only.advance_watermark(tb.at(100).timestamp())
    assert [(r.scope, r.task_id) for r in d.revocations] == [("task", "T")]
    assert sponsor_only.stats["timers_fired"] == 1


CHAIN = tb.charter(
    PATTERN,
    "delegated",
    tools=[
        {"server": "vault", "tool": "get", "classes": ["secret"]},
        {"server": "web", "tool": "post", "classes": ["egress"]},
    ],
    forbidden_chains=[{"name": "exfil", "sequence": ["secret", "egress"]}],
    limits={"require_jit_credentials": False},
)


def test_held_events_at_the_same_instant_are_applied_in_event_id_order() -> None:
    """Two calls stamped alike arrive egress first: ordered by event id, the secret read comes
    first and the chain is caught; each held entry is found by its id and time, not time alone."""

    def calls() -> list[Any]:
        return [
            tb.call(5, A, "web", "post", event_id="b-egress", task_id="T", sponsor="alice"),
            tb.call(5, A, "vault", "get", event_id="a-secret", task_id="T", sponsor="alice"),
        ]

    held = Engine([CHAIN], EngineSettings(allowed_lateness_seconds=100))
    tb.feed(held, *calls())
    assert "forbidden_chain" in detectors(held.drain())
    in_order = Engine([CHAIN])
    assert "forbidden_chain" in detectors(tb.feed(in_order, *reversed(calls())))


def test_releasing_a_held_event_marks_its_agent_dirty() -> None:
    eng = engine(lateness=100)
    eng.process(read(5))
    eng.dirty.clear()
    eng.advance_watermark(tb.at(5).timestamp())
    assert eng.dirty == {A} and not eng.states[A].pending


def test_a_timer_due_at_the_instant_of_a_held_event_fires_before_it() -> None:
    """alice leaves at 10 (timer at 40) and is back at exactly 40: the timer fires first, so the
    task she left is revoked, as it is without holding."""

    def events() -> list[Any]:
        return [
            tb.task_started(0, A, "T", "alice"),
            tb.issued(1, A, "c1", 600, "T"),
            tb.sponsor_ended(10, A, "alice"),
            tb.sponsor_active(40, A, "alice"),
        ]

    plain = tb.feed(engine(), *events())
    assert [r.task_id for r in plain.revocations] == ["T"]
    eng = engine(lateness=100)
    tb.feed(eng, *events())
    d = eng.advance_watermark(tb.at(40).timestamp())
    assert [(r.task_id, r.credential_ids) for r in d.revocations] == [("T", ["c1"])]


def test_an_end_of_an_unknown_task_keeps_its_sponsor() -> None:
    eng = engine()
    eng.process(tb.task_ended(10, A, "T", "alice"))  # its start never arrived
    d = eng.process(read(100, sponsor=None))
    [a] = [a for a in d.alerts if a.detector == "lingering_access"]
    assert a.sponsor == "alice"


def test_each_charter_and_kind_gets_its_own_detectors() -> None:
    """The detectors a call needs depend on its charter and kind: an unlimited agent's call first
    must not leave a plan without rate_limit for a limited one (nor the other way round)."""
    limited = tb.charter(
        "agent:fast/*",
        "delegated",
        tools=[READ],
        limits={"max_calls_per_minute": 1, "require_jit_credentials": False},
    )
    eng = Engine([charter(), limited])
    eng.process(read(0))  # agent:assist/1, no rate limit
    d = tb.feed(eng, read(1, agent="agent:fast/1"), read(2, agent="agent:fast/1"))
    assert detectors(d) == ["rate_limit"]
    d = tb.feed(eng, read(3), read(4), read(5))
    assert not d


def test_a_task_opened_by_a_call_belongs_to_the_calls_sponsor() -> None:
    """No task_started seen: the call's sponsor is the task's, so the task is revoked when the
    sponsor leaves."""
    eng = engine()
    eng.process(read(1, task_id="T", sponsor="alice"))
    eng.process(tb.sponsor_ended(10, A, "alice"))
    d = eng.advance_watermark(tb.at(45).timestamp())
    assert [(r.scope, r.task_id) for r in d.revocations] == [("task", "T")]


def test_calls_while_a_timer_waits_do_not_grow_the_timer_index() -> None:
    """One heap entry per agent and due time: a busy agent with a timer pending (its sponsor
    gone, 30 s of grace) must not add an entry per call (memory an agent could grow at will)."""
    eng = engine()
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.sponsor_ended(1, A, "alice"))
    assert len(eng._timers) == 1
    tb.feed(eng, *(read(1 + i / 100, task_id="U", sponsor="bob") for i in range(200)))
    assert len(eng._timers) == 1
    d = eng.advance_watermark(tb.at(40).timestamp())
    assert [r.task_id for r in d.revocations] == ["T"]


def test_every_lifecycle_event_is_counted_by_type() -> None:
    eng = engine()
    tb.feed(
        eng,
        *(tb.task_started(i, A, f"T{i}", "alice") for i in range(3)),
        tb.revoked(5, A, "c1"),
        tb.revoked(6, A, "c2"),
    )
    c = eng.counters()
    assert c["task_started"] == 3 and c["credential_revoked"] == 2 and c["events"] == 5


def test_an_alert_on_a_lifecycle_event_names_its_sponsor_and_credential() -> None:
    eng = Engine([])  # no charter covers the agent: every event alerts
    [a] = eng.process(tb.sponsor_active(1, "stray", "bob")).alerts
    assert (a.detector, a.sponsor, a.credential_id) == ("out_of_charter_tool", "bob", None)
    eng = Engine([], EngineSettings(alert_dedup_seconds=0))
    [a] = eng.process(tb.revoked(1, "stray", "c7")).alerts
    assert (a.sponsor, a.credential_id) == (None, "c7")


def test_an_alert_on_a_call_names_the_calls_sponsor_before_its_tasks() -> None:
    eng = engine()
    eng.process(tb.task_started(0, A, "T", "alice"))
    [a] = eng.process(delete(1, task_id="T", sponsor="bob")).alerts
    assert a.sponsor == "bob"
    alerts = eng.process(delete(2, agent=B, task_id=None, sponsor="carol")).alerts
    assert {a.sponsor for a in alerts if a.detector == "out_of_charter_tool"} == {"carol"}


def test_every_redelivery_is_counted() -> None:
    eng = engine()
    eng.process(read(1, event_id="x"))
    for n in (1, 2, 3):
        assert eng.process(read(1, event_id="x")).duplicate
        assert eng.counters()["duplicates"] == n


def test_without_lateness_nothing_is_held_not_even_a_big_event() -> None:
    eng = engine(lateness=0)
    huge = {"blob": "x" * (MAX_PENDING_BYTES + 1)}
    d = eng.process(delete(1, args=huge))
    assert detectors(d) == ["out_of_charter_tool"]
    assert "held_overflow" not in eng.counters()


def test_a_lateness_under_a_second_still_holds() -> None:
    eng = engine(lateness=0.5)
    assert not eng.process(delete(100, event_id="d"))
    assert [p[1] for p in eng.states[A].pending] == ["d"]
    d = eng.process(read(100.5, agent=B, task_id="U", sponsor="bob"))
    assert detectors(d) == ["out_of_charter_tool"]


def test_every_late_event_is_counted() -> None:
    eng = engine()
    eng.process(read(100, agent=B, task_id="U", sponsor="bob"))
    tb.feed(eng, read(10), read(11), read(12))
    assert eng.counters()["late_events"] == 3


def sized(sec: float, event_id: str, size: int, **kw: Any) -> Any:
    """A call whose held_size is exactly ``size``."""
    base = read(sec, event_id=event_id, args={"b": ""}, **kw)
    pad = size - held_size(base)
    assert pad >= 0
    ev = read(sec, event_id=event_id, args={"b": "x" * pad}, **kw)
    assert held_size(ev) == size
    return ev


def test_two_held_events_over_the_byte_budget_judge_the_older_now() -> None:
    eng = engine(lateness=10_000)
    half = MAX_PENDING_BYTES // 2 + 1
    eng.process(sized(1, "a", half))
    eng.process(sized(2, "b", half))  # together one over the budget
    assert [p[1] for p in eng.states[A].pending] == ["b"]
    assert eng.counters()["held_overflow"] == 1


def test_held_events_exactly_at_the_byte_budget_are_all_held() -> None:
    eng = engine(lateness=10_000)
    eng.process(sized(1, "a", MAX_PENDING_BYTES // 2))
    eng.process(sized(2, "b", MAX_PENDING_BYTES - MAX_PENDING_BYTES // 2))
    assert [p[1] for p in eng.states[A].pending] == ["a", "b"]
    assert "held_overflow" not in eng.counters()
    whole = engine(lateness=10_000)
    whole.process(sized(1, "w", MAX_PENDING_BYTES))  # exactly the budget: still held
    assert [p[1] for p in whole.states[A].pending] == ["w"]
    assert "held_overflow" not in whole.counters()


def test_an_overflow_among_events_at_one_instant_judges_the_lowest_event_id() -> None:
    eng = engine(lateness=10_000)
    ids = [f"e{i:03}" for i in range(MAX_PENDING + 1)]
    tb.feed(eng, *(read(7, event_id=i) for i in reversed(ids)))
    held = sorted(p[1] for p in eng.states[A].pending)
    assert held == ids[1:]  # e000, the lowest, was judged early
