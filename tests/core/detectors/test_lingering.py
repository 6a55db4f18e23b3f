"""lingering_access: authority that outlives its task, TTL or revocation."""

from __future__ import annotations

from typing import Any

from monitor.core import Decision, Engine
from monitor.testing import call, charter, feed, issued, revoked, task_ended, task_started

DETECTOR = "lingering_access"
AGENT = "agent:helper-1"
TOOLS = [{"server": "fs", "tool": "read_file", "classes": ["read"]}]


def engine(kind: str = "delegated", **kw: Any) -> Engine:
    # require_jit_credentials off: calls here often carry no credential, and static_credential
    # (tested in test_static_credential.py) would add its own finding to every one
    limits = {
        "task_grace_seconds": 30,
        "credential_max_ttl": 900,
        "require_jit_credentials": False,
        **kw.pop("limits", {}),
    }
    return Engine([charter("agent:*", kind=kind, tools=TOOLS, limits=limits, **kw)])


def alerts(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR]


def read(sec: float, **kw: Any) -> Any:
    kw.setdefault("task_id", "T1")
    kw.setdefault("sponsor", "alice")
    return call(sec, AGENT, "fs", "read_file", **kw)


def started(eng: Engine, ttl: float = 600) -> None:
    feed(eng, task_started(0, AGENT, "T1", "alice"), issued(0, AGENT, "c1", ttl, task_id="T1"))


# ---------------------------------------------------------------- proactive revocation at task end


def test_task_end_revokes_every_live_credential_of_the_task_without_an_alert() -> None:
    eng = engine()
    feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        task_started(0, AGENT, "T2", "alice"),
        issued(0, AGENT, "c-live", 600, task_id="T1"),
        issued(0, AGENT, "c-live-2", 600, task_id="T1"),
        issued(0, AGENT, "c-expired", 10, task_id="T1"),
        issued(0, AGENT, "c-revoked", 600, task_id="T1"),
        issued(0, AGENT, "c-other-task", 600, task_id="T2"),
        revoked(50, AGENT, "c-revoked"),
    )
    d = eng.process(task_ended(100, AGENT, "T1", "alice"))  # no later event needed
    assert d.alerts == []
    [cmd] = d.revocations
    assert cmd.scope == "task"
    assert cmd.task_id == "T1"
    assert cmd.credential_ids == ["c-live", "c-live-2"]
    assert cmd.alert_ids == []
    assert cmd.mode == "enforce"
    assert cmd.agent_id == AGENT
    assert "T1" in cmd.reason


def test_task_end_without_live_credentials_still_revokes_the_task() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    [cmd] = eng.process(task_ended(100, AGENT, "T1", "alice")).revocations
    assert cmd.scope == "task"
    assert cmd.credential_ids == []


def test_task_end_revocation_is_observe_under_an_observe_charter() -> None:
    eng = engine(mode="observe")
    started(eng)
    [cmd] = eng.process(task_ended(100, AGENT, "T1", "alice")).revocations
    assert cmd.mode == "observe"


def test_task_end_revocation_has_a_stable_command_id() -> None:
    events = [
        task_started(0, AGENT, "T1", "alice"),
        issued(0, AGENT, "c1", 600, task_id="T1"),
        task_ended(100, AGENT, "T1", "alice"),
    ]
    first, second = feed(engine(), *events), feed(engine(), *events)
    assert [c.command_id for c in first.revocations] == [c.command_id for c in second.revocations]
    assert len(first.revocations) == 1


def test_redelivered_task_end_is_not_revoked_twice() -> None:
    eng = engine()
    started(eng)
    end = task_ended(100, AGENT, "T1", "alice")
    assert len(eng.process(end).revocations) == 1
    assert not eng.process(end).revocations


# ---------------------------------------------------------------- calls after the task ended


def test_call_after_the_grace_is_high_and_names_the_task() -> None:
    eng = engine()
    started(eng)
    end = task_ended(100, AGENT, "T1", "alice")
    late = read(131, credential_id="c1")
    d = feed(eng, end, late)
    [alert] = alerts(d)
    assert alert.severity == "high"
    assert alert.clause.key == "limits.task_grace_seconds"
    assert alert.evidence == [end.event_id, late.event_id]
    assert alert.task_id == "T1"
    assert "T1" in alert.reason
    assert "31 s" in alert.reason


