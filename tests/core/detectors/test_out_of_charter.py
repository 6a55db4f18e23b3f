"""out_of_charter_tool: calls the charter does not grant, through the public Engine."""

from __future__ import annotations

from typing import Any

from monitor.core import Decision, Engine
from monitor.core.engine import EngineSettings
from monitor.events import AlertFeedback
from monitor.testing import at, call, charter, feed, task_started

DETECTOR = "out_of_charter_tool"
AGENT = "agent:patcher-1"
TOOLS = [
    {"server": "fleet", "tool": "list_hosts", "classes": ["read"]},
    {"server": "fleet", "tool": "apply_*", "classes": ["write", "exec"]},
    {"server": "docs", "tool": "*", "classes": ["read"]},
]


def engine(**kw: Any) -> Engine:
    kw.setdefault("tools", TOOLS)
    return Engine([charter("agent:patcher-*", mission="apply approved OS patches", **kw)])


def alerts(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR]


# ---------------------------------------------------------------- tools


def test_granted_tool_raises_nothing() -> None:
    d = feed(engine(), call(0, AGENT, "fleet", "list_hosts", credential_id="c1"))
    assert d.alerts == []
    assert d.revocations == []


def test_ungranted_tool_is_high_and_revokes_the_credential() -> None:
    ev = call(0, AGENT, "vault", "read_secret", credential_id="c1", task_id="T1")
    d = feed(engine(), ev)
    [alert] = alerts(d)
    assert alert.severity == "high"
    assert alert.evidence == [ev.event_id]
    assert alert.clause.key == "tools"
    assert alert.clause.charter == "agent:patcher-*"
    assert alert.clause.mission == "apply approved OS patches"
    assert "vault/read_secret" in alert.reason
    assert alert.mode == "enforce"
    assert alert.credential_id == "c1"
    assert alert.task_id == "T1"
    [cmd] = d.revocations
    assert cmd.scope == "credential"
    assert cmd.credential_ids == ["c1"]
    assert cmd.task_id == "T1"
    assert cmd.alert_ids == [alert.alert_id]
    assert cmd.mode == "enforce"
    assert cmd.agent_id == AGENT


def test_ungranted_tool_without_credential_revokes_the_session() -> None:
    d = feed(engine(), call(0, AGENT, "vault", "read_secret", session_id="s1"))
    [cmd] = d.revocations
    assert cmd.scope == "session"
    assert cmd.session_id == "s1"


def test_ungranted_tool_without_credential_or_session_revokes_the_agent() -> None:
    d = feed(engine(), call(0, AGENT, "vault", "read_secret"))
    [cmd] = d.revocations
    assert cmd.scope == "agent"


def test_gateway_denied_ungranted_call_is_medium_without_revocation() -> None:
    d = feed(engine(), call(0, AGENT, "vault", "read_secret", credential_id="c1", outcome="denied"))
    [alert] = alerts(d)
    assert alert.severity == "medium"
    assert "denied" in alert.reason
    assert d.revocations == []


def test_glob_tool_grant_covers_matching_tools_only() -> None:
    eng = engine()
    ok = feed(
        eng,
        call(0, AGENT, "fleet", "apply_patch", credential_id="c1"),
        call(1, AGENT, "fleet", "apply_config", credential_id="c1"),
    )
    assert ok.alerts == []
    [alert] = alerts(feed(eng, call(2, AGENT, "fleet", "delete_host", credential_id="c1")))
    assert "fleet/delete_host" in alert.reason


def test_star_tool_grants_the_whole_server_and_nothing_else() -> None:
    eng = engine()
    d = feed(eng, call(0, AGENT, "docs", "search"), call(1, AGENT, "docs", "get_page"))
    assert d.alerts == []
    [alert] = alerts(feed(eng, call(2, AGENT, "wiki", "search")))
    assert alert.clause.key == "tools"


# ---------------------------------------------------------------- tenants, domains, resources


