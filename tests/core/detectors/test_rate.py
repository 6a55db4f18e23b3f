"""rate_limit: more calls in a sliding minute than the charter allows."""

from __future__ import annotations

import random
from typing import Any

import pytest

from monitor.core import Decision, Engine
from monitor.core.detectors.base import CallContext
from monitor.core.detectors.rate import RateLimit
from monitor.core.policy import CompiledCharter
from monitor.core.state import AgentState
from monitor.testing import call, charter, feed

DETECTOR = "rate_limit"
AGENT = "agent:poller-1"
TOOLS = [{"server": "fleet", "tool": "list_hosts", "classes": ["read"]}]


def engine(limit: int | None = 5) -> Engine:
    limits = {} if limit is None else {"max_calls_per_minute": limit}
    return Engine([charter("agent:*", tools=TOOLS, limits=limits)])


def alerts(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR]


def calls(*secs: float, agent: str = AGENT) -> list[Any]:
    return [call(s, agent, "fleet", "list_hosts", credential_id="c1") for s in secs]


def test_exactly_max_calls_per_minute_is_fine() -> None:
    assert alerts(feed(engine(), *calls(0, 1, 2, 3, 4))) == []


def test_one_call_over_the_limit_is_medium_without_revocation() -> None:
    over = calls(0, 1, 2, 3, 4, 5)
    d = feed(engine(), *over)
    [alert] = alerts(d)
    assert alert.severity == "medium"
    assert alert.clause.key == "limits.max_calls_per_minute"
    assert alert.evidence == [over[-1].event_id]
    assert "6 calls" in alert.reason
    assert "5" in alert.reason
    assert alert.details["calls_last_minute"] == 6
    assert d.revocations == []


def test_window_is_a_sliding_minute() -> None:
    assert len(alerts(feed(engine(), *calls(0, 0, 0, 0, 0, 59)))) == 1


def test_calls_a_full_minute_apart_are_not_counted_together() -> None:
    assert alerts(feed(engine(), *calls(0, 0, 0, 0, 0, 60))) == []


def test_a_burst_raises_one_alert_per_dedup_window() -> None:
    assert len(alerts(feed(engine(), *calls(*[0.1 * i for i in range(20)])))) == 1


def test_a_second_burst_after_the_dedup_window_raises_a_second_alert() -> None:
    burst = [0.1 * i for i in range(6)]
    d = feed(engine(), *calls(*burst), *calls(*[400 + s for s in burst]))
    assert len(alerts(d)) == 2


def test_the_limit_is_per_agent() -> None:
    d = feed(engine(), *calls(0, 1, 2, 3, 4), *calls(0, 1, 2, 3, 4, agent="agent:poller-2"))
    assert alerts(d) == []


def test_no_limit_in_the_charter_means_no_rate_alert() -> None:
    assert alerts(feed(engine(limit=None), *calls(*[0.01 * i for i in range(50)]))) == []


def test_a_rate_alert_says_how_many_calls_and_the_limit_in_words() -> None:
    over = [call(s, AGENT, "fleet", "list_hosts", task_id="T1", session_id="s-1") for s in range(6)]
    [alert] = alerts(feed(engine(), *over))
    assert alert.clause.text == "at most 5 calls a minute"
    assert alert.reason == (
        f"{AGENT} made 6 calls in the last minute, above its charter's limit of 5"
    )
    assert alert.details == {"calls_last_minute": 6, "limit": 5}
    assert (alert.task_id, alert.session_id) == ("T1", "s-1")


def _window_counts(times: list[float]) -> list[int | None]:
    """What the detector counts at each call (limit 1: every second call in a minute is seen)."""
    ch = CompiledCharter(charter("agent:*", tools=TOOLS, limits={"max_calls_per_minute": 1}))
    det, st = RateLimit(), AgentState(AGENT)
    out: list[int | None] = []
    for i, t in enumerate(times):
        c = call(0, AGENT, "fleet", "list_hosts")
        found = det.on_call(CallContext(c, t, "autonomous", ch, None, frozenset(), i + 1), st)
        out.append(int(found[0].details["calls_last_minute"]) if found else None)
    # the module's memory bound: 60 one-second buckets per agent, whatever the traffic
    assert len(st.sections["rate_limit"][2]) == 60
    return out


def _reference(times: list[float]) -> list[int | None]:
    """Calls in the last 60 whole seconds of the latest call; older arrivals are ignored."""
    seen: list[int] = []
    latest: int | None = None
    out: list[int | None] = []
    for t in times:
        sec = int(t)
        if latest is None or sec > latest:
            latest = sec
        elif latest - sec >= 60:
            out.append(None)
            continue
        seen.append(sec)
        n = sum(s > latest - 60 for s in seen)
        out.append(n if n > 1 else None)
    return out


@pytest.mark.parametrize("start", [1_700_000_000.0, 1_700_000_037.5, 1_700_000_059.0])
def test_the_sliding_minute_counts_exactly_whatever_the_gaps_and_late_arrivals(
    start: float,
) -> None:
    rng = random.Random(int(start))
    steps = [0, 0, 0.3, 1, 1, 2, 7, 30, 58, 59, 60, 61, 65, 119, 200, -3, -30, -59, -60, -75]
    t, times = start, []
    for _ in range(600):
        t = max(start, t + rng.choice(steps))
        times.append(t)
    assert _window_counts(times) == _reference(times)
