"""high_impact_first_use: a granted high-impact tool the agent never used before."""

from __future__ import annotations

from typing import Any

from monitor.core import Decision, Engine
from monitor.core.detectors.hijack import words
from monitor.testing import call, charter, feed

DETECTOR = "high_impact_first_use"
AGENT = "agent:repo-bot-1"
TOOLS = [{"server": "github", "tool": "*"}]


def engine(**hijack: Any) -> Engine:
    return Engine([charter("agent:*", tools=TOOLS, hijack={"warmup_calls": 10, **hijack})])


def alerts(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR]


def routine(n: int) -> list[Any]:
    tools = ["search_code", "get_post", "create_comment", "send_review"]
    return [call(i, AGENT, "github", tools[i % 4], session_id=f"s{i // 5}") for i in range(n)]


def test_first_delete_after_warmup_is_medium_once() -> None:
    eng = engine()
    first = call(100, AGENT, "github", "deleteRepository", credential_id="c1")
    d = feed(eng, *routine(20), first)
    [alert] = alerts(d)
    assert alert.severity == "medium" and alert.evidence == [first.event_id]
    assert "github/deleteRepository" in alert.reason
    assert d.revocations == []  # medium: below the default revoke floor
    assert alerts(feed(eng, call(101, AGENT, "github", "deleteRepository"))) == []


def test_tools_used_in_warmup_and_reads_are_quiet() -> None:
    """send_review was used in warm-up; get_post has a read word; not granted: other detector."""
    eng = engine()
    feed(eng, *routine(20))
    later = [
        call(200, AGENT, "github", "send_review"),
        call(201, AGENT, "github", "list_shares"),
        call(202, AGENT, "gitlab", "delete_project"),  # not granted: out_of_charter_tool
    ]
    assert alerts(feed(eng, *later)) == []


def test_during_warmup_a_first_use_only_learns() -> None:
    eng = engine(warmup_calls=30)
    assert alerts(feed(eng, *routine(20), call(21, AGENT, "github", "delete_repo"))) == []
    assert alerts(feed(eng, *routine(40)[22:], call(60, AGENT, "github", "delete_repo"))) == []


def test_charter_words_and_capability_classes() -> None:
    eng = engine(high_impact=["archive"])
    d = feed(eng, *routine(20), call(50, AGENT, "github", "archive_repo"),
             call(51, AGENT, "github", "delete_repo"))  # fmt: skip
    assert [a.evidence for a in alerts(d)] == [[d.alerts[0].evidence[0]]]
    eng2 = Engine([charter("agent:*", tools=[{"server": "github", "tool": "*"},
                   {"server": "bank", "tool": "do_thing", "classes": ["transfer"]}],
                   hijack={"warmup_calls": 10})])  # fmt: skip
    assert len(alerts(feed(eng2, *routine(20), call(50, AGENT, "bank", "do_thing")))) == 1


def test_words_split_names() -> None:
    assert words("sendSlack_message-v2") == {"send", "slack", "message", "v2"}
    assert words("HTTPPost") == {"http", "post"}
