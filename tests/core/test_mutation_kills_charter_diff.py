"""``charter diff`` (monitor/core/charter_diff.py) pinned change by change: the words, the verdict.

The core judges charter updates with these verdicts (a riskier change raises
``charter_widened``) and CI gates on them (exit 1 when riskier), so every
change kind is checked here, in both directions, with its exact text, and the
rendered report and JSON are checked whole. Written to kill the mutants
``make mutate`` left in the module (results/mutation.md); the tests under
tests/charter_tools/ do not run in mutation testing.
"""

from __future__ import annotations

from typing import Any

from monitor import testing as tb
from monitor.charter import Charter
from monitor.core.charter_diff import (
    REVIEW,
    RISKIER,
    SAFER,
    Change,
    covered,
    diff_charters,
    diff_pair,
    render,
    to_dict,
)


def ch(agent: str = "a", kind: str = "autonomous", **kw: Any) -> Charter:
    return tb.charter(agent, kind, **kw)


def diff(
    old: dict[str, Any], new: dict[str, Any], kind: str = "autonomous"
) -> list[tuple[str, str]]:
    """The changes from ``old`` to ``new`` (charter keyword overrides), in order: (text, verdict).

    Every change names the charter it is in (the ``a`` both are for).
    """
    changes = diff_pair(ch(kind=kind, **old), ch(kind=kind, **new))
    assert [c.charter for c in changes] == ["a"] * len(changes)
    return [(c.text, c.verdict) for c in changes]


# ---------------------------------------------------------------- identical charters


def test_identical_charters_have_no_change_and_render_so() -> None:
    full: dict[str, Any] = {
        "tools": [{"server": "s", "tool": "t", "classes": ["read"]}],
        "tenants": ["corp"],
        "resources": ["mailto:*"],
        "limits": {"max_calls_per_minute": 5, "hours": "06:00-22:00"},
        "forbidden_chains": [{"name": "x", "sequence": ["a", "b"], "within_calls": 3}],
    }
    assert diff(full, full) == []
    assert diff_charters([ch(**full)], [ch(**full)]) == []
    assert render([]) == "no semantic changes"
    assert to_dict([]) == {"changes": [], "riskier": 0, "safer": 0, "review": 0}


# ---------------------------------------------------------------- kind, mode, mission


def test_kind_and_mode_and_mission() -> None:
    old, new = ch(kind="autonomous"), ch(kind="delegated")
    assert [(c.charter, c.text, c.verdict) for c in diff_pair(old, new)] == [
        ("a", "kind: autonomous → delegated", REVIEW),
        # a delegated charter requires JIT credentials unless it says otherwise
        ("a", "limits.require_jit_credentials: False → True", SAFER),
    ]
    assert diff({"mode": "enforce"}, {"mode": "observe"}) == [("mode: enforce → observe", RISKIER)]
    assert diff({"mode": "observe"}, {"mode": "enforce"}) == [("mode: observe → enforce", SAFER)]
    assert diff({"mission": "read mail"}, {"mission": "send mail"}) == [
        ("mission: text changed", REVIEW)
    ]


def test_changes_are_named_by_the_new_charters_agent() -> None:
    old, new = ch("agent:x/*", mode="enforce"), ch("agent:x/*", mode="observe")
    assert [c.charter for c in diff_pair(old, new)] == ["agent:x/*"]


# ---------------------------------------------------------------- tools


def test_tools_granted_removed_and_classes_changed() -> None:
    t = {"server": "fs", "tool": "read", "classes": ["read", "secret"]}
    assert diff({"tools": [t]}, {"tools": [t, {"server": "sh", "tool": "exec"}]}) == [
        ("tools: granted sh/exec []", RISKIER)
    ]
    assert diff(
        {"tools": []}, {"tools": [{"server": "sh", "tool": "exec", "classes": ["b", "a"]}]}
    ) == [("tools: granted sh/exec [a, b]", RISKIER)]
    assert diff({"tools": [t]}, {"tools": []}) == [("tools: removed fs/read [read, secret]", SAFER)]
    fewer = {**t, "classes": ["read"]}
    assert diff({"tools": [t]}, {"tools": [fewer]}) == [
        ("tools: fs/read loses classes ['secret']", RISKIER)
    ]
    assert diff({"tools": [fewer]}, {"tools": [t]}) == [
        ("tools: fs/read gains classes ['secret']", SAFER)
    ]
    swapped = {**t, "classes": ["read", "write"]}
    assert diff({"tools": [t]}, {"tools": [swapped]}) == [
        ("tools: fs/read loses classes ['secret']", RISKIER),
        ("tools: fs/read gains classes ['write']", SAFER),
    ]


