"""forbidden_chain: charter-forbidden sequences of capability classes."""

from __future__ import annotations

from typing import Any

from monitor.core import Decision, Engine
from monitor.testing import call, charter, feed

DETECTOR = "forbidden_chain"
AGENT = "agent:worker-1"
TOOLS = [
    {"server": "vault", "tool": "read_secret", "classes": ["read_secret"]},
    {"server": "web", "tool": "http_post", "classes": ["egress"]},
    {"server": "web", "tool": "fetch", "classes": ["read_untrusted"]},
    {"server": "fs", "tool": "read_file", "classes": ["read"]},
    {"server": "kit", "tool": "dump_and_send", "classes": ["read_secret", "egress"]},
]
EXFIL = {
    "name": "exfiltration",
    "sequence": ["read_secret", "egress"],
    "within_calls": 3,
    "within_seconds": 60,
}


def engine(*chains: dict[str, Any], **kw: Any) -> Engine:
    return Engine([charter("agent:*", tools=TOOLS, forbidden_chains=list(chains or [EXFIL]), **kw)])


def alerts(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR]


def secret(sec: float, **kw: Any) -> Any:
    return call(sec, AGENT, "vault", "read_secret", **kw)


def egress(sec: float, **kw: Any) -> Any:
    return call(sec, AGENT, "web", "http_post", **kw)


def other(sec: float, **kw: Any) -> Any:
    return call(sec, AGENT, "fs", "read_file", **kw)


# ---------------------------------------------------------------- fires


def test_secret_read_then_egress_is_critical_with_both_calls_as_evidence() -> None:
    first, last = secret(0, credential_id="c1"), egress(10, credential_id="c2", task_id="T1")
    d = feed(engine(), first, last)
    [alert] = alerts(d)
    assert alert.severity == "critical"
    assert alert.evidence == [first.event_id, last.event_id]
    assert alert.clause.key == "forbidden_chains.exfiltration"
    assert "exfiltration" in alert.reason
    assert "read_secret → egress" in alert.reason
    assert "web/http_post" in alert.reason
    assert alert.mode == "enforce"
    [cmd] = d.revocations
    assert cmd.scope == "credential"
    assert cmd.credential_ids == ["c1", "c2"]
    assert cmd.task_id == "T1"
    assert cmd.alert_ids == [alert.alert_id]


def test_chain_spanning_exactly_within_calls_fires() -> None:
    d = feed(engine(), secret(0), other(1), egress(2))
    [alert] = alerts(d)
    assert alert.details["span_calls"] == 3


def test_chain_at_exactly_within_seconds_fires() -> None:
    assert len(alerts(feed(engine(), secret(0), egress(60)))) == 1


def test_chain_across_sessions_fires() -> None:
    d = feed(engine(), secret(0, session_id="s1"), egress(5, session_id="s2"))
    assert len(alerts(d)) == 1


def test_secret_class_from_a_resource_pattern_counts() -> None:
    read_env = call(0, AGENT, "fs", "read_file", resources=["file:///srv/app/.env"])
    assert len(alerts(feed(engine(), read_env, egress(5)))) == 1


def test_later_first_step_restarts_the_time_window() -> None:
    late_start = secret(50)
    d = feed(engine(), secret(0), late_start, egress(100))
    [alert] = alerts(d)
    assert alert.evidence[0] == late_start.event_id


def test_three_step_chain_in_order_fires() -> None:
    chain = {"name": "hijack", "sequence": ["read_untrusted", "read_secret", "egress"]}
    fetch = call(0, AGENT, "web", "fetch")
    d = feed(engine(chain), fetch, other(1), secret(2), other(3), egress(4))
    [alert] = alerts(d)
    assert alert.clause.key == "forbidden_chains.hijack"
    assert len(alert.evidence) == 3
    assert alert.evidence[0] == fetch.event_id


def test_two_calls_that_each_have_both_classes_are_two_steps() -> None:
    dump = "dump_and_send"
    d = feed(engine(), call(0, AGENT, "kit", dump), call(1, AGENT, "kit", dump))
    assert len(alerts(d)) == 1


def test_observe_mode_chain_command_is_observe() -> None:
    d = feed(engine(mode="observe"), secret(0, credential_id="c1"), egress(1, credential_id="c1"))
    [alert] = alerts(d)
    [cmd] = d.revocations
    assert alert.mode == cmd.mode == "observe"


# ---------------------------------------------------------------- near misses


def test_chain_just_outside_within_calls_does_not_fire() -> None:
    assert alerts(feed(engine(), secret(0), other(1), other(2), egress(3))) == []


def test_chain_just_outside_within_seconds_does_not_fire() -> None:
    assert alerts(feed(engine(), secret(0), egress(61))) == []


def test_steps_in_the_wrong_order_do_not_fire() -> None:
    assert alerts(feed(engine(), egress(0), secret(1))) == []


def test_three_step_chain_out_of_order_does_not_fire() -> None:
    chain = {"name": "hijack", "sequence": ["read_untrusted", "read_secret", "egress"]}
    d = feed(engine(chain), secret(0), call(1, AGENT, "web", "fetch"), egress(2))
    assert alerts(d) == []


def test_denied_egress_that_would_complete_the_chain_is_the_attempt_not_a_revocation() -> None:
    first, denied = secret(0, credential_id="c1"), egress(1, outcome="denied", credential_id="c1")
    d = feed(engine(), first, denied)
    [alert] = alerts(d)  # the attempt: medium, no revocation (the gateway did its job)
    assert alert.severity == "medium"
    assert alert.clause.key == "forbidden_chains.exfiltration"
    assert alert.evidence == [first.event_id, denied.event_id]
    assert "attempted" in alert.reason and "the gateway denied it" in alert.reason
    assert d.revocations == []


def test_denied_egress_does_not_advance_the_chain() -> None:
    # the denied completion neither completes nor resets: a real egress next still does
    d = feed(engine(), secret(0), egress(1, outcome="denied"), egress(2))
    assert [a.severity for a in alerts(d)] == ["medium", "critical"]
    assert len(d.revocations) == 1


def test_denied_call_that_completes_nothing_raises_nothing() -> None:
    # near miss: a denied egress with no secret read before it, or outside the window
    assert alerts(feed(engine(), egress(0, outcome="denied"))) == []
    assert alerts(feed(engine(), secret(0), egress(61, outcome="denied"))) == []


def test_denied_call_still_counts_towards_within_calls() -> None:
    tight = {**EXFIL, "within_calls": 2}
    d = feed(engine(tight), secret(0), egress(1, outcome="denied"), egress(2))
    assert [a.severity for a in alerts(d)] == ["medium"]  # the attempt; the real one is too late


def test_denied_secret_read_does_not_start_a_chain() -> None:
    assert alerts(feed(engine(), secret(0, outcome="denied"), egress(1))) == []


def test_single_call_with_both_classes_does_not_match_a_two_step_chain() -> None:
    d = feed(engine(), call(0, AGENT, "kit", "dump_and_send"))
    assert alerts(d) == []


def test_resource_that_is_not_a_secret_does_not_start_a_chain() -> None:
    read_src = call(0, AGENT, "fs", "read_file", resources=["file:///srv/app/src/app.py"])
    assert alerts(feed(engine(), read_src, egress(5))) == []


def test_completed_chain_is_not_reported_again_without_a_new_first_step() -> None:
    d = feed(engine(), secret(0), egress(1), egress(2))
    assert len(alerts(d)) == 1


def test_chains_are_per_agent() -> None:
    d = feed(engine(), secret(0), call(1, "agent:worker-2", "web", "http_post"))
    assert alerts(d) == []