def test_late_call_with_a_credential_not_yet_revoked_is_revoked_with_the_task() -> None:
    eng = engine()
    started(eng)
    feed(eng, task_ended(100, AGENT, "T1", "alice"))
    d = feed(eng, read(200, credential_id="c9"))
    [cmd] = d.revocations
    assert cmd.scope == "task"
    assert cmd.task_id == "T1"
    assert cmd.credential_ids == ["c1", "c9"]


def test_call_29s_after_task_end_is_within_a_30s_grace() -> None:
    eng = engine()
    started(eng)
    assert alerts(feed(eng, task_ended(100, AGENT, "T1", "alice"), read(129))) == []


def test_call_exactly_at_the_end_of_the_grace_is_fine() -> None:
    eng = engine()
    started(eng)
    assert alerts(feed(eng, task_ended(100, AGENT, "T1", "alice"), read(130))) == []


def test_call_with_the_ended_tasks_credential_but_no_task_id_is_lingering() -> None:
    # Gateways often log the token's jti but not the task: credential_issued ties c1 to T1.
    eng = engine()
    started(eng)
    d = feed(
        eng, task_ended(100, AGENT, "T1", "alice"), read(200, task_id=None, credential_id="c1")
    )
    [alert] = alerts(d)
    assert alert.clause.key == "limits.task_grace_seconds"
    assert alert.severity == "high"
    assert alert.task_id == "T1"


def test_call_for_another_task_after_one_ended_is_fine() -> None:
    eng = engine()
    started(eng)
    d = feed(eng, task_ended(100, AGENT, "T1", "alice"), read(500, task_id="T2"))
    assert alerts(d) == []


# ---------------------------------------------------------------- expired and revoked credentials


def test_call_with_an_expired_credential_is_high_and_revokes_it() -> None:
    eng = engine()
    started(eng, ttl=60)
    d = feed(eng, read(66, credential_id="c1"))
    [alert] = alerts(d)
    assert alert.severity == "high"
    assert alert.clause.key == "credential_expired"
    assert "c1" in alert.reason
    [cmd] = d.revocations
    assert cmd.scope == "credential"
    assert cmd.credential_ids == ["c1"]


def test_call_before_expiry_is_fine() -> None:
    eng = engine()
    started(eng, ttl=60)
    assert alerts(feed(eng, read(59, credential_id="c1"))) == []


def test_call_within_the_clock_skew_after_expiry_is_fine() -> None:
    eng = engine()
    started(eng, ttl=60)
    assert alerts(feed(eng, read(64, credential_id="c1"))) == []


def test_call_with_a_revoked_credential_is_critical() -> None:
    eng = engine()
    started(eng)
    d = feed(eng, revoked(10, AGENT, "c1"), read(16, credential_id="c1"))
    [alert] = alerts(d)
    assert alert.severity == "critical"
    assert alert.clause.key == "credential_revoked"
    assert "revoked" in alert.reason
    [cmd] = d.revocations
    assert cmd.scope == "credential"
    assert cmd.credential_ids == ["c1"]


def test_call_before_the_revocation_is_fine() -> None:
    eng = engine()
    started(eng)
    assert alerts(feed(eng, read(5, credential_id="c1"), revoked(10, AGENT, "c1"))) == []


# ---------------------------------------------------------------- issuing


def test_credential_ttl_above_the_charter_maximum_is_high_and_revoked() -> None:
    eng = engine()
    ev = issued(0, AGENT, "c-long", 960, task_id="T1")
    d = feed(eng, task_started(0, AGENT, "T1", "alice"), ev)
    [alert] = alerts(d)
    assert alert.severity == "high"
    assert alert.clause.key == "limits.credential_max_ttl"
    assert alert.evidence == [ev.event_id]
    assert "c-long" in alert.reason
    assert "16 min" in alert.reason
    assert "15 min" in alert.reason
    [cmd] = d.revocations
    assert cmd.scope == "credential"
    assert cmd.credential_ids == ["c-long"]


def test_credential_ttl_exactly_the_maximum_is_fine() -> None:
    eng = engine()
    d = feed(eng, task_started(0, AGENT, "T1", "alice"), issued(0, AGENT, "c1", 900, task_id="T1"))
    assert d.alerts == []
    assert d.revocations == []


