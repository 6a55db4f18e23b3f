from __future__ import annotations

import pytest

from monitor import testing as tb
from monitor.charter import Charter
from monitor.core import Engine, EngineSettings
from monitor.core.state import MAX_SEEN, AgentState
from monitor.events import CharterUpdated

A = "agent:assist/1"
CH = tb.charter(
    "agent:assist/*",
    "delegated",
    tools=[{"server": "fs", "tool": "read_file", "classes": ["read"]}],
    # calls here carry no issued credential: static_credential has its own tests
    limits={"task_grace_seconds": 30, "require_jit_credentials": False},
)


def test_redelivered_event_is_dropped_and_counted() -> None:
    eng = Engine([CH])
    ev = tb.call(1, A, "github", "delete_repo", event_id="dup", task_id="T", sponsor="s")
    first = eng.process(ev)
    second = eng.process(ev)
    assert first.alerts and not second.alerts and second.duplicate
    assert eng.stats["duplicates"] == 1


def test_event_dedup_memory_is_bounded_per_agent() -> None:
    eng = Engine([CH])
    for i in range(MAX_SEEN * 3):
        eng.process(tb.call(i, A, "fs", "read_file", event_id=f"e{i}", task_id="T", sponsor="s"))
    st = eng.states[A]
    assert len(st.seen) == len(st.seen_ring) == MAX_SEEN


def test_snapshot_restore_round_trip_is_exact() -> None:
    eng = Engine([CH])
    for ev in [
        tb.task_started(0, A, "T", "alice"),
        tb.issued(1, A, "c1", 60, "T"),
        tb.call(2, A, "fs", "read_file", task_id="T", sponsor="alice", credential_id="c1"),
        tb.sponsor_ended(3, A, "alice"),
    ]:
        eng.process(ev)
    st = eng.states[A]
    again = AgentState.restore(st.snapshot())
    assert again.snapshot() == st.snapshot()
    assert again.timers == st.timers and again.tasks == st.tasks


def test_restore_rejects_unknown_snapshot_version() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        AgentState.restore(b"[99]")


def test_timers_survive_a_restart_via_rebuild() -> None:
    """A sponsor_ended timer set before a restart still fires after it."""
    eng = Engine([CH])
    eng.process(tb.task_started(0, A, "T", "alice"))
    eng.process(tb.issued(1, A, "c1", 600, "T"))
    eng.process(tb.sponsor_ended(10, A, "alice", event_id="bye"))
    states = {k: AgentState.restore(v.snapshot()) for k, v in eng.states.items()}
    restarted = Engine([CH], states=states)
    d = restarted.advance_watermark(tb.at(41).timestamp())
    assert [(r.scope, r.task_id, r.credential_ids) for r in d.revocations] == [
        ("task", "T", ["c1"])
    ]


def test_allowed_lateness_delays_timers() -> None:
    eng = Engine([CH], EngineSettings(allowed_lateness_seconds=60))
    eng.process(tb.task_started(0, A, "T", "alice"))
    eng.process(tb.sponsor_ended(10, A, "alice"))
    assert not eng.process(
        tb.call(50, "agent:assist/2", "fs", "read_file", task_id="X", sponsor="bob")
    ).revocations
    assert eng.process(
        tb.call(101, "agent:assist/2", "fs", "read_file", task_id="X", sponsor="bob")
    ).revocations


def test_charter_updated_replaces_the_charter_at_run_time() -> None:
    eng = Engine([CH], EngineSettings(charter_allow_unsigned=True))  # unsigned: allowed here
    assert eng.process(tb.call(1, A, "web", "http_get", task_id="T", sponsor="s")).alerts
    doc = CH.model_dump(mode="json")
    doc["tools"].append({"server": "web", "tool": "http_get", "classes": ["read_untrusted"]})
    applied = eng.process(CharterUpdated(event_id="cu", ts=tb.at(2), agent_id=A, charter=doc))
    assert [a.detector for a in applied.alerts] == ["charter_unsigned", "charter_widened"]
    assert not eng.process(tb.call(400, A, "web", "http_get", task_id="T", sponsor="s")).alerts


