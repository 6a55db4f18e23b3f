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


def test_escaped_dot_segments_climb_as_the_server_resolves_them() -> None:
    """``%2e%2e`` (and its double encoding, and ``\\``) is ``..`` to a server that decodes
    before it opens the path: the same climb as the plain spelling."""
    for up in ("%2e%2e", "%2E%2E", "%252e%252e", ".%2e", "..\\.."):
        events = walk("/srv/app/data/in", f"/srv/app/data/in/{up}/..", f"/srv/app/{up}/..")
        [alert] = alerts(feed(engine(), *events))
        assert alert.details == {"levels_climbed": 4, "depth": 0}, up


def test_escapes_that_resolve_inside_the_tree_are_quiet() -> None:
    """Near miss: an escaped dot in a file name, an escaped slash going deeper, a ``..``
    inside the query."""
    events = walk("/home/u/proj/src", "/home/u/proj/src/%2egitignore",
                  "/home/u/proj/src/lib%2Fdeep", "/home/u/proj/src?up=%2e%2e/%2e%2e/%2e%2e")  # fmt: skip
    assert alerts(feed(engine(), *events)) == []


def test_levels_from_the_charter() -> None:
    events = walk("/a/b/c/d/e", "/a/b/c/d", "/a/b/c")
    assert alerts(feed(engine(), *events)) == []
    assert len(alerts(feed(engine(scope_widening_levels=2), *events))) == 1


def test_parts() -> None:
    assert parts("file:///a/b/../c/") == ["file:", "a", "c"]
    assert parts("/a/./b") == ["file:", "a", "b"]
    assert parts("/a/b/%2e%2e/c") == parts("/a/b%2F..%2Fc") == ["file:", "a", "c"]
    assert parts("file:///a/%252e%252e/b") == ["file:", "b"]
    assert parts("s3://Bucket/k/x") == ["s3:bucket", "k", "x"]
    assert parts("relative/path") is None


# ---------------------------------------------------------------- words, anchor, bounds


def test_the_finding_says_how_far_it_climbed_and_names_the_root() -> None:
    ev = [
        call(i, AGENT, "fs", "list_dir", session_id="s1", task_id="T1", args={"path": p})
        for i, p in enumerate(["/srv/app/data/in", "/"])
    ]
    [a] = alerts(feed(engine(), *ev))
    assert a.reason == (
        f"{AGENT} climbed 4 level(s) above where its session started, to depth 0 (the root), "
        "with fs/list_dir: widening its scope"
    )
    assert (a.clause.key, a.clause.text) == (
        "hijack.scope_widening_levels",
        "a session stays within the tree it started in",
    )
    assert a.details == {"levels_climbed": 4, "depth": 0} and a.score == 0.7
    assert (a.task_id, a.session_id, a.evidence) == ("T1", "s1", [ev[1].event_id])


def test_exactly_the_levels_in_two_steps_fires_and_says_the_depth() -> None:
    [a] = alerts(feed(engine(), *walk("/a/b/c/d/e", "/a/b/c/d", "/a/b")))
    assert a.reason == (
        f"{AGENT} climbed 3 level(s) above where its session started, to depth 2, "
        "with fs/list_dir: widening its scope"
    )
    assert a.details == {"levels_climbed": 3, "depth": 2}


def test_one_big_step_short_of_the_root_is_not_enough() -> None:
    assert alerts(feed(engine(), *walk("/a/b/c/d/e", "/a/b"))) == []
    assert len(alerts(feed(engine(), *walk("/a/b/c/d/e", "/a/b/c/d/e/f", "/a/b/c/d", "/a/b")))) == 1


def test_a_session_fires_once_and_a_new_session_starts_from_its_own_anchor() -> None:
    eng = engine()
    assert len(alerts(feed(eng, *walk("/srv/app/data/in", "/")))) == 1
    assert alerts(feed(eng, *walk("/srv/app/data/in", "/"))) == []  # same session: done
    assert len(alerts(feed(eng, *walk("/x/y/z/w", "/", session="s2")))) == 1