def test_a_tool_granted_inside_an_old_glob_is_review() -> None:
    glob = {"server": "mail", "tool": "*"}
    assert diff({"tools": [glob]}, {"tools": [glob, {"server": "mail", "tool": "send"}]}) == [
        ("tools: granted mail/send [] (within mail/*)", REVIEW)
    ]
    # the server must be covered too, not only the tool
    assert diff({"tools": [glob]}, {"tools": [glob, {"server": "web", "tool": "send"}]}) == [
        ("tools: granted web/send []", RISKIER)
    ]


def test_tools_are_listed_in_sorted_order() -> None:
    new = [{"server": "b", "tool": "y"}, {"server": "a", "tool": "z"}, {"server": "a", "tool": "x"}]
    old = [{"server": "c", "tool": "2"}, {"server": "c", "tool": "1"}]
    assert [text for text, _ in diff({"tools": old}, {"tools": new})] == [
        "tools: granted a/x []",
        "tools: granted a/z []",
        "tools: granted b/y []",
        "tools: removed c/1 []",
        "tools: removed c/2 []",
    ]


# ---------------------------------------------------------------- covered


def test_covered_names_the_glob_that_covers() -> None:
    assert covered("mailto:x@corp.com", ["https://*", "mailto:*"]) == "mailto:*"
    assert covered("mailto:*@corp.com", ["mailto:*"]) == "mailto:*"
    assert covered("mailto:x", ["https://*"]) is None
    assert covered("mailto:x", []) is None
    # the first one that covers
    assert covered("a/b", ["a/*", "a/**"]) == "a/*"


def test_covered_does_not_let_a_single_star_cover_a_double_star() -> None:
    assert covered("a/**", ["a/*"]) is None
    assert covered("a/**", ["a/**"]) == "a/**"
    # the pattern read literally must match too: a/** covers a/x/**, a/x/* does not cover a/**
    assert covered("a/x/**", ["a/**"]) == "a/**"
    assert covered("a/**", ["a/zz/**"]) is None
    # a glob that takes one character of a class and then anything does not cover a/**
    # (a/b is not allowed by it), whatever letters the class lists
    assert covered("a/**", ["a/[*X]**"]) is None
    assert covered("a/**", ["a/[*Z]**"]) is None


# ---------------------------------------------------------------- sets: tenants, domains, resources


def test_sets_any_to_some_and_back() -> None:
    assert diff({"tenants": None}, {"tenants": ["b", "a"]}) == [
        ("tenants: any → ['a', 'b']", SAFER)
    ]
    assert diff({"tenants": ["b", "a"]}, {"tenants": None}) == [
        ("tenants: ['a', 'b'] → any (unrestricted)", RISKIER)
    ]
    assert diff({"data_domains": None}, {"data_domains": []}) == [("data_domains: any → []", SAFER)]
    assert diff({"resources": ["x"]}, {"resources": None}) == [
        ("resources: ['x'] → any (unrestricted)", RISKIER)
    ]
    assert diff({"data_domains": None}, {"data_domains": None}) == []


def test_sets_added_and_removed_in_sorted_order() -> None:
    assert diff({"data_domains": ["hr"]}, {"data_domains": ["pay", "fin", "hr"]}) == [
        ("data_domains: added fin", RISKIER),
        ("data_domains: added pay", RISKIER),
    ]
    assert diff({"tenants": ["c", "b", "a"]}, {"tenants": ["b"]}) == [
        ("tenants: removed a", SAFER),
        ("tenants: removed c", SAFER),
    ]