def test_foreign_tenant_is_flagged() -> None:
    d = feed(engine(tenants=["corp"]), call(0, AGENT, "fleet", "list_hosts", tenant="acme"))
    [alert] = alerts(d)
    assert alert.clause.key == "tenants"
    assert alert.severity == "high"
    assert "'acme'" in alert.reason
    assert "corp" in alert.reason


def test_own_tenant_is_fine() -> None:
    d = feed(engine(tenants=["corp"]), call(0, AGENT, "fleet", "list_hosts", tenant="corp"))
    assert d.alerts == []


def test_unknown_tenant_is_not_judged() -> None:
    d = feed(engine(tenants=["corp"]), call(0, AGENT, "fleet", "list_hosts"))
    assert d.alerts == []


def test_foreign_data_domain_is_flagged() -> None:
    eng = engine(data_domains=["infrastructure"])
    d = feed(eng, call(0, AGENT, "fleet", "list_hosts", data_domain="payroll"))
    [alert] = alerts(d)
    assert alert.clause.key == "data_domains"
    assert "'payroll'" in alert.reason


def test_own_or_unknown_data_domain_is_fine() -> None:
    eng = engine(data_domains=["infrastructure"])
    d = feed(
        eng,
        call(0, AGENT, "fleet", "list_hosts", data_domain="infrastructure"),
        call(1, AGENT, "fleet", "list_hosts"),
    )
    assert d.alerts == []


def test_resource_outside_the_charter_is_flagged() -> None:
    eng = engine(resources=["fleet://prod/*"])
    d = feed(eng, call(0, AGENT, "fleet", "apply_patch", resources=["fleet://staging/web-1"]))
    [alert] = alerts(d)
    assert alert.clause.key == "resources"
    assert "fleet://staging/web-1" in alert.reason


def test_resource_glob_star_stays_in_one_segment() -> None:
    eng = engine(resources=["fleet://prod/*"])
    ok = feed(eng, call(0, AGENT, "fleet", "apply_patch", resources=["fleet://prod/web-1"]))
    assert ok.alerts == []
    d = feed(eng, call(1, AGENT, "fleet", "apply_patch", resources=["fleet://prod/web-1/disk"]))
    [alert] = alerts(d)
    assert alert.clause.key == "resources"


def test_one_call_with_several_violations_raises_one_alert_each() -> None:
    eng = engine(tenants=["corp"], data_domains=["infrastructure"])
    d = feed(eng, call(0, AGENT, "vault", "read_secret", tenant="acme", data_domain="payroll"))
    assert sorted(a.clause.key for a in alerts(d)) == ["data_domains", "tenants", "tools"]


# ---------------------------------------------------------------- hours


def test_call_within_hours_is_fine() -> None:
    # testing.T0 is 09:00 UTC
    d = feed(engine(limits={"hours": "06:00-22:00"}), call(0, AGENT, "fleet", "list_hosts"))
    assert d.alerts == []


def test_off_hours_call_is_medium_without_revocation() -> None:
    eng = engine(limits={"hours": "06:00-22:00"})
    d = feed(eng, call(14 * 3600, AGENT, "fleet", "list_hosts", credential_id="c1"))  # 23:00
    [alert] = alerts(d)
    assert alert.clause.key == "limits.hours"
    assert alert.severity == "medium"
    assert "23:00" in alert.reason
    assert "06:00-22:00" in alert.reason
    assert d.revocations == []


def test_hours_window_wrapping_midnight() -> None:
    eng = engine(limits={"hours": "22:00-06:00"})
    [alert] = alerts(feed(eng, call(0, AGENT, "fleet", "list_hosts")))  # 09:00
    assert alert.clause.key == "limits.hours"
    assert feed(eng, call(15 * 3600, AGENT, "fleet", "list_hosts")).alerts == []  # 00:00


# ---------------------------------------------------------------- no charter, mode


