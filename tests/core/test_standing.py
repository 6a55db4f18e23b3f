from __future__ import annotations

from typing import Any

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


# ---------------------------------------------------------------- the report, word for word


def test_the_markdown_report_of_a_busy_charter_word_for_word() -> None:
    from monitor.core.standing import DAY as D

    events = [
        tb.task_started(0, A, "T1", "alice"),
        tb.issued(0, A, "c1", 3600, task_id="T1"),
        tb.call(600, A, "fs", "read_file", credential_id="c1", task_id="T1"),
        tb.call(900, "agent:ops/2", "fs", "read_file", credential_id="c1"),
        tb.call(1000, A, "db", "query", credential_id="c1"),
        tb.call(1100, A, "db", "insert", credential_id="c1"),
        tb.call(1200, A, "admin", "grant_role", outcome="denied"),
        tb.task_ended(1800, A, "T1", "alice"),  # ends c1: idle 700 s of 3600, not outlived
        tb.issued(2000, A, "c2", 7200),
        tb.call(2100, A, "fs", "delete", credential_id="c2"),
        tb.revoked(2500, A, "c2"),
        *[tb.issued(3000 + i, A, f"n{i}", 600) for i in range(11)],  # never used: 10 shown
        tb.call(5000, "agent:rogue/1", "fs", "read_file"),
        tb.call(40 * D, A, "fs", "read_file"),
    ]
    assert _usage(*events).report().to_markdown() == "\n".join([
        "## Standing privilege report",
        "",
        "window 2026-03-02 09:00 – 2026-04-11 09:00 UTC (event time); a grant unused for 30 "
        "days or more is flagged",
        "",
        "### `agent:ops/*` (autonomous, 2 agents seen)",
        "",
        "**too broad for static scoping**: breadth 23: servers admin, db, fs (+3), tenants any "
        "(+10), data_domains any (+10); driven by tenants, data_domains, servers (narrow these "
        "grants, or run the agent delegated with per-task credentials)",
        "",
        "| grant | classes | calls | agents | last used | recommendation |",
        "|---|---|---:|---:|---|---|",
        "| fs/read_file | read | 3 | 2 | 2026-04-11 09:00 | keep |",
        "| fs/delete | write | 1 | 1 | 2026-03-02 09:35 | **remove**: last used 40 days ago |",
        "| db/* | read | 2 | 1 | 2026-03-02 09:18 | **remove**: last used 40 days ago |",
        "| admin/grant_role | admin | 0 | 0 | never | **remove**: never used in 40.0 days of "
        "traffic |",
        "",
        "credentials issued: 13; never used: 11",
        "median share of the TTL actually used: 31%; 95th percentile of time in use: 1,100 s",
        "credentials that outlived their use (idle > half their TTL, or never used): 10+; worst "
        "`n0`: idle 600 s of a 600 s TTL",
        "**suggest** `limits.credential_max_ttl: 1680` (now 3600.0)",
        "",
        "### Agents without a charter",
        "",
        "`agent:rogue/1`",
        "",
    ])  # fmt: skip


def _dev() -> PrivilegeUsage:
    ch = tb.charter("agent:dev/*", "delegated", tenants=[],
                    tools=[{"server": "fs", "tool": "read_file", "classes": ["read", "list"]}])  # fmt: skip
    return PrivilegeUsage(CharterSet([ch]))


_DEV_HEAD = [
    "breadth 11: servers fs (+1), tenants none (+0), data_domains any (+10)",
    "",
    "| grant | classes | calls | agents | last used | recommendation |",
    "|---|---|---:|---:|---|---|",
]


