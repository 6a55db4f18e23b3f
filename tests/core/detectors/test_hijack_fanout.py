"""fan_out: many distinct recipients, tools or servers in a window, against habit."""

from __future__ import annotations

from typing import Any

from monitor.core import Decision, Engine
from monitor.core.engine import EngineSettings
from monitor.core.state import AgentState
from monitor.testing import at, call, charter, feed

DETECTOR = "fan_out"
AGENT = "agent:mailer-1"


def engine(**hijack: Any) -> Engine:
    return Engine([charter("agent:*", tools=[{"server": "*", "tool": "*"}],
                           hijack={"warmup_calls": 20, **hijack})])  # fmt: skip


def alerts(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR]


def habit(days: int = 3) -> list[Any]:
    """Each hour: read mail, reply to one of two colleagues."""
    out = []
    for h in range(days * 24):
        t = h * 3600.0
        out.append(call(t, AGENT, "mail", "read_inbox"))
        out.append(call(t + 5, AGENT, "mail", "send_email",
                        args={"to": f"colleague{h % 2}@corp.example", "body": "ok"}))  # fmt: skip
    return out


def burst(n: int, t0: float = 10 * 86400) -> list[Any]:
    return [call(t0 + 10 * i, AGENT, "mail", "send_email", credential_id="c1",
                 args={"to": [f"person{i}@gmail.example"], "body": "see link"})
            for i in range(n)]  # fmt: skip


def test_nine_new_recipients_in_minutes_is_medium() -> None:
    events = habit() + burst(9)
    d = feed(engine(), *events)
    [alert] = alerts(d)
    # the 8th distinct recipient reaches the floor (habit: one per window); the 9th is deduplicated
    assert alert.severity == "medium" and alert.evidence == [events[-2].event_id]
    assert alert.details == {"kind": "recipients", "distinct": 8, "habit": 1}


def test_below_the_floor_or_within_habit_is_quiet() -> None:
    """Near misses: 7 recipients (floor 8); 9 recipients for an agent whose habit is 6."""
    assert alerts(feed(engine(), *habit(), *burst(7))) == []
    big = []
    for day in range(3):  # bursts of six every day
        big += burst(6, t0=day * 86400.0)
    big = [e.model_copy(update={"event_id": f"b{i}"}) for i, e in enumerate(big)]
    assert alerts(feed(engine(), *habit(1), *big, *burst(9))) == []


def test_warmup_and_many_tools() -> None:
    assert alerts(feed(engine(warmup_calls=100), *burst(12, t0=0))) == []
    eng = engine()
    feed(eng, *habit(1))
    tools = [call(90000 + i, AGENT, f"srv{i % 3}", f"tool{i}") for i in range(16)]
    [alert] = alerts(feed(eng, *tools))
    assert alert.details["kind"] == "tools"


def test_state_is_bounded_and_round_trips() -> None:
    eng = engine()
    feed(eng, *habit(1), *burst(500, t0=200000))
    st = eng.states[AGENT]
    assert len(st.sections[DETECTOR][0]) <= 96 and sum(st.sections[DETECTOR][1]) == len(
        st.sections[DETECTOR][0]
    )
    assert AgentState.restore(st.snapshot()).snapshot() == st.snapshot()


# ------------------------------------------------ exact values (mutation tests, mut7)


def test_the_alert_word_for_word() -> None:
    events = [e.model_copy(update={"session_id": "s9", "task_id": "t9"}) for e in burst(9)]
    d = feed(engine(fan_out_window_seconds=150), *habit(), *events)
    [a] = alerts(d)
    assert a.reason == (
        "agent:mailer-1 reached 8 distinct recipients within 150 s (its most so far: 1), "
        "the last with mail/send_email: fanning out"
    )
    assert (a.clause.key, a.clause.text) == (
        "hijack.fan_out_min_distinct",
        "distinct recipients in 150 s stay near the agent's habit",
    )
    assert (a.severity, a.score, a.task_id, a.session_id) == ("medium", 0.7, "t9", "s9")
    assert a.details == {"kind": "recipients", "distinct": 8, "habit": 1}