def test_agent_without_charter_is_medium_in_observe_mode() -> None:
    eng = engine()
    d = feed(eng, call(0, "agent:stray", "vault", "read_secret", credential_id="c1"))
    [alert] = alerts(d)
    assert alert.severity == "medium"
    assert alert.mode == "observe"
    assert alert.clause.key == "charter"
    assert alert.clause.charter is None
    assert "no charter" in alert.reason
    assert d.revocations == []


def test_observe_charter_stamps_observe_on_alert_and_command() -> None:
    eng = engine(mode="observe")
    d = feed(eng, call(0, AGENT, "vault", "read_secret", credential_id="c1"))
    [alert] = alerts(d)
    [cmd] = d.revocations
    assert alert.mode == "observe"
    assert cmd.mode == "observe"


# ---------------------------------------------------------------- dedup and ids


def test_same_violation_within_300s_is_one_alert() -> None:
    eng = engine()
    d = feed(
        eng,
        call(0, AGENT, "vault", "read_secret", credential_id="c1"),
        call(120, AGENT, "vault", "read_secret", credential_id="c1"),
        call(299, AGENT, "vault", "read_secret", credential_id="c1"),
    )
    assert len(alerts(d)) == 1
    assert len(d.revocations) == 1


def test_same_violation_after_300s_is_a_second_alert() -> None:
    eng = engine()
    d = feed(
        eng,
        call(0, AGENT, "vault", "read_secret", credential_id="c1"),
        call(301, AGENT, "vault", "read_secret", credential_id="c1"),
    )
    assert len(alerts(d)) == 2
    assert len({a.alert_id for a in d.alerts}) == 2


def test_different_violations_are_not_deduplicated_together() -> None:
    eng = engine()
    d = feed(
        eng,
        call(0, AGENT, "vault", "read_secret", credential_id="c1"),
        call(1, AGENT, "vault", "list_secrets", credential_id="c1"),
    )
    assert len(alerts(d)) == 2


def test_replaying_the_same_events_gives_the_same_ids() -> None:
    events = [call(0, AGENT, "vault", "read_secret", credential_id="c1")]
    first, second = feed(engine(), *events), feed(engine(), *events)
    assert [a.alert_id for a in first.alerts] == [a.alert_id for a in second.alerts]
    assert [c.command_id for c in first.revocations] == [c.command_id for c in second.revocations]


def test_redelivered_event_is_dropped() -> None:
    eng = engine()
    ev = call(0, AGENT, "vault", "read_secret", credential_id="c1")
    feed(eng, ev)
    again = eng.process(ev)
    assert again.duplicate
    assert not again.alerts
    assert not again.revocations


# ---------------------------------------------------------------- the alert's words, details and ids


def test_an_ungranted_tool_alert_says_what_the_charter_grants_in_words() -> None:
    c = call(0, AGENT, "vault", "read_secret", task_id="T1", session_id="s-1")
    [alert] = alerts(feed(engine(), c))
    assert alert.clause.text == "grants 3 tools; not vault/read_secret"
    assert alert.reason == (
        f"{AGENT} called vault/read_secret, which its charter (agent:patcher-*) does not grant"
    )
    assert alert.details == {"server": "vault", "tool": "read_secret"}
    assert (alert.task_id, alert.session_id) == ("T1", "s-1")


def test_a_denied_call_says_the_gateway_denied_it() -> None:
    c = call(0, AGENT, "vault", "read_secret", outcome="denied")
    [alert] = alerts(feed(engine(), c))
    assert alert.reason.endswith("does not grant (the gateway denied it)")