def test_only_resources_are_read_as_globs() -> None:
    """A tenant or domain named like a glob is a name: adding another is riskier, not review."""
    assert diff({"tenants": ["*"]}, {"tenants": ["*", "x"]}) == [("tenants: added x", RISKIER)]
    assert diff({"data_domains": ["*"]}, {"data_domains": ["*", "x"]}) == [
        ("data_domains: added x", RISKIER)
    ]
    assert diff({"resources": ["*"]}, {"resources": ["*", "x"]}) == [
        ("resources: added x (within *)", REVIEW)
    ]


# ---------------------------------------------------------------- resource classes, secrets


def test_resource_classes_and_builtin_secret_sources() -> None:
    rc = {"pattern": "vault://**", "classes": ["secret", "read"]}
    assert diff({}, {"resource_classes": [rc]}) == [
        ("resource_classes: added vault://** → ['read', 'secret']", SAFER)
    ]
    assert diff({"resource_classes": [rc]}, {}) == [
        ("resource_classes: removed vault://** → ['read', 'secret']", RISKIER)
    ]
    assert diff({"builtin_secret_sources": True}, {"builtin_secret_sources": False}) == [
        ("builtin_secret_sources: True → False", RISKIER)
    ]
    assert diff({"builtin_secret_sources": False}, {"builtin_secret_sources": True}) == [
        ("builtin_secret_sources: False → True", SAFER)
    ]


def test_resource_classes_sorted() -> None:
    a = {"pattern": "a://*", "classes": ["x"]}
    b = {"pattern": "b://*", "classes": ["x"]}
    assert [t for t, _ in diff({"resource_classes": [b, a]}, {})] == [
        "resource_classes: removed a://* → ['x']",
        "resource_classes: removed b://* → ['x']",
    ]
    assert [t for t, _ in diff({}, {"resource_classes": [b, a]})] == [
        "resource_classes: added a://* → ['x']",
        "resource_classes: added b://* → ['x']",
    ]


# ---------------------------------------------------------------- forbidden chains


def chain(name: str, *seq: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "sequence": list(seq), **kw}


def test_chains_added_removed_and_resequenced() -> None:
    x = chain("exfil", "read_secret", "egress")
    assert diff({}, {"forbidden_chains": [x]}) == [
        ("forbidden_chains: added exfil read_secret → egress", SAFER)
    ]
    assert diff({"forbidden_chains": [x]}, {}) == [
        ("forbidden_chains: removed exfil read_secret → egress", RISKIER)
    ]
    y = chain("exfil", "read_secret", "write", "egress")
    assert diff({"forbidden_chains": [x]}, {"forbidden_chains": [y]}) == [
        ("forbidden_chains.exfil: read_secret → egress → read_secret → write → egress", REVIEW)
    ]
    two = [chain("b", "p", "q"), chain("a", "p", "q")]
    assert [t for t, _ in diff({}, {"forbidden_chains": two})] == [
        "forbidden_chains: added a p → q",
        "forbidden_chains: added b p → q",
    ]
    assert [t for t, _ in diff({"forbidden_chains": two}, {})] == [
        "forbidden_chains: removed a p → q",
        "forbidden_chains: removed b p → q",
    ]


def test_chain_windows_a_wider_window_is_safer() -> None:
    def w(**kw: Any) -> dict[str, Any]:
        return {"forbidden_chains": [chain("c", "p", "q", **kw)]}

    assert diff(w(within_calls=5), w(within_calls=10)) == [
        ("forbidden_chains.c.within_calls: 5 → 10", SAFER)
    ]
    assert diff(w(within_calls=10), w(within_calls=5)) == [
        ("forbidden_chains.c.within_calls: 10 → 5", RISKIER)
    ]
    assert diff(w(within_calls=5), w()) == [
        ("forbidden_chains.c.within_calls: 5 → no limit", SAFER)
    ]
    assert diff(w(), w(within_calls=5)) == [
        ("forbidden_chains.c.within_calls: no limit → 5", RISKIER)
    ]
    assert diff(w(within_seconds=60.5), w(within_seconds=30)) == [
        ("forbidden_chains.c.within_seconds: 60.5 → 30", RISKIER)
    ]
    assert diff(w(within_seconds=30), w(within_seconds=60)) == [
        ("forbidden_chains.c.within_seconds: 30 → 60", SAFER)
    ]
    both = diff(w(within_calls=5, within_seconds=30), w(within_calls=6, within_seconds=20))
    assert both == [
        ("forbidden_chains.c.within_calls: 5 → 6", SAFER),
        ("forbidden_chains.c.within_seconds: 30 → 20", RISKIER),
    ]
    names = diff(
        {"forbidden_chains": [chain("b", "p", "q", within_calls=3), chain("a", "p", "q")]},
        {"forbidden_chains": [chain("b", "p", "q", within_calls=4), chain("a", "p", "r")]},
    )
    assert names == [
        ("forbidden_chains.a: p → q → p → r", REVIEW),
        ("forbidden_chains.b.within_calls: 3 → 4", SAFER),
    ]


