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
    limits={"task_grace_seconds": 30},
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
