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


# ---------------------------------------------------------------- the alert's words, ids and targets


def test_a_call_with_no_sponsor_on_record_says_so_and_names_its_task_and_session() -> None:
    eng = engine()
    [alert] = alerts(feed(eng, call(0, AGENT, "fs", "read_file", task_id="T1", session_id="s-1")))
    assert alert.clause.text == "a delegated agent acts for a named human"
    assert alert.reason == (
        f"delegated agent {AGENT} called fs/read_file with no sponsor on record"
    )
    assert (alert.task_id, alert.session_id) == ("T1", "s-1")


def test_a_call_after_the_sponsor_left_says_so_in_words() -> None:
    eng = engine()
    started(eng)
    d = feed(eng, sponsor_ended(100, AGENT, "alice"), read(131, session_id="s-1"))
    [alert] = alerts(d)
    assert alert.clause.text == "delegated authority ends when its sponsor is gone"
    assert alert.reason == (
        f"delegated agent {AGENT} called fs/read_file 31 s after sponsor alice's session "
        "ended: it is acting autonomously on borrowed authority"
    )
    assert (alert.task_id, alert.session_id, alert.sponsor) == ("T1", "s-1", "alice")
    assert alert.details == {"sponsor": "alice"}


def test_a_call_while_the_sponsor_is_quiet_says_for_how_long_and_the_limit() -> None:
    eng = engine()
    started(eng)
    late = read(1300)
    [alert] = alerts(feed(eng, late))
    assert alert.reason == (
        f"delegated agent {AGENT} called fs/read_file while sponsor alice has been quiet for "
        "21 min (limit 10 min): it is acting autonomously on borrowed authority"
    )
    assert alert.evidence == [late.event_id]
    assert alert.details == {"sponsor": "alice"}


def test_each_quiet_sponsor_is_its_own_alert() -> None:
    eng = engine()
    feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        task_started(0, AGENT, "T2", "bob"),
    )
    d = feed(eng, read(700), read(701, task_id="T2", sponsor="bob"))
    assert sorted(a.details["sponsor"] for a in alerts(d)) == ["alice", "bob"]
    assert alerts(feed(eng, read(702))) == []


def test_a_call_exactly_at_the_end_of_the_grace_after_the_sponsor_left_is_fine() -> None:
    eng = engine()
    started(eng)
    assert alerts(feed(eng, sponsor_ended(100, AGENT, "alice"), read(130))) == []
    assert len(alerts(feed(eng, read(130.5)))) == 1


def test_a_grace_below_the_clock_skew_is_the_skew_not_their_sum() -> None:
    limits = {"task_grace_seconds": 2, "sponsor_quiet_seconds": 600}
    eng = Engine([charter("agent:*", kind="delegated", tools=TOOLS, limits=limits)])
    started(eng)
    assert alerts(feed(eng, sponsor_ended(100, AGENT, "alice"), read(105))) == []  # skew 5
    assert len(alerts(feed(eng, read(106)))) == 1  # grace + skew would be 7


def test_without_a_task_the_sponsor_alert_revokes_the_calls_credential() -> None:
    eng = engine()
    feed(eng, sponsor_active(0, AGENT, "alice"), issued(0, AGENT, "c9", 3600))
    d = feed(eng, read(601, task_id=None, credential_id="c9"))
    [alert] = alerts(d)
    assert alert.task_id is None
    [cmd] = [c for c in d.revocations if alert.alert_id in c.alert_ids]
    assert (cmd.scope, cmd.credential_ids) == ("credential", ["c9"])


def test_without_a_task_or_a_credential_the_sponsor_alert_revokes_the_agent() -> None:
    eng = engine()
    feed(eng, sponsor_active(0, AGENT, "alice"))
    d = feed(eng, read(601, task_id=None))
    [alert] = alerts(d)
    [cmd] = [c for c in d.revocations if alert.alert_id in c.alert_ids]
    assert (cmd.scope, cmd.credential_ids) == ("agent", [])


def test_each_absent_sponsor_is_its_own_alert_and_a_repeat_is_not() -> None:
    eng = engine()
    feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        task_started(0, AGENT, "T2", "bob"),
        sponsor_ended(100, AGENT, "alice"),
        sponsor_ended(100, AGENT, "bob"),
    )
    d = feed(eng, read(200), read(201, task_id="T2", sponsor="bob"))
    assert sorted(a.sponsor for a in alerts(d)) == ["alice", "bob"]
    assert alerts(feed(eng, read(202))) == []


def test_no_quiet_limit_in_the_charter_means_no_quiet_alert() -> None:
    eng = Engine(
        [charter("agent:*", kind="delegated", tools=TOOLS, limits={"task_grace_seconds": 30})]
    )
    started(eng)
    assert alerts(feed(eng, read(100_000))) == []


def test_the_sponsor_timer_says_what_it_revokes_and_why() -> None:
    eng = engine()
    started(eng)
    feed(eng, sponsor_ended(100, AGENT, "alice"))
    [cmd] = eng.advance_watermark(at(130).timestamp()).revocations
    assert cmd.reason == (
        f"task T1 of {AGENT} is still open 30 s after its sponsor alice left: revoking it and "
        "its 1 live credential(s) proactively"
    )


def test_the_calls_own_sponsor_wins_over_its_tasks() -> None:
    eng = engine()
    started(eng)  # T1 is alice's
    feed(eng, sponsor_active(0, AGENT, "bob"), sponsor_ended(100, AGENT, "alice"))
    d = feed(eng, read(200, sponsor="bob"))  # bob is here; alice left
    assert alerts(d) == []


def test_a_sponsor_that_left_without_ever_being_seen_is_judged_only_by_the_end() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1"))  # no sponsor on the task
    feed(eng, sponsor_ended(100, AGENT, "bob"))
    assert alerts(feed(eng, read(110, sponsor="bob"))) == []  # within the grace, no crash
    [alert] = alerts(feed(eng, read(131, sponsor="bob")))
    assert alert.clause.key == "sponsor_ended"


def test_an_uncovered_delegated_agent_gets_the_default_30s_grace() -> None:
    eng = Engine([charter("agent:other-*", kind="delegated", tools=TOOLS)])
    feed(eng, task_started(0, AGENT, "T1", "alice"), sponsor_ended(100, AGENT, "alice"))
    assert alerts(feed(eng, read(130, agent_kind="delegated"))) == []
    [alert] = alerts(feed(eng, read(131, agent_kind="delegated")))
    assert alert.clause.key == "sponsor_ended"


def test_the_sponsor_timer_revokes_every_open_task_of_its_sponsor() -> None:
    eng = engine()
    feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        task_started(0, AGENT, "T2", "alice"),
        issued(0, AGENT, "c1", 3600, task_id="T1"),
        issued(0, AGENT, "c-old", 60, task_id="T2"),
        sponsor_ended(100, AGENT, "alice"),
    )
    d = eng.advance_watermark(at(131).timestamp())
    assert [(c.task_id, c.credential_ids) for c in d.revocations] == [("T1", ["c1"]), ("T2", [])]
    assert all(c.alert_ids == [] for c in d.revocations)


def test_the_sponsor_timer_waits_for_the_charters_own_grace() -> None:
    limits = {"task_grace_seconds": 60, "sponsor_quiet_seconds": 600}
    eng = Engine([charter("agent:*", kind="delegated", tools=TOOLS, limits=limits)])
    started(eng)
    feed(eng, sponsor_ended(100, AGENT, "alice"))
    assert not eng.advance_watermark(at(159).timestamp()).revocations
    [cmd] = eng.advance_watermark(at(161).timestamp()).revocations
    assert cmd.task_id == "T1"