def test_a_files_directory_is_the_anchor_but_a_dotfile_directory_is_not_a_file() -> None:
    # /a/b/c/d/app.py anchors at /a/b/c/d: /a/b is only 2 levels up
    assert alerts(feed(engine(), *walk("/a/b/c/d/app.py", "/a/b/c", "/a/b"))) == []
    assert len(alerts(feed(engine(), *walk("/a/b/c/d/app", "/a/b/c", "/a/b")))) == 1
    # .config is a directory (the dot is its first character): 3 levels up from it
    assert len(alerts(feed(engine(), *walk("/a/b/c/d/.config", "/a/b/c", "/a/b")))) == 1
    # a top-level "file" is kept whole: the root is one level above it
    assert len(alerts(feed(engine(scope_widening_levels=1), *walk("/a.py", "/")))) == 1


def test_paths_elsewhere_or_at_the_same_depth_are_not_steps() -> None:
    events = walk("/a/b/c/d", "/x/y", "/a/b/c/e", "/q", "/a/b/c", "/a/b/c", "/a/b")
    assert alerts(feed(engine(), *events)) == []


def test_at_most_eight_paths_of_a_call_are_looked_at() -> None:
    start = call(0, AGENT, "fs", "read", session_id="s1", resources=["/a/b/c/d/e"])
    filler = [f"/other/{i}" for i in range(7)]
    up = call(1, AGENT, "fs", "read", session_id="s1", resources=[*filler, "/a/b", "/"])
    assert alerts(feed(engine(), start, up)) == []  # "/" is the 9th: not looked at
    up = call(1, AGENT, "fs", "read", session_id="s1", resources=[*filler[:6], "/a/b", "/"])
    assert len(alerts(feed(engine(), start, up))) == 1
    args = {f"k{i}": f"/other/{i}" for i in range(7)} | {"j": "/a/b", "z": "/"}
    up = call(1, AGENT, "fs", "read", session_id="s1", args=args)
    assert alerts(feed(engine(), start, up)) == []


def test_only_path_like_string_arguments_count() -> None:
    start = walk("/a/b/c/d/e")
    up = call(1, AGENT, "fs", "x", session_id="s1", args={"n": 5, "t": "a/b", "p": "file:///a/b"})
    root = call(2, AGENT, "fs", "x", session_id="s1", args={"p": "~"})
    assert (
        len(
            alerts(
                feed(
                    engine(),
                    *start,
                    up,
                    call(3, AGENT, "fs", "x", session_id="s1", args={"p": "/"}),
                )
            )
        )
        == 1
    )
    assert alerts(feed(engine(), *start, up, root)) == []
    long = call(1, AGENT, "fs", "x", session_id="s1", args={"p": "/" + "/" * 4096})
    assert alerts(feed(engine(), *start, long)) == []  # over 4096 characters: not read


def test_parts_are_bounded_and_normalised() -> None:
    assert parts("/" + "/".join(str(i) for i in range(20))) == ["file:", *map(str, range(16))]
    assert parts("/" + "x" * 40) == ["file:", "x" * 32]
    assert parts("/a/b?x=/c#/d") == ["file:", "a", "b"]
    assert parts("/../a") == ["file:", "a"]
    assert parts("FILE://Host/a") == ["file:", "a"]
    assert parts("~/n") == ["file:", "~", "n"]
    assert parts("HTTPS://" + "H" * 40 + "/p") == ["https:" + "h" * 32, "p"]
    assert parts("abcdefghijklmnop://h/x") == ["abcdefghijklmnop:h", "x"]
    assert parts("abcdefghijklmnopq://h/x") is None