def test_the_markdown_report_of_a_narrow_charter_word_for_word() -> None:
    u = _dev()
    u.observe_all([
        tb.issued(0, "agent:dev/1", "k1", 100),
        tb.call(90, "agent:dev/1", "fs", "read_file", credential_id="k1"),  # 90 % of its TTL
        tb.issued(100, "agent:dev/1", "k2", 100),
        tb.call(101, "agent:dev/1", "fs", "read_file", credential_id="k2"),  # then idle 99 s
        tb.call(300, "agent:dev/1", "fs", "other"),
    ])  # fmt: skip
    assert u.report(unused_days=0.5).to_markdown() == "\n".join([
        "## Standing privilege report",
        "",
        "window 2026-03-02 09:00 – 2026-03-02 09:05 UTC (event time); a grant unused for 0.5 "
        "days or more is flagged",
        "",
        "### `agent:dev/*` (delegated, 1 agents seen)",
        "",
        *_DEV_HEAD,
        "| fs/read_file | read, list | 2 | 1 | 2026-03-02 09:01 | keep |",
        "",
        "credentials issued: 2; never used: 0",
        "median share of the TTL actually used: 90%; 95th percentile of time in use: 90 s",
        "credentials that outlived their use (idle > half their TTL, or never used): 1; worst "
        "`k2`: idle 99 s of a 100 s TTL",
        "**suggest** `limits.credential_max_ttl: 180` (now unset)",
        "",
    ])  # fmt: skip


def test_an_empty_window_says_never_and_asks_for_review() -> None:
    row = (
        "| fs/read_file | read, list | 0 | 0 | never | **remove**: never used in 0.0 days of "
        "traffic (window shorter than the horizon: review) |"
    )
    assert _dev().report().to_markdown() == "\n".join([
        "## Standing privilege report",
        "",
        "window never – never UTC (event time); a grant unused for 30 days or more is flagged",
        "",
        "### `agent:dev/*` (delegated, 0 agents seen)",
        "",
        *_DEV_HEAD,
        row,
        "",
    ])  # fmt: skip


def test_boundaries_of_the_horizon_idle_share_and_suggestion() -> None:
    # last used exactly the horizon ago: flagged; a window exactly the horizon long: no review note
    u = _usage(tb.call(0, A, "fs", "read_file"), tb.call(30 * DAY, A, "db", "q"))
    assert _why(u) == {
        "read_file": "last used 30 days ago",
        "delete": "never used in 30.0 days of traffic",
        "*": "",
        "grant_role": "never used in 30.0 days of traffic",
    }
    u = _usage(tb.call(1, A, "fs", "read_file"), tb.call(30 * DAY, A, "db", "q"))
    assert _why(u)["read_file"] == ""
    assert _why(u)["delete"].endswith("(window shorter than the horizon: review)")
    # idle exactly half the TTL has not outlived its use; a second more has
    k = [tb.issued(0, A, "k", 100), tb.call(10, A, "fs", "read_file", credential_id="k")]
    (c,) = _usage(*k, tb.call(60, A, "db", "q")).report().charters
    assert c.credentials.outlived_use == []
    (c,) = _usage(*k, tb.call(61, A, "db", "q")).report().charters
    assert c.credentials.outlived_use == [
        {"credential_id": "k", "uses": 1, "idle_seconds": 51, "ttl_seconds": 100}
    ]
    # nine outlived: no "+"; a suggestion above the charter's TTL is not made
    md = _usage(*[tb.issued(i, A, f"n{i}", 600) for i in range(9)]).report().to_markdown()
    assert "or never used): 9; worst `n0`: idle 8 s of a 600 s TTL" in md
    u = _usage(tb.issued(0, A, "k", 7200), tb.call(3000, A, "fs", "read_file", credential_id="k"))
    (c,) = u.report().charters
    assert (c.credentials.suggested_max_ttl, c.credentials.max_ttl) == (4500.0, 3600.0)
    assert "suggest" not in u.report().to_markdown()


def _why(u: PrivilegeUsage) -> dict[str, str]:
    (c,) = u.report().charters
    return {g.tool: g.why for g in c.grants}


