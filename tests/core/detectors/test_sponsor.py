"""absent_sponsor: a delegated agent acting when its human sponsor is gone."""

from __future__ import annotations

from typing import Any

from monitor.core import Decision, Engine
from monitor.testing import (
    at,
    call,
    charter,
    feed,
    issued,
    sponsor_active,
    sponsor_ended,
    task_ended,
    task_started,
)

DETECTOR = "absent_sponsor"
AGENT = "agent:helper-1"
TOOLS = [{"server": "fs", "tool": "read_file", "classes": ["read"]}]


def engine(kind: str = "delegated", **kw: Any) -> Engine:
    # calls here carry no issued credential: static_credential has its own tests
    limits = {
        "task_grace_seconds": 30,
        "sponsor_quiet_seconds": 600,
        "require_jit_credentials": False,
    }
    return Engine([charter("agent:*", kind=kind, tools=TOOLS, limits=limits, **kw)])


def alerts(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR]


def read(sec: float, agent: str = AGENT, **kw: Any) -> Any:
    kw.setdefault("task_id", "T1")
    kw.setdefault("sponsor", "alice")
    return call(sec, agent, "fs", "read_file", **kw)


def started(eng: Engine) -> None:
    feed(eng, task_started(0, AGENT, "T1", "alice"), issued(0, AGENT, "c1", 3600, task_id="T1"))


# ---------------------------------------------------------------- quiet sponsor


def test_call_after_the_sponsor_went_quiet_is_high_and_revokes_the_task() -> None:
    eng = engine()
    started(eng)
    d = feed(eng, read(601, credential_id="c1"))
    [alert] = alerts(d)
    assert alert.severity == "high"
    assert alert.clause.key == "limits.sponsor_quiet_seconds"
    assert "alice" in alert.reason
    assert alert.sponsor == "alice"
    [cmd] = d.revocations
    assert cmd.scope == "task"
    assert cmd.task_id == "T1"
    assert cmd.credential_ids == ["c1"]
    assert cmd.alert_ids == [alert.alert_id]


def test_sponsor_is_taken_from_the_task_when_the_call_has_none() -> None:
    eng = engine()
    started(eng)
    [alert] = alerts(feed(eng, read(601, sponsor=None)))
    assert alert.clause.key == "limits.sponsor_quiet_seconds"
    assert alert.sponsor == "alice"


def test_call_exactly_at_the_quiet_limit_is_fine() -> None:
    eng = engine()
    started(eng)
    assert alerts(feed(eng, read(600))) == []


def test_sponsor_active_refreshes_the_quiet_window() -> None:
    eng = engine()
    started(eng)
    assert alerts(feed(eng, sponsor_active(500, AGENT, "alice"), read(1000))) == []
    assert len(alerts(feed(eng, read(1101)))) == 1


def test_sponsor_never_seen_is_not_judged_by_the_quiet_rule() -> None:
    eng = engine()
    assert alerts(feed(eng, read(5000, task_id="T9", sponsor="bob"))) == []


def test_delegated_call_with_no_sponsor_on_record_is_medium() -> None:
    eng = engine()
    d = feed(eng, call(0, AGENT, "fs", "read_file", task_id="T1"))
    [alert] = alerts(d)
    assert alert.severity == "medium"
    assert alert.clause.key == "kind"


# ---------------------------------------------------------------- sponsor ended


def test_call_after_sponsor_ended_plus_grace_is_high() -> None:
    eng = engine()
    started(eng)
    end = sponsor_ended(100, AGENT, "alice")
    late = read(131)
    d = feed(eng, end, late)
    [alert] = alerts(d)
    assert alert.severity == "high"
    assert alert.clause.key == "sponsor_ended"
    assert alert.evidence == [end.event_id, late.event_id]
    assert "alice" in alert.reason


def test_call_within_the_grace_after_sponsor_ended_is_fine() -> None:
    eng = engine()
    started(eng)
    assert alerts(feed(eng, sponsor_ended(100, AGENT, "alice"), read(129))) == []


def test_sponsor_coming_back_after_sponsor_ended_clears_it() -> None:
    eng = engine()
    started(eng)
    d = feed(
        eng, sponsor_ended(100, AGENT, "alice"), sponsor_active(110, AGENT, "alice"), read(200)
    )
    assert alerts(d) == []
    assert d.revocations == []
    assert not eng.advance_watermark(at(500).timestamp()).revocations


