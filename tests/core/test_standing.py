from __future__ import annotations

from monitor import testing as tb
from monitor.core.policy import CharterSet
from monitor.core.standing import DAY, PrivilegeUsage

A = "agent:ops/1"
CH = tb.charter(
    "agent:ops/*",
    tools=[
        {"server": "fs", "tool": "read_file", "classes": ["read"]},
        {"server": "fs", "tool": "delete", "classes": ["write"]},
        {"server": "db", "tool": "*", "classes": ["read"]},
        {"server": "admin", "tool": "grant_role", "classes": ["admin"]},
    ],
    limits={"credential_max_ttl": 3600},
)


def _usage(*events: object) -> PrivilegeUsage:
    u = PrivilegeUsage(CharterSet([CH]))
    u.observe_all(events)
    return u


def _grants(u: PrivilegeUsage, days: float = 30) -> dict[str, tuple[int, str]]:
    (c,) = u.report(unused_days=days).charters
    return {f"{g.server}/{g.tool}": (g.calls, g.recommendation) for g in c.grants}


def test_never_used_grants_are_flagged_and_used_ones_kept() -> None:
    u = _usage(
        tb.call(0, A, "fs", "read_file"),
        tb.call(5, A, "db", "query"),
        tb.call(6, A, "db", "explain"),
    )
    g = _grants(u)
    assert g["fs/read_file"] == (1, "keep")
    assert g["db/*"] == (2, "keep")  # a glob grant counts every tool it covers
    assert g["fs/delete"] == (0, "remove") and g["admin/grant_role"] == (0, "remove")


def test_a_grant_last_used_long_ago_is_flagged() -> None:
    u = _usage(tb.call(0, A, "fs", "delete"), tb.call(40 * DAY, A, "fs", "read_file"))
    assert _grants(u)["fs/delete"] == (1, "remove")
    assert _grants(u, days=60)["fs/delete"] == (1, "keep")


def test_denied_calls_are_not_use() -> None:
    u = _usage(tb.call(0, A, "fs", "delete", outcome="denied"))
    assert _grants(u)["fs/delete"] == (0, "remove")


def test_credentials_that_outlive_their_use_and_a_tighter_ttl() -> None:
    events = []
    for i in range(20):  # each used for 2 minutes of a 1-hour TTL
        t = i * 4000
        events += [
            tb.task_started(t, A, f"T{i}"),
            tb.issued(t, A, f"c{i}", 3600, f"T{i}"),
            tb.call(t + 120, A, "fs", "read_file", credential_id=f"c{i}", task_id=f"T{i}"),
        ]
    events.append(tb.issued(90_000, A, "unused", 3600))
    report = _usage(*events).report()
    cr = report.charters[0].credentials
    assert cr.issued == 21 and cr.never_used == 1
    assert cr.used_seconds_p95 == 120.0
    assert cr.suggested_max_ttl == 180.0 < 3600
    assert cr.outlived_use[0]["credential_id"] in {"unused", "c0"}
    assert "credential_max_ttl: 180" in report.to_markdown()


def test_task_end_stops_the_idle_clock() -> None:
    u = _usage(
        tb.issued(0, A, "c1", 3600, "T"),
        tb.call(10, A, "fs", "read_file", credential_id="c1"),
        tb.task_ended(20, A, "T"),
        tb.call(9000, A, "fs", "read_file"),
    )
    cr = u.report().charters[0].credentials
    assert cr.outlived_use == []  # idle only 10 s before its task ended


def test_unchartered_agents_are_listed() -> None:
    u = _usage(tb.call(0, "agent:stranger", "x", "y"))
    assert u.report().unchartered_agents == ["agent:stranger"]
