"""scope_widening: paths climbing towards the root over a session."""

from __future__ import annotations

from typing import Any

from monitor.core import Decision, Engine
from monitor.core.detectors.hijack_scope import parts
from monitor.testing import call, charter, feed

DETECTOR = "scope_widening"
AGENT = "agent:dev-1"


def engine(**hijack: Any) -> Engine:
    return Engine([charter("agent:*", tools=[{"server": "*", "tool": "*"}], hijack=hijack)])


def alerts(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR]


def walk(*paths: str, session: str = "s1") -> list[Any]:
    return [call(i, AGENT, "fs", "list_dir", session_id=session, args={"path": p})
            for i, p in enumerate(paths)]  # fmt: skip


def test_climbing_to_the_home_directory_is_medium_once_per_session() -> None:
    events = [
        call(0, AGENT, "fs", "read_file", session_id="s1",
             resources=["file:///home/u/proj/src/app.py"]),
        *walk("/home/u/proj", "/home/u/proj/src/../../..", "/"),
    ]  # fmt: skip
    [alert] = alerts(feed(engine(), *events))
    assert alert.severity == "medium" and alert.evidence == [events[2].event_id]
    assert alert.details["levels_climbed"] == 3


def test_staying_in_the_tree_is_quiet() -> None:
    """Near miss: files across the workspace, one step up, other trees."""
    events = walk("/home/u/proj/src", "/home/u/proj/README.md", "/home/u/proj/src/lib",
                  "/home/u/proj", "/etc/hosts", "/tmp/x", "~/notes")  # fmt: skip
    assert alerts(feed(engine(), *events)) == []


def test_a_jump_to_the_root_fires_but_each_session_starts_anew() -> None:
    assert len(alerts(feed(engine(), *walk("/srv/app/data/in", "/")))) == 1
    split = walk("/srv/app/data/in", "/srv/app") + walk("/srv", session="s2")
    assert alerts(feed(engine(), *split)) == []


def test_levels_from_the_charter() -> None:
    events = walk("/a/b/c/d/e", "/a/b/c/d", "/a/b/c")
    assert alerts(feed(engine(), *events)) == []
    assert len(alerts(feed(engine(scope_widening_levels=2), *events))) == 1


def test_parts() -> None:
    assert parts("file:///a/b/../c/") == ["file:", "a", "c"]
    assert parts("/a/./b") == ["file:", "a", "b"]
    assert parts("s3://Bucket/k/x") == ["s3:bucket", "k", "x"]
    assert parts("relative/path") is None