def test_credential_issued_for_an_ended_task_is_revoked() -> None:
    eng = engine()
    started(eng)
    d = feed(eng, task_ended(100, AGENT, "T1", "alice"), issued(200, AGENT, "c5", 60, task_id="T1"))
    [alert] = alerts(d)
    assert alert.clause.key == "task"
    assert alert.severity == "high"
    assert [c.credential_ids for c in d.revocations if c.scope == "credential"] == [["c5"]]


# ---------------------------------------------------------------- no task


def test_delegated_agent_acting_outside_any_task_is_medium() -> None:
    eng = engine()
    # with a credential seen issued (no task): limits.require_jit_credentials is satisfied
    d = feed(
        eng,
        issued(0, AGENT, "c0", 600),
        call(0, AGENT, "fs", "read_file", sponsor="alice", credential_id="c0"),
    )
    [alert] = alerts(d)
    assert alert.severity == "medium"
    assert alert.clause.key == "kind"
    assert d.revocations == []


def test_autonomous_agent_without_a_task_is_fine() -> None:
    eng = engine(kind="autonomous")
    assert alerts(feed(eng, call(0, AGENT, "fs", "read_file"))) == []


# ---------------------------------------------------------------- alert ids (issue 13.12)


def test_two_calls_after_task_end_are_two_alerts_with_two_ids() -> None:
    """09:00 start, 09:05 end, calls at 09:07 and 09:20: two findings, two alert ids.

    The id hashed only the first evidence event (the ``task_ended``), so every later
    call shared it and a SIEM deduplicating on ``alert_id`` dropped the second alert.
    """
    events = [
        task_started(0, AGENT, "T1", "alice", event_id="start"),
        issued(0, AGENT, "c1", 600, task_id="T1", event_id="iss"),
        task_ended(300, AGENT, "T1", "alice", event_id="end"),
        read(420, event_id="call-0907"),
        read(1200, event_id="call-0920"),
    ]
    eng = engine()
    late = [alerts(eng.process(ev)) for ev in events]
    first, second = late[3], late[4]
    assert len(first) == len(second) == 1
    assert first[0].evidence == ["end", "call-0907"] and second[0].evidence == ["end", "call-0920"]
    assert first[0].alert_id != second[0].alert_id
    # redelivery of the same events (a fresh engine: a replay) gives the same ids
    again = engine()
    ids = [a.alert_id for ev in events for a in alerts(again.process(ev))]
    assert ids == [first[0].alert_id, second[0].alert_id]


# ---------------------------------------------------------------- boundaries and the alert's ids


def test_a_revoked_credential_is_forgiven_up_to_exactly_the_clock_skew() -> None:
    eng = engine()
    started(eng)
    feed(eng, revoked(10, AGENT, "c1"))
    assert alerts(feed(eng, read(12.5, credential_id="c1"))) == []  # inside the 5 s skew
    assert alerts(feed(eng, read(15, credential_id="c1"))) == []  # exactly revocation + skew
    [alert] = alerts(feed(eng, read(15.5, credential_id="c1")))
    assert alert.clause.key == "credential_revoked"


def test_an_expired_credential_is_forgiven_up_to_exactly_the_clock_skew() -> None:
    eng = engine()
    started(eng, ttl=60)
    assert alerts(feed(eng, read(65, credential_id="c1"))) == []  # exactly expiry + skew
    [alert] = alerts(feed(eng, read(65.5, credential_id="c1")))
    assert alert.clause.key == "credential_expired"


def test_a_revoked_credentials_alert_names_the_calls_task_and_session() -> None:
    eng = engine()
    started(eng)
    d = feed(eng, revoked(10, AGENT, "c1"), read(16, credential_id="c1", session_id="s-9"))
    [alert] = alerts(d)
    assert (alert.task_id, alert.session_id) == ("T1", "s-9")


def test_an_expired_credentials_alert_names_the_calls_task_and_session() -> None:
    eng = engine()
    started(eng, ttl=60)
    [alert] = alerts(feed(eng, read(66, credential_id="c1", session_id="s-9")))
    assert (alert.task_id, alert.session_id) == ("T1", "s-9")


def test_a_revoked_credentials_alert_says_what_happened_in_words() -> None:
    eng = engine()
    started(eng)
    [alert] = alerts(feed(eng, revoked(10, AGENT, "c1"), read(16, credential_id="c1")))
    assert alert.clause.text == "a revoked credential grants nothing"
    assert alert.reason == (
        f"{AGENT} called fs/read_file with credential c1 6 s after it was revoked: "
        "revocation is not being enforced"
    )


