"""fan_out: many distinct recipients, tools or servers in a window, against habit."""

from __future__ import annotations

from typing import Any

from monitor.core import Decision, Engine
from monitor.core.state import AgentState
from monitor.testing import call, charter, feed

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
    assert len(st.behav[DETECTOR][0]) <= 96 and sum(st.behav[DETECTOR][1]) == len(
        st.behav[DETECTOR][0]
    )
    assert AgentState.restore(st.snapshot()).snapshot() == st.snapshot()