# ---------------------------------------------------------------- limits


def test_every_numeric_limit_more_is_riskier() -> None:
    for key in (
        "max_calls_per_minute",
        "credential_max_ttl",
        "sponsor_quiet_seconds",
        "max_tenants_per_hour",
        "max_domains_per_hour",
    ):
        assert diff({"limits": {key: 2}}, {"limits": {key: 3}}) == [
            (f"limits.{key}: 2 → 3", RISKIER)
        ], key
        assert diff({"limits": {key: 3}}, {"limits": {key: 2}}) == [
            (f"limits.{key}: 3 → 2", SAFER)
        ], key
        assert diff({"limits": {key: 3}}, {}) == [(f"limits.{key}: 3 → no limit", RISKIER)], key
        assert diff({}, {"limits": {key: 3}}) == [(f"limits.{key}: no limit → 3", SAFER)], key
    # task_grace_seconds always has a value (default 30)
    assert diff({}, {"limits": {"task_grace_seconds": 90}}) == [
        ("limits.task_grace_seconds: 30 → 90", RISKIER)
    ]
    assert diff({}, {"limits": {"task_grace_seconds": 0.5}}) == [
        ("limits.task_grace_seconds: 30 → 0.5", SAFER)
    ]


def test_require_jit_credentials_uses_the_effective_value() -> None:
    assert diff(
        {"limits": {"require_jit_credentials": True}},
        {"limits": {"require_jit_credentials": False}},
        kind="autonomous",
    ) == [("limits.require_jit_credentials: True → False", RISKIER)]
    assert diff({}, {"limits": {"require_jit_credentials": True}}, kind="autonomous") == [
        ("limits.require_jit_credentials: False → True", SAFER)
    ]
    # absent on a delegated charter means true: saying so is no change
    assert diff({}, {"limits": {"require_jit_credentials": True}}, kind="delegated") == []
    assert diff({}, {"limits": {"require_jit_credentials": False}}, kind="delegated") == [
        ("limits.require_jit_credentials: True → False", RISKIER)
    ]


def hours(old: str | None, new: str | None) -> list[tuple[str, str]]:
    return diff({"limits": {"hours": old}}, {"limits": {"hours": new}})


def test_hours_longer_is_riskier_shorter_safer_shifted_review() -> None:
    assert hours("08:00-18:00", "06:00-22:00") == [
        ("limits.hours: 08:00-18:00 → 06:00-22:00", RISKIER)
    ]
    assert hours("06:00-22:00", "08:00-18:00") == [
        ("limits.hours: 06:00-22:00 → 08:00-18:00", SAFER)
    ]
    assert hours("08:00-18:00", "10:00-20:00") == [
        ("limits.hours: 08:00-18:00 → 10:00-20:00", REVIEW)
    ]
    assert hours(None, "08:00-18:00") == [("limits.hours: any time → 08:00-18:00", SAFER)]
    assert hours("08:00-18:00", None) == [("limits.hours: 08:00-18:00 → any time", RISKIER)]
    assert hours(None, None) == []