def test_an_expired_credentials_alert_says_what_happened_in_words() -> None:
    eng = engine()
    started(eng, ttl=60)
    [alert] = alerts(feed(eng, read(66, credential_id="c1")))
    assert alert.clause.text == "an expired credential grants nothing"
    assert alert.reason == f"{AGENT} called fs/read_file with credential c1 6 s after it expired"


def test_each_revoked_credential_in_use_is_its_own_alert() -> None:
    eng = engine()
    started(eng)
    feed(eng, issued(0, AGENT, "c2", 600, task_id="T1"))
    feed(eng, revoked(10, AGENT, "c1"), revoked(10, AGENT, "c2"))
    d = feed(eng, read(20, credential_id="c1"), read(21, credential_id="c2"))
    assert [a.clause.key for a in alerts(d)] == ["credential_revoked"] * 2
    assert [cmd.credential_ids for cmd in d.revocations] == [["c1"], ["c2"]]
    # the same credential again is the same alert (counted, not repeated)
    assert alerts(feed(eng, read(22, credential_id="c1"))) == []


def test_each_expired_credential_in_use_is_its_own_alert() -> None:
    eng = engine()
    feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        issued(0, AGENT, "c1", 60, task_id="T1"),
        issued(0, AGENT, "c2", 60, task_id="T1"),
    )
    d = feed(eng, read(70, credential_id="c1"), read(71, credential_id="c2"))
    assert [a.clause.key for a in alerts(d)] == ["credential_expired"] * 2
    assert alerts(feed(eng, read(72, credential_id="c1"))) == []


# ---------------------------------------------------------------- issuing: boundaries, words, details


def test_a_ttl_is_forgiven_up_to_exactly_the_maximum_plus_the_skew() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    assert alerts(feed(eng, issued(0, AGENT, "c1", 905, task_id="T1"))) == []
    [alert] = alerts(feed(eng, issued(0, AGENT, "c2", 905.5, task_id="T1")))
    assert alert.clause.key == "limits.credential_max_ttl"


def test_a_long_ttl_alert_names_its_task_and_the_exact_ttl() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    [alert] = alerts(feed(eng, issued(0, AGENT, "c1", 960.2504, task_id="T1")))
    assert alert.task_id == "T1"
    assert alert.clause.text == "credentials live at most 15 min"
    assert alert.reason == (
        f"credential c1 for {AGENT} was issued with a TTL of 16 min, above the charter maximum "
        "of 15 min"
    )
    assert alert.details == {"ttl_seconds": 960.25, "max_ttl_seconds": 900}


def test_each_long_lived_credential_is_its_own_alert() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    d = feed(eng, issued(0, AGENT, "c1", 2000, task_id="T1"), issued(1, AGENT, "c2", 2000))
    assert [a.clause.key for a in alerts(d)] == ["limits.credential_max_ttl"] * 2
    assert [c.credential_ids for c in d.revocations] == [["c1"], ["c2"]]


def test_a_credential_issued_after_its_task_ended_is_forgiven_up_to_exactly_the_skew() -> None:
    eng = engine()
    started(eng)
    feed(eng, task_ended(100, AGENT, "T1", "alice"))
    assert alerts(feed(eng, issued(105, AGENT, "c5", 60, task_id="T1"))) == []
    assert len(alerts(feed(eng, issued(105.5, AGENT, "c6", 60, task_id="T1")))) == 1


def test_a_credential_issued_after_its_task_ended_says_so_with_both_events() -> None:
    eng = engine()
    started(eng)
    end = task_ended(100, AGENT, "T1", "alice")
    late = issued(200, AGENT, "c5", 60, task_id="T1")
    [alert] = alerts(feed(eng, end, late))
    assert alert.clause.text == "authority ends when the task ends"
    assert alert.reason == (
        f"credential c5 was issued to {AGENT} for task T1 100 s after the task ended"
    )
    assert alert.evidence == [end.event_id, late.event_id]
    assert alert.task_id == "T1"
    # each late credential is its own alert
    assert len(alerts(feed(eng, issued(201, AGENT, "c6", 60, task_id="T1")))) == 1


def test_a_credential_for_an_open_or_unknown_task_is_fine() -> None:
    eng = engine()
    started(eng)
    d = feed(eng, issued(200, AGENT, "c5", 60, task_id="T1"), issued(200, AGENT, "c6", 60, "T9"))
    assert alerts(d) == []


