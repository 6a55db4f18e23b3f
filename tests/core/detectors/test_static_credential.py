"""static_credential: limits.require_jit_credentials (a call without a credential seen issued)."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.charter import Limits
from monitor.core import Decision, Engine, EngineSettings
from monitor.testing import call, charter, feed, issued, task_started

DETECTOR = "static_credential"
AGENT = "agent:helper-1"
TOOLS = [{"server": "fs", "tool": "read_file", "classes": ["read"]}]


def engine(kind: str = "delegated", lateness: float = 0.0, **limits: Any) -> Engine:
    return Engine(
        [charter("agent:*", kind=kind, tools=TOOLS, limits=limits)],
        EngineSettings(clock_skew_seconds=5.0, allowed_lateness_seconds=lateness),
    )


def found(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR and a.agent_id == AGENT]


def read(sec: float, cred: str | None, **kw: Any) -> Any:
    kw.setdefault("task_id", "T1")
    kw.setdefault("sponsor", "alice")
    return call(sec, AGENT, "fs", "read_file", credential_id=cred, **kw)


def later(sec: float) -> Any:
    """Another agent's event: moves event time (and the watermark) on."""
    return call(sec, "agent:other", "fs", "read_file", task_id="T9")


def test_default_is_true_for_delegated_false_for_autonomous() -> None:
    assert Limits().jit_required("delegated") is True
    assert Limits().jit_required("autonomous") is False
    assert Limits(require_jit_credentials=True).jit_required("autonomous") is True
    assert Limits(require_jit_credentials=False).jit_required("delegated") is False


def test_call_with_no_credential_fires_at_once_high_and_revokes_in_enforce() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    d = eng.process(read(10, None, session_id="s1", event_id="nocred"))
    [a] = found(d)
    assert a.severity == "high"
    assert a.evidence == ["nocred"]
    assert a.clause.key == "limits.require_jit_credentials"
    assert "without any credential" in a.reason and "REDACTED" not in a.reason
    [cmd] = [r for r in d.revocations if DETECTOR in r.reason or a.alert_id in r.alert_ids]
    assert cmd.mode == "enforce" and cmd.scope == "session"


def test_static_key_never_issued_fires_once_the_skew_has_passed() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    d = eng.process(read(10, "sk-static-service-key", event_id="static"))
    assert found(d) == []  # not yet: an issuer may be a little behind
    d = eng.process(later(16))  # the watermark passes call + skew
    [a] = found(d)
    assert a.severity == "high" and a.evidence == ["static"]
    assert "never seen issued" in a.reason
    [cmd] = [r for r in d.revocations if r.agent_id == AGENT]
    assert cmd.scope == "credential" and cmd.credential_ids == ["sk-static-service-key"]
    assert cmd.mode == "enforce"


def test_observe_mode_alerts_but_commands_only_in_observe() -> None:
    eng = Engine([charter("agent:*", kind="delegated", tools=TOOLS, mode="observe")])
    d = feed(eng, task_started(0, AGENT, "T1", "alice"), read(10, "static"), later(20))
    [a] = found(d)
    assert a.mode == "observe"
    assert d.revocations and all(r.mode == "observe" for r in d.revocations)


def test_near_miss_credential_issued_just_before_the_call() -> None:
    eng = engine()
    d = feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        issued(9.9, AGENT, "jit-1", 300, task_id="T1"),
        read(10, "jit-1"),
        later(100),
    )
    assert found(d) == []


def test_near_miss_second_issuer_stamps_the_credential_after_the_call_within_skew() -> None:
    """Issuer B's clock runs 3 s behind the gateway's: its issue event is stamped after the call."""
    eng = engine()
    d = feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        read(10, "jit-b"),
        issued(13, AGENT, "jit-b", 300, task_id="T1"),
        later(100),
    )
    assert found(d) == []