def test_a_session_that_fired_stays_quiet_after_the_dedup_window() -> None:
    eng = engine()
    assert len(alerts(feed(eng, *walk("/a/b/c/d/e", "/a/b/c/d", "/a/b")))) == 1
    later = call(4000, AGENT, "fs", "list_dir", session_id="s1", args={"path": "/"})
    assert alerts(feed(eng, later)) == []


def test_a_call_without_session_or_task_is_judged_from_a_fresh_start() -> None:
    def bare(i: int, p: str) -> Any:
        return call(i, AGENT, "fs", "list_dir", args={"path": p})

    assert alerts(feed(engine(), bare(0, "/a/b/c/d/e"), bare(1, "/a/b"))) == []  # one step
    assert len(alerts(feed(engine(), bare(0, "/a/b/c/d/e"), bare(1, "/")))) == 1


def test_revisiting_the_anchor_or_the_highest_point_is_not_a_step() -> None:
    assert alerts(feed(engine(), *walk("/a/b/c/d/e", "/a/b/c/d/e", "/a/b"))) == []
    assert alerts(feed(engine(), *walk("/a/b/c/d/e", "/a/b", "/a/b"))) == []


def test_one_call_can_anchor_and_climb_and_a_non_path_does_not_stop_it() -> None:
    c = call(0, AGENT, "fs", "x", session_id="s1", resources=["/a/b/c/d/e", "/a/b", "/"])
    assert len(alerts(feed(engine(), c))) == 1
    c = call(0, AGENT, "fs", "x", session_id="s1", resources=["urn:x", "/a/b/c/d/e", "/a/b", "/"])
    assert len(alerts(feed(engine(), c))) == 1


def test_what_counts_as_a_file_for_the_anchor() -> None:
    # /a/x.py anchors at /a: the root is one level up (levels 2: quiet)
    assert alerts(feed(engine(scope_widening_levels=2), *walk("/a/x.py", "/"))) == []
    # "a.b" is a file (a dot after the first character): anchored at /q/r/s, /q is 2 up
    assert alerts(feed(engine(), *walk("/q/r/s/a.b", "/q/r", "/q"))) == []


def test_home_and_file_uri_arguments_are_paths() -> None:
    home = walk("~/a/b/c/d", "~/a", "~")
    assert len(alerts(feed(engine(), *home))) == 1
    uri = walk("/a/b/c/d/e", "file:///a/b/c/d", "file:///a/b")
    assert len(alerts(feed(engine(), *uri))) == 1


def test_an_argument_of_exactly_4096_characters_is_read() -> None:
    p = "/a/b" + "/" * (4096 - 4)
    assert len(alerts(feed(engine(), *walk("/a/b/c/d/e", "/a/b/c/d", p)))) == 1


def test_eight_path_arguments_are_looked_at() -> None:
    start = call(0, AGENT, "fs", "read", session_id="s1", resources=["/a/b/c/d/e"])
    args = {f"k{i}": f"/other/{i}" for i in range(6)} | {"j": "/a/b", "z": "/"}
    assert (
        len(alerts(feed(engine(), start, call(1, AGENT, "fs", "read", session_id="s1", args=args))))
        == 1
    )


def test_it_can_be_disabled_and_revokes_the_calls_credential_when_asked() -> None:
    from monitor.core import EngineSettings

    evs = [call(i, AGENT, "fs", "list_dir", session_id="s1", credential_id="c1", args={"path": p})
           for i, p in enumerate(["/srv/app/data/in", "/"])]  # fmt: skip
    assert alerts(feed(engine(disabled=[DETECTOR]), *evs)) == []
    tools = [{"server": "*", "tool": "*"}]
    eng = Engine([charter("agent:*", tools=tools)], EngineSettings(revoke_min_severity="medium"))
    d = feed(eng, *evs)
    [alert] = alerts(d)
    [cmd] = [r for r in d.revocations if alert.alert_id in r.alert_ids]
    assert (cmd.scope, cmd.credential_ids) == ("credential", ["c1"])