def test_tenant_and_domain_alerts_say_what_the_charter_allows_in_words() -> None:
    eng = engine(tenants=["corp", "ops"], data_domains=["infrastructure"])
    c = call(0, AGENT, "fleet", "list_hosts", tenant="acme", data_domain="payroll")
    by_key = {a.clause.key: a for a in alerts(feed(eng, c))}
    tenant, domain = by_key["tenants"], by_key["data_domains"]
    assert tenant.clause.text == "tenants ['corp', 'ops']"
    assert tenant.reason == (
        f"{AGENT} acted in tenant 'acme', outside its charter's tenants ['corp', 'ops']"
    )
    assert tenant.details == {"tenant": "acme"}
    assert domain.clause.text == "data domains ['infrastructure']"
    assert domain.reason == (
        f"{AGENT} touched data domain 'payroll', outside its charter's domains ['infrastructure']"
    )
    assert domain.details == {"data_domain": "payroll"}


def test_a_resource_alert_shows_three_resources_and_counts_the_rest() -> None:
    eng = engine(resources=["fleet://prod/*"])
    bad = [f"fleet://staging/web-{i}" for i in range(5)]
    c = call(0, AGENT, "fleet", "apply_patch", resources=["fleet://prod/ok", *bad])
    [alert] = alerts(feed(eng, c))
    assert alert.clause.text == "resources ['fleet://prod/*']"
    assert alert.reason == (
        f"{AGENT} called fleet/apply_patch on fleet://staging/web-0, fleet://staging/web-1, "
        "fleet://staging/web-2 and 2 more, outside its charter's resources"
    )
    assert alert.details == {"resource": "fleet://staging/web-0"}
    three = call(1, AGENT, "fleet", "apply_patch", resources=bad[:3], credential_id="c9")
    eng = engine(resources=["fleet://prod/*"])
    [alert] = alerts(feed(eng, three))
    assert "web-2, outside" in alert.reason and "more" not in alert.reason


def test_each_distinct_violation_is_its_own_alert_and_a_repeat_is_not() -> None:
    eng = engine(tenants=["corp"], data_domains=["infra"], resources=["fleet://prod/*"])
    d = feed(
        eng,
        call(0, AGENT, "vault", "read_secret"),
        call(1, AGENT, "vault", "write_secret"),
        call(2, AGENT, "fleet", "list_hosts", tenant="acme"),
        call(3, AGENT, "fleet", "list_hosts", tenant="evil"),
        call(4, AGENT, "fleet", "list_hosts", data_domain="payroll"),
        call(5, AGENT, "fleet", "list_hosts", data_domain="hr"),
        call(6, AGENT, "fleet", "apply_patch", resources=["fleet://a/1"]),
        call(7, AGENT, "fleet", "apply_patch", resources=["fleet://b/1"]),
    )
    assert len(alerts(d)) == 8
    again = feed(
        eng,
        call(10, AGENT, "vault", "read_secret"),
        call(11, AGENT, "fleet", "list_hosts", tenant="acme"),
        call(12, AGENT, "fleet", "list_hosts", data_domain="payroll"),
        call(13, AGENT, "fleet", "apply_patch", resources=["fleet://a/1"]),
    )
    assert alerts(again) == []


def test_an_off_hours_alert_shows_the_minute_and_the_hours_in_words() -> None:
    eng = engine(limits={"hours": "06:00-22:00"})
    c = call(14 * 3600 + 7 * 60 + 30, AGENT, "fleet", "list_hosts", task_id="T1", session_id="s")
    [alert] = alerts(feed(eng, c))  # 23:07:30
    assert alert.clause.text == "hours 06:00-22:00 UTC"
    assert alert.reason == (
        f"{AGENT} called fleet/list_hosts at 23:07 UTC, outside its charter's hours 06:00-22:00 UTC"
    )
    assert alert.details == {"time": "23:07"}
    assert (alert.task_id, alert.session_id) == ("T1", "s")
    # one alert per dedup window, not one per call
    assert alerts(feed(eng, call(14 * 3600 + 600, AGENT, "fleet", "list_hosts"))) == []


def test_the_first_and_last_minute_of_the_hours_are_inside() -> None:
    eng = engine(limits={"hours": "06:00-22:00"})
    assert alerts(feed(eng, call(-3 * 3600, AGENT, "fleet", "list_hosts"))) == []  # 06:00
    assert alerts(feed(eng, call(13 * 3600 - 1, AGENT, "fleet", "list_hosts"))) == []  # 21:59:59