def test_autonomous_agents_never_hit_absent_sponsor() -> None:
    eng = engine(kind="autonomous")
    d = feed(
        eng,
        call(0, AGENT, "fs", "read_file"),
        sponsor_ended(10, AGENT, "alice"),
        call(5000, AGENT, "fs", "read_file"),
        call(5001, AGENT, "fs", "read_file", sponsor="alice", task_id="T1"),
    )
    assert alerts(d) == []


# ---------------------------------------------------------------- proactive revocation by timer


def test_sponsor_ended_timer_revokes_open_task_on_another_agents_event() -> None:
    eng = engine()
    started(eng)
    assert feed(eng, sponsor_ended(100, AGENT, "alice")).revocations == []
    d = feed(eng, read(131, agent="agent:other-1", task_id="X1", sponsor="bob"))
    [cmd] = [c for c in d.revocations if c.agent_id == AGENT]
    assert cmd.scope == "task"
    assert cmd.task_id == "T1"
    assert cmd.credential_ids == ["c1"]
    assert cmd.alert_ids == []
    assert "alice" in cmd.reason
    assert [a for a in d.alerts if a.agent_id == AGENT] == []


def test_sponsor_ended_timer_fires_on_advance_watermark() -> None:
    eng = engine()
    started(eng)
    feed(eng, sponsor_ended(100, AGENT, "alice"))
    assert not eng.advance_watermark(at(129).timestamp()).revocations
    [cmd] = eng.advance_watermark(at(131).timestamp()).revocations
    assert cmd.scope == "task"
    assert cmd.task_id == "T1"
    assert cmd.credential_ids == ["c1"]


def test_sponsor_ended_timer_spares_a_task_that_ended_within_the_grace() -> None:
    eng = engine()
    started(eng)
    feed(eng, sponsor_ended(100, AGENT, "alice"), task_ended(120, AGENT, "T1", "alice"))
    assert not eng.advance_watermark(at(1000).timestamp()).revocations


def test_sponsor_ended_timer_revokes_only_that_sponsors_tasks() -> None:
    eng = engine()
    started(eng)
    feed(eng, task_started(0, AGENT, "T2", "bob"), sponsor_ended(100, AGENT, "alice"))
    d = eng.advance_watermark(at(131).timestamp())
    assert [c.task_id for c in d.revocations] == ["T1"]


def test_sponsor_ended_timers_of_two_sponsors_both_fire() -> None:
    eng = engine()
    started(eng)
    feed(
        eng,
        task_started(0, AGENT, "T2", "bob"),
        sponsor_ended(100, AGENT, "alice"),
        sponsor_ended(110, AGENT, "bob"),
    )
    first = eng.advance_watermark(at(135).timestamp())
    second = eng.advance_watermark(at(200).timestamp())
    assert [c.task_id for c in first.revocations] == ["T1"]
    assert [c.task_id for c in second.revocations] == ["T2"]


def test_sponsor_timer_never_touches_a_task_that_ended() -> None:
    """Issue 19c: a task that ended before ``sponsor_ended`` is not revoked again.

    Its credential expired in between, so a second revocation would name another
    target (the task without credentials) and no "already commanded" memory hides it.
    """
    eng = engine()
    feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        issued(0, AGENT, "c1", 60, task_id="T1"),
    )
    [end_cmd] = eng.process(task_ended(50, AGENT, "T1", "alice")).revocations
    assert end_cmd.task_id == "T1" and end_cmd.credential_ids == ["c1"]
    feed(eng, sponsor_ended(500, AGENT, "alice"))  # c1 expired at 60
    assert not eng.advance_watermark(at(5000).timestamp()).revocations
    assert eng.stats["timers_fired"] == 1  # the timer did fire: it found nothing to revoke


def test_sponsor_timer_revokes_only_the_open_tasks_of_its_sponsor() -> None:
    eng = engine()
    feed(
        eng,
        task_started(0, AGENT, "T-open", "alice"),
        task_started(0, AGENT, "T-done", "alice"),
        task_started(0, AGENT, "T-bob", "bob"),
        task_ended(50, AGENT, "T-done", "alice"),
        sponsor_ended(500, AGENT, "alice"),
    )
    d = eng.advance_watermark(at(5000).timestamp())
    assert [c.task_id for c in d.revocations] == ["T-open"]