def test_invalid_charter_update_is_rejected_and_the_old_one_stays() -> None:
    eng = Engine([CH], EngineSettings(charter_allow_unsigned=True))  # judged on its content
    bad = CharterUpdated(
        event_id="cu",
        ts=tb.at(2),
        agent_id=A,
        charter={"agent": "agent:assist/*", "kind": "delegated", "tols": []},
    )
    (alert,) = eng.process(bad).alerts
    assert alert.detector == "charter_rejected" and alert.clause.key == "tols"
    assert eng.charters.for_agent(A) is not None
    assert eng.charters.for_agent(A).charter == CH


def test_force_observe_marks_every_output_observe() -> None:
    eng = Engine([CH], EngineSettings(force_observe=True))
    d = eng.process(
        tb.call(1, A, "github", "delete_repo", task_id="T", sponsor="s", credential_id="c")
    )
    assert d.alerts[0].mode == "observe" and d.revocations[0].mode == "observe"


def test_revoke_min_severity_controls_revocation() -> None:
    strict = Engine([CH], EngineSettings(revoke_min_severity="critical"))
    d = strict.process(
        tb.call(1, A, "github", "delete_repo", task_id="T", sponsor="s", credential_id="c")
    )
    assert d.alerts and not d.revocations


def test_same_target_is_commanded_once() -> None:
    eng = Engine([CH])
    d1 = eng.process(
        tb.call(1, A, "github", "delete_repo", task_id="T", sponsor="s", credential_id="c")
    )
    d2 = eng.process(
        tb.call(2, A, "github", "fork_repo", task_id="T", sponsor="s", credential_id="c")
    )
    assert len(d1.revocations) == 1 and d2.alerts and not d2.revocations
    assert d1.revocations[0].alert_ids == [d1.alerts[0].alert_id]


def test_command_ids_do_not_depend_on_process_or_run() -> None:
    def run() -> list[str]:
        eng = Engine([Charter.model_validate(CH.model_dump())])
        d = eng.process(
            tb.call(
                1,
                A,
                "github",
                "delete_repo",
                event_id="x1",
                task_id="T",
                sponsor="s",
                credential_id="c",
            )
        )
        return [r.command_id for r in d.revocations] + [a.alert_id for a in d.alerts]

    assert run() == run()


def test_unknown_detector_name_in_settings_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown detectors"):
        Engine([CH], EngineSettings(detectors=("nope",)))


# ---------------------------------------------------------------- issue 13: identities, uncovered agents
def _uncovered_events(sec: float, agent: str) -> list[object]:
    return [
        tb.task_started(sec, agent, "T", "alice"),
        tb.task_ended(sec, agent, "T", "alice"),
        tb.issued(sec, agent, "c1", 60, "T"),
        tb.revoked(sec, agent, "c1"),
        tb.sponsor_active(sec, agent, "alice"),
        tb.sponsor_ended(sec, agent, "alice"),
    ]


@pytest.mark.parametrize("index", range(6))
def test_an_agent_no_charter_covers_alerts_on_any_event_type(index: int) -> None:
    eng = Engine([CH])
    ev = _uncovered_events(0, "agent:stranger/1")[index]
    d = eng.process(ev)
    found = [a for a in d.alerts if a.clause.key == "charter"]
    assert [(a.detector, a.severity, a.mode) for a in found] == [
        ("out_of_charter_tool", "medium", "observe")
    ]
    assert "no charter covers this agent" in found[0].reason


def test_an_uncovered_agent_alerts_once_per_dedup_window_across_event_types() -> None:
    eng = Engine([CH], EngineSettings(alert_dedup_seconds=300))
    stranger = "agent:stranger/1"
    first = tb.feed(eng, *_uncovered_events(0, stranger), tb.call(10, stranger, "fs", "read_file"))
    again = tb.feed(eng, *_uncovered_events(301, stranger))
    other = tb.feed(eng, tb.task_started(302, "agent:stranger/2", "T"))
    assert [len(_no_charter(d)) for d in (first, again, other)] == [1, 1, 1]
    assert eng.counters()["alerts.out_of_charter_tool"] == 3


