"""retry_after_denial: the same or a sibling tool right after a denial."""

from __future__ import annotations

from typing import Any

from monitor.core import Decision, Engine
from monitor.core.detectors.hijack_retry import siblings
from monitor.testing import call, charter, feed

DETECTOR = "retry_after_denial"
AGENT = "agent:ops-1"


def engine(**hijack: Any) -> Engine:
    return Engine([charter("agent:*", tools=[{"server": "*", "tool": "*"}], hijack=hijack)])


def alerts(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR]


def test_sibling_tool_after_a_denial_is_medium_once() -> None:
    denied = call(0, AGENT, "github", "delete_repo", outcome="denied")
    between = call(1, AGENT, "github", "search_code")
    retry = call(2, AGENT, "github", "deleteRepository")
    again = call(3, AGENT, "github", "delete_repo")
    [alert] = alerts(feed(engine(), denied, between, retry, again))
    assert alert.severity == "medium"
    assert alert.evidence == [denied.event_id, retry.event_id]
    assert "sibling of github/delete_repo" in alert.reason


def test_same_tool_on_another_server_is_a_retry() -> None:
    d = feed(engine(), call(0, AGENT, "mail", "send_email", outcome="denied"),
             call(5, AGENT, "mail2", "send_email"))  # fmt: skip
    assert len(alerts(d)) == 1


def test_unrelated_tool_or_too_late_is_quiet() -> None:
    """Near misses: a different tool after the denial; the same tool after the window."""
    eng = engine()
    quiet = [
        call(0, AGENT, "github", "delete_repo", outcome="denied"),
        call(1, AGENT, "github", "search_code"),  # unrelated (and "get"/"list" words don't count)
        call(2, AGENT, "github", "get_issue"),
        call(3, AGENT, "github", "list_repos"),
        call(4, AGENT, "github", "delete_repo"),  # 4th call after: outside 3 calls
        call(10, AGENT, "mail", "send_email", outcome="denied"),
        call(400, AGENT, "mail", "send_email"),  # 390 s later: outside 300 s
        call(500, AGENT, "mail", "send_email", outcome="error"),  # an error is not a denial
        call(501, AGENT, "mail", "send_email"),
    ]
    assert alerts(feed(eng, *quiet)) == []
    wider = engine(retry_within_calls=4)
    assert len(alerts(feed(wider, *quiet[:5]))) == 1


def test_siblings() -> None:
    assert siblings("s", "send_email", "s", "send_message")
    assert not siblings("s", "get_file", "s", "get_issue")
    assert not siblings("s", "send_email", "t", "send_message")