def test_usage_out_of_order_revoked_twice_and_ended_tasks() -> None:
    t0 = tb.at(0).timestamp()
    u = _usage(
        tb.task_started(0, A, "T1", "alice"),
        tb.issued(0, A, "k1", 2000, task_id="T1"),
        tb.issued(0, A, "XXXX", 2000),  # a call without a credential is not a use of it
        tb.call(123.4567, A, "fs", "read_file", credential_id="k1"),
        tb.call(50, A, "fs", "read_file", credential_id="k1"),  # late: earlier than the last use
        tb.call(120, A, "db", "query"),  # the glob's first record holds the earliest use
        tb.call(150, "agent:ops/2", "db", "insert"),
        tb.call(180, "agent:ops/2", "db", "insert"),
        tb.call(300, A, "fs", "read_file"),
        tb.revoked(1500, A, "k1"),
        tb.revoked(1300, A, "k1"),  # the earliest end counts
        tb.task_ended(1400, A, "T1", "alice"),
        tb.task_ended(1450, A, "T-unknown", "alice"),  # a task without credentials
        tb.call(1600, "agent:zz/1", "x", "y"),
        tb.call(1200, "agent:aa/1", "x", "y"),  # late: the window still ends at 1600
    )
    r = u.report()
    assert (r.window_start - t0, r.window_end - t0) == (0, 1600)  # type: ignore[operator]
    (c,) = r.charters
    got = {g.tool: (g.calls, g.agents, g.first_used, g.last_used) for g in c.grants}
    assert {k: (n, a, f and f - t0, la and la - t0) for k, (n, a, f, la) in got.items()} == {
        "read_file": (3, 1, 50, 300),
        "delete": (0, 0, None, None),
        "*": (3, 2, 120, 180),  # db/query and db/insert together: two agents
        "grant_role": (0, 0, None, None),
    }
    cr = c.credentials
    assert (cr.issued, cr.never_used, cr.used_fraction_p50, cr.used_seconds_p95) == (
        2,
        1,
        0.062,
        123.5,
    )
    assert cr.suggested_max_ttl == 240.0
    assert cr.outlived_use == [
        {"credential_id": "XXXX", "uses": 0, "idle_seconds": 1600, "ttl_seconds": 2000},
        {"credential_id": "k1", "uses": 2, "idle_seconds": 1177, "ttl_seconds": 2000},
    ]
    assert "\n`agent:aa/1`, `agent:zz/1`\n" in r.to_markdown()


def test_the_report_is_in_utc_whatever_the_local_zone(monkeypatch: Any) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        md = _usage(tb.call(0, A, "fs", "read_file")).report().to_markdown()
    finally:
        monkeypatch.undo()
        time.tzset()
    assert "window 2026-03-02 09:00 – 2026-03-02 09:00 UTC" in md


def test_a_suggestion_equal_to_the_charters_ttl_or_a_tiny_one() -> None:
    u = _usage(tb.issued(0, A, "k", 3600), tb.call(2400, A, "fs", "read_file", credential_id="k"))
    (c,) = u.report().charters
    assert c.credentials.suggested_max_ttl == 3600.0 and "suggest" not in u.report().to_markdown()
    (c,) = (
        _usage(tb.issued(0, A, "k", 100), tb.call(10, A, "fs", "read_file", credential_id="k"))
        .report()
        .charters
    )
    assert c.credentials.suggested_max_ttl == 60.0
    (c,) = (
        _usage(tb.issued(0, A, "k", 0.5), tb.call(0.25, A, "fs", "read_file", credential_id="k"))
        .report()
        .charters
    )
    assert c.credentials.used_fraction_p50 == 0.5  # a sub-second TTL is its own length


def test_the_median_and_95th_percentile_pick_the_right_credential() -> None:
    three = [e for i in (1, 2, 3) for e in (tb.issued(0, A, f"k{i}", 100),
             tb.call(10 * i, A, "fs", "read_file", credential_id=f"k{i}"))]  # fmt: skip
    (c,) = _usage(*three).report().charters
    assert c.credentials.used_fraction_p50 == 0.2
    many = [e for i in range(1, 22) for e in (tb.issued(0, A, f"k{i}", 100),
            tb.call(i, A, "fs", "read_file", credential_id=f"k{i}"))]  # fmt: skip
    (c,) = _usage(*many).report().charters
    assert c.credentials.used_seconds_p95 == 20.0


def test_a_later_revocation_does_not_move_the_end_of_a_credential() -> None:
    u = _usage(
        tb.task_started(0, A, "T1", "alice"),
        tb.issued(0, A, "k1", 2000, task_id="T1"),
        tb.call(100, A, "fs", "read_file", credential_id="k1"),
        tb.revoked(1300, A, "k1"),
        tb.revoked(1500, A, "k1"),
        tb.task_ended(1400, A, "T1", "alice"),
        tb.call(1600, A, "db", "q"),
    )
    (c,) = u.report().charters
    assert c.credentials.outlived_use == [
        {"credential_id": "k1", "uses": 1, "idle_seconds": 1200, "ttl_seconds": 2000}
    ]