def test_hours_minutes_are_counted() -> None:
    # 30 minutes against 60: the minutes of both ends count
    assert hours("06:30-07:00", "06:00-07:00") == [
        ("limits.hours: 06:30-07:00 → 06:00-07:00", RISKIER)
    ]
    assert hours("06:00-07:00", "06:00-07:30") == [
        ("limits.hours: 06:00-07:00 → 06:00-07:30", RISKIER)
    ]
    assert hours("06:00-07:30", "06:00-07:00") == [
        ("limits.hours: 06:00-07:30 → 06:00-07:00", SAFER)
    ]
    # hours, not only minutes: 06:00-07:00 (60) against 05:00-07:00 (120)
    assert hours("06:00-07:00", "05:00-07:00") == [
        ("limits.hours: 06:00-07:00 → 05:00-07:00", RISKIER)
    ]
    # 60 minutes against 90 where a mutated end time (hour*60 vs minutes) would reorder them
    assert hours("10:00-11:00", "10:00-11:30") == [
        ("limits.hours: 10:00-11:00 → 10:00-11:30", RISKIER)
    ]


def test_hours_across_midnight_and_whole_day() -> None:
    # 22:00-06:00 is 8 hours (across midnight), 09:00-18:00 is 9
    assert hours("22:00-06:00", "09:00-18:00") == [
        ("limits.hours: 22:00-06:00 → 09:00-18:00", RISKIER)
    ]
    assert hours("09:00-18:00", "22:00-06:00") == [
        ("limits.hours: 09:00-18:00 → 22:00-06:00", SAFER)
    ]
    # 00:00-24:00 is the whole day: as long as "any time", so neither longer nor shorter
    assert hours("00:00-24:00", None) == [("limits.hours: 00:00-24:00 → any time", REVIEW)]
    assert hours(None, "00:00-24:00") == [("limits.hours: any time → 00:00-24:00", REVIEW)]
    assert hours("00:00-24:00", "23:00-24:00") == [
        ("limits.hours: 00:00-24:00 → 23:00-24:00", SAFER)
    ]
    assert hours("23:00-24:00", "00:00-24:00") == [
        ("limits.hours: 23:00-24:00 → 00:00-24:00", RISKIER)
    ]
    # across midnight counts modulo a day of 1440 minutes: 22:00-06:00 is as long as 09:00-17:00
    assert hours("22:00-06:00", "09:00-17:00") == [
        ("limits.hours: 22:00-06:00 → 09:00-17:00", REVIEW)
    ]
    assert hours("09:00-17:00", "22:00-06:00") == [
        ("limits.hours: 09:00-17:00 → 22:00-06:00", REVIEW)
    ]
    # the whole day is 1440 minutes: longer than 23:59
    assert hours("00:00-23:59", "00:00-24:00") == [
        ("limits.hours: 00:00-23:59 → 00:00-24:00", RISKIER)
    ]
    # 00:01-00:00 is 23:59 (across midnight), 00:00-00:01 one minute
    assert hours("00:01-00:00", "00:00-00:01") == [
        ("limits.hours: 00:01-00:00 → 00:00-00:01", SAFER)
    ]


# ---------------------------------------------------------------- baseline


def test_baseline() -> None:
    assert diff({}, {"baseline": {"enabled": False}}) == [
        ("baseline.enabled: True → False", RISKIER)
    ]
    assert diff({"baseline": {"enabled": False}}, {}) == [("baseline.enabled: False → True", SAFER)]
    assert diff({}, {"baseline": {"alert_score": 0.99}}) == [
        ("baseline.alert_score: 0.98 → 0.99", RISKIER)
    ]
    assert diff({}, {"baseline": {"revoke_score": 0.99}}) == [
        ("baseline.revoke_score: 0.999 → 0.99", SAFER)
    ]
    assert diff({}, {"baseline": {"revoke_score": 0.9995}}) == [
        ("baseline.revoke_score: 0.999 → 0.9995", RISKIER)
    ]
    assert diff({}, {"baseline": {"alert_score": 0.5}}) == [
        ("baseline.alert_score: 0.98 → 0.5", SAFER)
    ]
    assert diff({}, {"baseline": {"warmup_events": 500}}) == [
        ("baseline.warmup_events: 200 → 500", RISKIER)
    ]
    assert diff({}, {"baseline": {"warmup_events": 10}}) == [
        ("baseline.warmup_events: 200 → 10", SAFER)
    ]