# ---------------------------------------------------------------- calls after the task: words


def test_a_call_after_its_task_ended_says_so_in_words_with_the_seconds() -> None:
    eng = engine()
    started(eng)
    feed(eng, task_ended(100, AGENT, "T1", "alice"))
    [alert] = alerts(feed(eng, read(131.2504, session_id="s-1")))
    assert alert.clause.text == "authority ends with the task (+30 s grace)"
    assert alert.reason == (
        f"{AGENT} called fs/read_file 31 s after its task T1 ended (grace 30 s)"
    )
    assert alert.details == {"seconds_after_end": 31.25}  # to the millisecond
    assert alert.session_id == "s-1"


def test_each_ended_task_a_call_lingers_in_is_its_own_alert() -> None:
    eng = engine()
    feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        task_started(0, AGENT, "T2", "alice"),
        task_ended(100, AGENT, "T1", "alice"),
        task_ended(100, AGENT, "T2", "alice"),
    )
    d = feed(eng, read(200), read(201, task_id="T2"))
    assert [a.task_id for a in alerts(d)] == ["T1", "T2"]
    assert alerts(feed(eng, read(202))) == []


def test_a_charterless_task_gets_the_default_30s_grace() -> None:
    eng = Engine([charter("agent:other-*", kind="delegated", tools=TOOLS)])
    feed(eng, task_started(0, AGENT, "T1", "alice"), task_ended(100, AGENT, "T1", "alice"))
    assert [a for a in alerts(feed(eng, read(130))) if a.clause.key != "kind"] == []
    late = [a for a in alerts(feed(eng, read(131))) if a.clause.key != "kind"]
    assert [a.clause.key for a in late] == ["limits.task_grace_seconds"]


def test_a_grace_below_the_skew_is_the_skew_not_their_sum() -> None:
    eng = engine(limits={"task_grace_seconds": 2})
    started(eng)
    feed(eng, task_ended(100, AGENT, "T1", "alice"))
    assert alerts(feed(eng, read(105))) == []
    assert len(alerts(feed(eng, read(106)))) == 1


# ---------------------------------------------------------------- task end: routine revocation


def test_the_task_end_revocation_says_how_many_credentials_it_ends() -> None:
    eng = engine()
    feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        issued(0, AGENT, "c1", 600, task_id="T1"),
        issued(0, AGENT, "c2", 600, task_id="T1"),
    )
    [cmd] = eng.process(task_ended(100, AGENT, "T1", "alice")).revocations
    assert cmd.reason == (
        f"task T1 of {AGENT} ended: revoking its 2 live credential(s) proactively"
    )


def test_every_task_that_ends_is_revoked_even_moments_apart() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"), task_started(0, AGENT, "T2", "alice"))
    d = feed(eng, task_ended(100, AGENT, "T1", "alice"), task_ended(101, AGENT, "T2", "alice"))
    assert [c.task_id for c in d.revocations] == ["T1", "T2"]


def test_a_late_call_revokes_every_credential_the_task_ever_had_even_expired_ones() -> None:
    eng = engine()
    started(eng, ttl=60)  # c1 expires at 60
    feed(eng, issued(0, AGENT, "c2", 600, task_id="T1"), task_ended(100, AGENT, "T1", "alice"))
    d = feed(eng, read(700))  # c2 expired too by now
    [alert] = alerts(d)  # (static_credential also revokes the agent: a call without a credential)
    [cmd] = [c for c in d.revocations if alert.alert_id in c.alert_ids]
    assert (cmd.scope, cmd.credential_ids) == ("task", ["c1", "c2"])


def test_a_delegated_call_outside_any_task_says_so_and_names_its_session() -> None:
    eng = engine()
    c = call(0, AGENT, "fs", "read_file", sponsor="alice", session_id="s-1")
    [alert] = alerts(feed(eng, c))
    assert alert.clause.text == "delegated authority is bound to one task"
    assert alert.reason == f"delegated agent {AGENT} called fs/read_file outside any task"
    assert alert.session_id == "s-1"
    assert alert.evidence == [c.event_id]
    # one alert per dedup window, not one per call
    assert alerts(feed(eng, call(1, AGENT, "fs", "read_file", sponsor="alice"))) == []