def test_near_miss_issue_event_arrives_late_but_within_the_allowed_lateness() -> None:
    """Delivered 30 s after the call (pipeline delay); lateness 60 s: applied in event-time order."""
    eng = engine(lateness=60)
    d = feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        read(10, "jit-late"),
        later(40),  # 30 s of other traffic before the issue event arrives
        issued(8, AGENT, "jit-late", 300, task_id="T1"),
        later(200),
    )
    d = d.merged(eng.drain())
    assert found(d) == []
    assert [a for a in d.alerts if a.detector == "late_event"] == []


def test_issued_after_the_skew_is_still_static() -> None:
    eng = engine()
    d = feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        read(10, "k"),
        issued(14, AGENT, "k-other", 300, task_id="T1"),
        later(15.5),  # watermark 15.5 > 10 + 5
    )
    [a] = found(d)
    assert "never seen issued" in a.reason


def test_issue_arriving_after_the_deadline_does_not_undo_the_alert() -> None:
    eng = engine(lateness=10)
    d = feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        read(10, "k"),
        later(40),  # watermark 30: the timer at 15 fired
    )
    assert len(found(d)) == 1


def test_autonomous_without_the_key_is_not_checked_but_can_opt_in() -> None:
    calls = [read(10, None, task_id=None, sponsor=None), read(11, "static", task_id=None)]
    d = feed(engine(kind="autonomous"), *calls, later(30))
    assert found(d) == []
    d = feed(engine(kind="autonomous", require_jit_credentials=True), *calls, later(30))
    assert len(found(d)) == 2


def test_delegated_can_opt_out() -> None:
    d = feed(engine(require_jit_credentials=False), read(10, None), read(11, "static"), later(30))
    assert found(d) == []


def test_many_calls_with_one_static_key_hold_one_timer_and_alert_once() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    for i in range(20):
        eng.process(read(10 + i * 0.1, "static"))
    st = eng.states[AGENT]
    assert len([t for t in st.timers if t[1] == DETECTOR]) == 1
    assert len(found(eng.process(later(30)))) == 1


@pytest.mark.parametrize("n", [10])
def test_a_flood_of_unknown_keys_cannot_crowd_out_other_timers(n: int) -> None:
    """Beyond MAX_WAITING waiting keys a call is judged at once, not queued."""
    from monitor.core.detectors.static_credential import MAX_WAITING

    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    d = feed(eng, *[read(10, f"k{i}") for i in range(n)])
    st = eng.states[AGENT]
    assert len([t for t in st.timers if t[1] == DETECTOR]) == MAX_WAITING
    assert len(found(d)) == n - MAX_WAITING
    assert len(found(eng.process(later(30)))) == MAX_WAITING


# ---------------------------------------------------------------- what the findings say


def test_a_call_without_a_credential_says_so_and_names_its_task_and_session() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    [a] = found(eng.process(read(10, None, session_id="s1", event_id="e1")))
    assert a.reason == (
        f"{AGENT} (delegated) called fs/read_file without any credential, "
        "yet its charter requires a just-in-time one on every call"
    )
    assert (
        a.clause.text == "every call carries a just-in-time credential seen issued; no static keys"
    )
    assert a.details == {"credential": "none"}
    assert (a.task_id, a.session_id, a.evidence) == ("T1", "s1", ["e1"])
    # one alert per dedup window, however many calls come without one
    assert found(eng.process(read(11, None, session_id="s1"))) == []


def test_a_key_never_issued_says_so_and_names_the_key_task_and_session() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    feed(eng, read(10, "sk-live-1", session_id="s1", event_id="e1"))
    [a] = found(eng.process(later(16)))
    assert a.reason == (
        f"{AGENT} (delegated) called a tool with credential sk-live-1, which was never seen "
        "issued (a static or long-lived key): its charter requires just-in-time credentials"
    )
    assert (
        a.clause.text == "every call carries a just-in-time credential seen issued; no static keys"
    )
    assert a.details == {"credential_id": "sk-live-1", "issued": False}
    assert (a.task_id, a.session_id, a.evidence) == ("T1", "s1", ["e1"])