def test_an_uncovered_agents_call_says_so_in_words() -> None:
    c = call(0, "agent:stray", "vault", "read_secret", task_id="T1")
    [alert] = alerts(feed(engine(), c))
    assert alert.clause.text == "no charter covers this agent"
    assert alert.reason == (
        "agent:stray called vault/read_secret but no charter covers this agent: its authority "
        "is undefined"
    )
    assert alert.details == {"server": "vault", "tool": "read_secret"}
    assert alert.task_id is None
    assert alert.evidence == [c.event_id]


def test_an_uncovered_agents_task_event_says_what_it_sent() -> None:
    ev = task_started(0, "agent:stray", "T7", "alice", event_id="ev-1")
    [alert] = alerts(feed(engine(), ev))
    assert alert.reason == (
        "agent:stray sent task_started ev-1 but no charter covers this agent: its authority "
        "is undefined"
    )
    assert alert.details == {"event_type": "task_started"}
    assert alert.task_id == "T7"
    assert alert.severity == "medium"


def test_an_analysts_feedback_on_an_uncovered_agent_raises_nothing() -> None:
    fb = AlertFeedback(
        event_id="fb-1", ts=at(0), agent_id="agent:stray", alert_id="a" * 12, verdict="benign"
    )
    assert feed(engine(), fb).alerts == []


def test_a_fourth_resource_outside_the_charter_is_counted_not_dropped() -> None:
    eng = engine(resources=["fleet://prod/*"])
    bad = [f"fleet://staging/web-{i}" for i in range(4)]
    [alert] = alerts(feed(eng, call(0, AGENT, "fleet", "apply_patch", resources=bad)))
    assert "fleet://staging/web-2 and 1 more, outside" in alert.reason


def test_a_denied_call_is_never_revoked_even_when_medium_findings_revoke() -> None:
    eng = Engine(
        [charter("agent:patcher-*", tools=TOOLS)],
        settings=EngineSettings(revoke_min_severity="medium"),
    )
    d = feed(eng, call(0, AGENT, "vault", "read_secret", outcome="denied", credential_id="c1"))
    [alert] = alerts(d)
    assert alert.severity == "medium"
    assert d.revocations == []
    # the same call let through is revoked
    d = feed(eng, call(1, AGENT, "vault", "write_secret", credential_id="c1"))
    assert [c.credential_ids for c in d.revocations] == [["c1"]]


def test_a_resource_that_resolves_outside_the_charter_is_out_of_it() -> None:
    """``..`` and percent-escapes are resolved by the server, not by a glob: a resource is
    inside its charter only if it is both as written and as resolved; the alert says both."""
    eng = engine(resources=["file:///srv/**"])
    d = feed(
        eng,
        call(
            0,
            AGENT,
            "fleet",
            "apply_patch",
            resources=["file:///srv/app/my%20notes.txt"],
            event_id="e0",
        ),
        call(
            1, AGENT, "fleet", "apply_patch", resources=["file:///srv/app/./../x.py"], event_id="e1"
        ),
        call(
            2, AGENT, "fleet", "apply_patch", resources=["file:///srv/../etc/shadow"], event_id="e2"
        ),
        call(
            3,
            AGENT,
            "fleet",
            "apply_patch",
            resources=["file:///srv/a%2F..%2F..%2Froot/.ssh/k"],
            event_id="e3",
        ),
    )
    got = alerts(d)
    assert [a.evidence[0] for a in got] == ["e2", "e3"]
    assert got[0].reason == (
        f"{AGENT} called fleet/apply_patch on file:///srv/../etc/shadow (resolves to "
        "file:///etc/shadow), outside its charter's resources"
    )
    assert got[0].details == {"resource": "file:///srv/../etc/shadow"}
    assert "(resolves to file:///root/.ssh/k)" in got[1].reason