def _fresh(*events: Any, **hijack: Any) -> list[Any]:
    """A new agent, no warm-up, the lowest floor (2; 4 tools): only the habit (0) can hold a
    burst back."""
    eng = Engine([charter("agent:*", tools=[{"server": "*", "tool": "*"}],
                          hijack={"warmup_calls": 0, "fan_out_min_distinct": 2, **hijack})])  # fmt: skip
    return alerts(feed(eng, *events))


def test_a_new_agent_starts_with_no_habit() -> None:
    """Habit 0 puts the bar at 0 x factor + 1 = 1, under the floor: the floor decides."""
    two = call(0, AGENT, "mail", "send_email", args={"to": ["a@x.example", "b@x.example"]})
    [a] = _fresh(two)
    assert a.details == {"kind": "recipients", "distinct": 2, "habit": 0}
    servers = [call(i, AGENT, f"srv{i}", "ping") for i in range(2)]
    [a] = _fresh(*servers)
    assert a.details == {"kind": "servers", "distinct": 2, "habit": 0}
    tools = [call(i, AGENT, "srv", f"tool{i}") for i in range(4)]
    [a] = _fresh(*tools, fan_out_habit_factor=4)
    assert a.details == {"kind": "tools", "distinct": 4, "habit": 0}


def test_a_call_whose_only_arguments_are_recipients_counts_them() -> None:
    two = call(0, AGENT, "mail", "send_email", args={"to": "a@x.example", "cc": "b@x.example"})
    [a] = _fresh(two)
    assert a.details["kind"] == "recipients" and a.details["distinct"] == 2


def test_a_recipient_exactly_one_window_old_still_counts() -> None:
    """The window holds what was seen at or after now - window (event seconds)."""
    sends = [call(t, AGENT, "mail", "send_email", args={"to": f"p{i}@x.example"})
             for i, t in enumerate([0, 100, 300])]  # fmt: skip
    eng = Engine([charter("agent:*", tools=[{"server": "*", "tool": "*"}],
                          hijack={"warmup_calls": 0, "fan_out_min_distinct": 3})])  # fmt: skip
    [a] = alerts(feed(eng, *sends))
    assert a.details == {"kind": "recipients", "distinct": 3, "habit": 0}
    eng = Engine([charter("agent:*", tools=[{"server": "*", "tool": "*"}],
                          hijack={"warmup_calls": 0, "fan_out_min_distinct": 3})])  # fmt: skip
    late = sends[2].model_copy(update={"ts": at(301)})
    assert alerts(feed(eng, *sends[:2], late)) == []


def _fresh_engine(settings: EngineSettings | None = None) -> Engine:
    return Engine([charter("agent:*", tools=[{"server": "*", "tool": "*"}],
                           hijack={"warmup_calls": 0, "fan_out_min_distinct": 2})],
                  settings)  # fmt: skip


def test_a_burst_within_one_second_does_not_raise_its_own_bar() -> None:
    """Two recipients in the epoch's first second: still one epoch, habit 0, fires."""
    sends = [call(5, AGENT, "mail", "send_email", args={"to": f"p{i}@x.example"})
             for i in range(2)]  # fmt: skip
    [a] = alerts(feed(_fresh_engine(), *sends))
    assert a.details == {"kind": "recipients", "distinct": 2, "habit": 0}


def test_an_epoch_lasts_exactly_one_window() -> None:
    """A call exactly one window after the epoch began is still in it: what the epoch
    reached has not yet become habit, so two recipients fire."""
    sends = [call(t, AGENT, "mail", "send_email", args={"to": f"p{t}@x.example"})
             for t in (0, 300)]  # fmt: skip
    [a] = alerts(feed(_fresh_engine(), *sends))
    assert a.details == {"kind": "recipients", "distinct": 2, "habit": 0}