# ---------------------------------------------------------------- the order of a whole diff


def test_a_diff_lists_changes_in_key_order() -> None:
    old = ch(
        mode="enforce",
        tools=[{"server": "s", "tool": "t", "classes": ["read"]}],
        tenants=["corp"],
        data_domains=["hr"],
        resources=["mailto:*"],
        forbidden_chains=[chain("c", "p", "q")],
        limits={"max_calls_per_minute": 5},
        baseline={"enabled": True},
        mission="m",
    )
    new = ch(
        kind="delegated",
        mode="observe",
        tools=[],
        resource_classes=[{"pattern": "v://*", "classes": ["secret"]}],
        tenants=["corp", "x"],
        data_domains=["hr", "y"],
        resources=["mailto:*", "https://*"],
        forbidden_chains=[],
        limits={"max_calls_per_minute": 6},
        baseline={"enabled": False},
        mission="n",
    )
    assert [(c.charter, c.text, c.verdict) for c in diff_pair(old, new)] == [
        ("a", "kind: autonomous → delegated", REVIEW),
        ("a", "mode: enforce → observe", RISKIER),
        ("a", "tools: removed s/t [read]", SAFER),
        ("a", "resource_classes: added v://* → ['secret']", SAFER),
        ("a", "tenants: added x", RISKIER),
        ("a", "data_domains: added y", RISKIER),
        ("a", "resources: added https://*", RISKIER),
        ("a", "forbidden_chains: removed c p → q", RISKIER),
        ("a", "limits.max_calls_per_minute: 5 → 6", RISKIER),
        ("a", "limits.require_jit_credentials: False → True", SAFER),
        ("a", "baseline.enabled: True → False", RISKIER),
        ("a", "mission: text changed", REVIEW),
    ]


# ---------------------------------------------------------------- charter sets


def test_charter_sets_matched_by_agent_pattern_in_sorted_order() -> None:
    tools = [{"server": "s", "tool": "t"}, {"server": "s", "tool": "u"}]
    old = [ch("c"), ch("a", mode="enforce"), ch("b")]
    new = [ch("a", mode="observe"), ch("d", tools=tools), ch("b")]
    assert diff_charters(old, new) == [
        Change("a", "mode: enforce → observe", RISKIER),
        Change("c", "charter removed: its agents become unchartered (every call alerts)", SAFER),
        Change("d", "charter added: grants 2 tool(s) to d", RISKIER),
    ]


# ---------------------------------------------------------------- render and JSON


CHANGES = [
    Change("a", "mode: enforce → observe", RISKIER),
    Change("a", "tools: removed s/t []", SAFER),
    Change("b", "mission: text changed", REVIEW),
    Change("b", "tenants: added x", RISKIER),
    Change("a", "tenants: removed y", SAFER),
]


def test_render_groups_by_charter_marks_and_counts() -> None:
    def line(sign: str, text: str, mark: str) -> str:
        return f"  {sign} {text.ljust(90)} {mark}"

    assert render(CHANGES) == "\n".join(
        [
            "charter a",
            line("+", "mode: enforce → observe", "RISKIER"),
            line("-", "tools: removed s/t []", "safer"),
            "charter b",
            line("~", "mission: text changed", "review"),
            line("+", "tenants: added x", "RISKIER"),
            "charter a",  # a new heading whenever the charter changes
            line("-", "tenants: removed y", "safer"),
            "5 change(s): 2 riskier, 2 safer, 1 to review",
        ]
    )


def test_to_dict_lists_every_change_and_counts_verdicts() -> None:
    assert to_dict(CHANGES) == {
        "changes": [{"charter": c.charter, "text": c.text, "verdict": c.verdict} for c in CHANGES],
        "riskier": 2,
        "safer": 2,
        "review": 1,
    }
    only_review = [Change("a", "mission: text changed", REVIEW)]
    assert to_dict(only_review)["review"] == 1
    assert render(only_review).endswith("1 change(s): 0 riskier, 0 safer, 1 to review")
