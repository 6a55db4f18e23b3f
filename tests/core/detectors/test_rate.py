"""rate_limit: more calls in a sliding minute than the charter allows."""

from __future__ import annotations

from typing import Any

from monitor.core import Decision, Engine
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