def test_medium_revokes_the_credential_when_the_operator_says_so() -> None:
    events = [e.model_copy(update={"session_id": "s9"}) for e in burst(9)]
    eng = Engine(
        [charter("agent:*", tools=[{"server": "*", "tool": "*"}], hijack={"warmup_calls": 20})],
        EngineSettings(revoke_min_severity="medium"),
    )
    d = feed(eng, *habit(), *events)
    [cmd] = d.revocations
    assert (cmd.scope, cmd.credential_ids) == ("credential", ["c1"])


def test_each_kind_is_deduplicated_on_its_own() -> None:
    """A recipients alert does not swallow a tools alert that follows within the dedup time."""
    eng = _fresh_engine(EngineSettings(alert_dedup_seconds=3600))
    first = call(0, AGENT, "mail", "send_email", args={"to": ["a@x.example", "b@x.example"]})
    tools = [call(400 + i, AGENT, "srv", f"tool{i}") for i in range(4)]
    got = alerts(feed(eng, first, *tools))
    assert [a.details["kind"] for a in got] == ["recipients", "tools"]


def test_an_epoch_without_recipients_leaves_the_recipient_habit_at_0() -> None:
    first = call(0, AGENT, "srv", "ping")  # epoch 1: one tool, one server, no recipient
    sends = [call(400 + i, AGENT, "mail", "send_email", args={"to": f"p{i}@x.example"})
             for i in range(2)]  # fmt: skip
    [a] = alerts(feed(_fresh_engine(), first, *sends))
    assert a.details == {"kind": "recipients", "distinct": 2, "habit": 0}


def test_recipients_of_a_low_impact_call_are_not_counted() -> None:
    look = call(0, AGENT, "crm", "get_user", args={"user": ["a@x.example", "b@x.example"]})
    assert alerts(feed(_fresh_engine(), look)) == []


def test_the_window_keeps_exactly_96_entries() -> None:
    eng = engine()
    feed(eng, *[e.model_copy(update={"ts": at(i)}) for i, e in enumerate(burst(200))])
    win = eng.states[AGENT].sections[DETECTOR][0]
    assert len(win) == 96 and sum(eng.states[AGENT].sections[DETECTOR][1]) == 96


def test_the_bar_is_habit_times_factor_plus_one() -> None:
    """Habit 7 (a colleague and six people in the first hour), factor 2: 14 distinct
    recipients are quiet, the 15th fires."""
    big = []
    for day in range(3):  # bursts of six every day
        big += burst(6, t0=day * 86400.0)
    big = [e.model_copy(update={"event_id": f"b{i}"}) for i, e in enumerate(big)]
    assert alerts(feed(engine(), *habit(1), *big, *burst(14))) == []
    [a] = alerts(feed(engine(), *habit(1), *big, *burst(15)))
    assert a.details == {"kind": "recipients", "distinct": 15, "habit": 7}


def test_the_warmup_calls_themselves_never_fire() -> None:
    sends = [call(i, AGENT, "mail", "send_email", args={"to": f"p{i}@x.example"})
             for i in range(3)]  # fmt: skip
    eng = Engine([charter("agent:*", tools=[{"server": "*", "tool": "*"}],
                          hijack={"warmup_calls": 2, "fan_out_min_distinct": 2})])  # fmt: skip
    [a] = alerts(feed(eng, *sends))
    assert a.evidence == [sends[2].event_id] and a.details["distinct"] == 3


def test_an_epoch_that_fired_does_not_become_habit() -> None:
    burst1 = call(
        0, AGENT, "mail", "send_email", args={"to": [f"a{i}@x.example" for i in range(3)]}
    )
    burst2 = call(400, AGENT, "mail", "send_email", args={"to": ["d@x.example", "e@x.example"]})
    got = alerts(feed(_fresh_engine(), burst1, burst2))
    assert [a.details for a in got] == [
        {"kind": "recipients", "distinct": 3, "habit": 0},
        {"kind": "recipients", "distinct": 2, "habit": 0},
    ]