def test_each_unknown_key_alerts_once_and_a_later_use_of_it_does_not_again() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    d = feed(eng, read(10, "k1"), read(10.5, "k2"), later(16))
    assert sorted(a.details["credential_id"] for a in found(d)) == ["k1", "k2"]
    d = feed(eng, read(20, "k1"), later(30))
    assert found(d) == []


def test_the_timer_waits_the_skew_and_not_a_moment_less() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"), read(10, "k"))
    assert found(eng.process(later(14.9))) == []
    assert len(found(eng.process(later(15.1)))) == 1


def test_a_charter_that_drops_the_requirement_before_the_deadline_silences_the_timer() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"), read(10, "k"))
    eng.charters.put(
        charter("agent:*", kind="delegated", tools=TOOLS, limits={"require_jit_credentials": False})
    )
    assert found(feed(eng, later(30))) == []


def test_another_detectors_timer_does_not_count_as_a_waiting_key() -> None:
    from monitor.core.detectors.static_credential import MAX_WAITING

    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    st = eng.states[AGENT]
    for i in range(3):
        st.set_timer(1000 + i, "some_other_detector", f"x{i}")
    d = feed(eng, *[read(10, f"k{i}") for i in range(MAX_WAITING)])
    assert found(d) == []  # all four wait: the other timers are not ours
    assert len([t for t in st.timers if t[1] == DETECTOR]) == MAX_WAITING


def test_a_flood_beyond_the_waiting_limit_is_judged_at_once_with_its_own_words() -> None:
    from monitor.core.detectors.static_credential import MAX_WAITING

    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"))
    d = feed(eng, *[read(10, f"k{i}", event_id=f"e{i}") for i in range(MAX_WAITING + 1)])
    [a] = found(d)
    assert a.details == {"credential_id": f"k{MAX_WAITING}", "issued": False}
    assert a.evidence == [f"e{MAX_WAITING}"] and a.task_id == "T1"
    assert "which was never seen issued" in a.reason


def test_a_credential_issued_exactly_at_the_deadline_is_in_time() -> None:
    """Found by mutation testing: the timer at call + skew fired before the issue event
    stamped at that same instant was applied, so the credential was called static."""
    eng = engine()
    d = feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        read(10, "jit-edge"),
        issued(15, AGENT, "jit-edge", 300, task_id="T1"),
        later(100),
    )
    assert found(d) == []


def test_a_credential_seen_issued_costs_no_timer() -> None:
    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"), issued(1, AGENT, "jit-1", 300, task_id="T1"))
    feed(eng, read(10, "jit-1"))
    assert [t for t in eng.states[AGENT].timers if t[1] == DETECTOR] == []


def test_a_credential_only_ever_seen_revoked_was_never_seen_issued() -> None:
    from monitor.testing import revoked

    eng = engine()
    feed(eng, task_started(0, AGENT, "T1", "alice"), revoked(1, AGENT, "old-key"))
    [a] = found(feed(eng, read(10, "old-key"), later(16)))
    assert a.details == {"credential_id": "old-key", "issued": False}


def test_a_credential_issued_just_after_the_deadline_is_late_and_says_by_how_much() -> None:
    """The timer fires DEADLINE_SLACK after call + skew, so an issue stamped inside that last
    millisecond is in the ledger when judged: later than the skew allows, and said so."""
    eng = engine()
    d = feed(
        eng,
        task_started(0, AGENT, "T1", "alice"),
        read(10, "jit-late", session_id="s1", event_id="e1"),
        issued(15.0005, AGENT, "jit-late", 300, task_id="T1"),
        later(100),
    )
    [a] = found(d)
    assert a.reason == (
        f"{AGENT} (delegated) called a tool with credential jit-late, which was issued only 5 s "
        "after it was used (a static or long-lived key): its charter requires just-in-time "
        "credentials"
    )
    assert a.details == {"credential_id": "jit-late", "issued": True}