def _no_charter(d: object) -> list[object]:
    return [a for a in d.alerts if a.clause.key == "charter"]  # type: ignore[attr-defined]


def test_covered_agent_lifecycle_raises_no_charter_alert() -> None:
    eng = Engine([CH])
    d = tb.feed(eng, *_uncovered_events(0, A))
    assert not [a for a in d.alerts if a.clause.key == "charter"]


def test_a_respelled_spiffe_id_is_judged_by_its_charter_not_observed() -> None:
    """``SPIFFE://CORP/agents/A`` is ``spiffe://corp/agents/A``: same charter, enforced."""
    from monitor.events import decode_event

    charter = tb.charter(
        "SPIFFE://Corp/agents/*",  # a pattern in another spelling folds the same way
        "autonomous",
        mode="enforce",
        tools=[{"server": "fs", "tool": "read_file", "classes": ["read"]}],
    )
    eng = Engine([charter])
    d = eng.process(
        decode_event(
            b'{"type":"tool_call","event_id":"e1","ts":"2026-03-02T09:00:00Z",'
            b'"agent_id":"SPIFFE://CORP/agents/A","server":"github","tool":"delete_repo",'
            b'"outcome":"ok","credential_id":"c1"}'
        )
    )
    assert [(a.agent_id, a.clause.key, a.severity) for a in d.alerts] == [
        ("spiffe://corp/agents/A", "tools", "high")
    ]
    assert [(r.agent_id, r.mode) for r in d.revocations] == [("spiffe://corp/agents/A", "enforce")]
    assert list(eng.states) == ["spiffe://corp/agents/A"]


# ---------------------------------------------------------------- issue 13: ts far in the future
def test_an_event_far_ahead_of_the_judging_clock_is_refused_not_applied() -> None:
    from monitor.errors import DecodeError

    eng = Engine([CH], EngineSettings(max_future_seconds=300))
    eng.clock = tb.at(0).timestamp()
    eng.process(tb.call(0, A, "fs", "read_file"))
    forged = tb.call(0, "agent:assist/2", "fs", "read_file")
    forged = forged.model_copy(update={"ts": tb.at(0).replace(year=2199)})
    with pytest.raises(DecodeError) as err:
        eng.process(forged)
    assert err.value.field == "ts"
    assert "ahead of the judging clock" in err.value.reason
    assert "max_future_seconds=300" in err.value.reason
    assert eng.counters()["future_events"] == 1
    assert "agent:assist/2" not in eng.states  # nothing of it was applied
    # event time did not move: the next ordinary event is neither late nor refused
    d = eng.process(tb.call(60, A, "fs", "read_file"))
    assert not [a for a in d.alerts if a.detector == "late_event"]
    assert eng.counters().get("late_events", 0) == 0
    # at the bound is accepted, past it refused
    eng.process(tb.call(300, A, "fs", "read_file"))
    with pytest.raises(DecodeError):
        eng.process(tb.call(301, A, "fs", "read_file"))


def test_the_future_bound_defaults_to_five_minutes_of_the_clock_and_zero_turns_it_off() -> None:
    from monitor.errors import DecodeError

    eng = Engine([CH])
    eng.clock = tb.at(10 * 86_400).timestamp()
    eng.process(tb.call(0, A, "fs", "read_file"))
    eng.process(tb.call(10 * 86_400, A, "fs", "read_file"))  # ten days' silence is no forgery
    with pytest.raises(DecodeError):
        eng.process(tb.call(10 * 86_400 + 301, A, "fs", "read_file"))
    off = Engine([CH], EngineSettings(max_future_seconds=0))
    off.clock = tb.at(0).timestamp()
    off.process(tb.call(10 * 86_400, A, "fs", "read_file"))
    unset = Engine([CH])  # no clock given (evaluate, benchmarks): no bound
    unset.process(tb.call(10 * 86_400, A, "fs", "read_file"))
    assert off.counters().get("future_events", 0) == 0
    assert unset.counters().get("future_events", 0) == 0
