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


# ---------------------------------------------------------------- the alert's words, details and target


def test_a_chain_alert_says_what_was_done_in_words_with_its_span() -> None:
    first, last = secret(0), egress(10, task_id="T1", session_id="s-1")
    [alert] = alerts(feed(engine(), first, last))
    assert alert.clause.text == "read_secret → egress within 3 calls and 60 s"
    assert alert.reason == (
        f"{AGENT} performed the forbidden chain 'exfiltration' (read_secret → egress) in 2 calls "
        "over 10 s, ending with web/http_post"
    )
    assert alert.details == {"chain": "exfiltration", "span_calls": 2, "span_seconds": 10.0}
    assert (alert.task_id, alert.session_id) == ("T1", "s-1")


def test_a_chain_clause_names_only_the_windows_it_has() -> None:
    seq = ["read_secret", "egress"]
    calls_only = {"name": "a", "sequence": seq, "within_calls": 4}
    time_only = {"name": "b", "sequence": seq, "within_seconds": 300}
    neither = {"name": "c", "sequence": seq}
    d = feed(engine(calls_only, time_only, neither), secret(0), egress(1))
    texts = {a.clause.key: a.clause.text for a in alerts(d)}
    assert texts == {
        "forbidden_chains.a": "read_secret → egress within 4 calls",
        "forbidden_chains.b": "read_secret → egress within 5 min",
        "forbidden_chains.c": "read_secret → egress within any window",
    }


def test_a_chain_without_credentials_revokes_the_session_or_else_the_agent() -> None:
    d = feed(engine(), secret(0, session_id="s-1"), egress(1, session_id="s-1"))
    [cmd] = d.revocations
    assert (cmd.scope, cmd.credential_ids) == ("session", [])
    d = feed(engine(), secret(0), egress(1))
    [cmd] = d.revocations
    assert (cmd.scope, cmd.credential_ids) == ("agent", [])


def test_a_chains_credentials_are_each_named_once_in_order() -> None:
    d = feed(engine(), secret(0, credential_id="c2"), egress(1, credential_id="c1"))
    assert d.revocations[0].credential_ids == ["c1", "c2"]
    d = feed(engine(), secret(0, credential_id="c1"), egress(1, credential_id="c1"))
    assert d.revocations[0].credential_ids == ["c1"]


def test_a_chain_done_twice_from_two_first_steps_is_two_alerts() -> None:
    a, b = secret(0), secret(2)
    d = feed(engine(), a, egress(1), b, egress(3))
    assert [x.evidence[0] for x in alerts(d)] == [a.event_id, b.event_id]


def test_a_later_start_replaces_a_partial_match_at_the_same_step() -> None:
    chain = {"name": "hijack", "sequence": ["read_untrusted", "read_secret", "egress"]}
    u0, s1 = call(0, AGENT, "web", "fetch"), secret(1)
    u2, s3, e4 = call(2, AGENT, "web", "fetch"), secret(3), egress(4)
    [alert] = alerts(feed(engine(chain), u0, s1, u2, s3, e4))
    assert alert.evidence == [u2.event_id, s3.event_id, e4.event_id]
    assert alert.details["span_calls"] == 3


def test_one_call_with_two_classes_is_one_step_of_a_three_step_chain() -> None:
    chain = {"name": "hijack", "sequence": ["read_untrusted", "read_secret", "egress"]}
    eng = engine(chain)
    d = feed(eng, call(0, AGENT, "web", "fetch"), call(1, AGENT, "kit", "dump_and_send"))
    assert alerts(d) == []
    assert len(alerts(feed(eng, egress(2)))) == 1


def test_the_call_that_completes_a_chain_can_start_the_next_one() -> None:
    first, both, last = secret(0), call(1, AGENT, "kit", "dump_and_send"), egress(2)
    d = feed(engine(), first, both, last)
    assert [a.evidence for a in alerts(d)] == [
        [first.event_id, both.event_id],
        [both.event_id, last.event_id],
    ]


def test_a_repeated_middle_step_keeps_the_latest_call_as_evidence() -> None:
    chain = {"name": "hijack", "sequence": ["read_untrusted", "read_secret", "egress"]}
    u0, s1, s2, e3 = call(0, AGENT, "web", "fetch"), secret(1), secret(2), egress(3)
    [alert] = alerts(feed(engine(chain), u0, s1, s2, e3))
    assert alert.evidence == [u0.event_id, s2.event_id, e3.event_id]


def test_a_chain_that_does_not_concern_the_call_does_not_hide_the_next_one() -> None:
    unrelated = {"name": "scrape", "sequence": ["read_untrusted", "egress"]}
    d = feed(engine(unrelated, EXFIL), secret(0), egress(1))
    assert [a.clause.key for a in alerts(d)] == ["forbidden_chains.exfiltration"]


def test_a_chain_redefined_under_the_same_name_forgets_the_old_progress() -> None:
    eng = engine({"name": "x", "sequence": ["read_secret", "egress"]})
    feed(eng, secret(0))
    redefined = {"name": "x", "sequence": ["read_untrusted", "egress"]}
    eng.charters.put(charter("agent:*", tools=TOOLS, forbidden_chains=[redefined]))
    assert alerts(feed(eng, egress(1))) == []  # the secret read was a step of the old chain
    assert len(alerts(feed(eng, call(2, AGENT, "web", "fetch"), egress(3)))) == 1


def test_a_chains_span_is_reported_to_the_millisecond() -> None:
    [alert] = alerts(feed(engine(), secret(0), egress(10.2504)))
    assert alert.details["span_seconds"] == 10.25


HIJACK_60S = {
    "name": "hijack",
    "sequence": ["read_untrusted", "read_secret", "egress"],
    "within_seconds": 60,
}


def test_an_expired_partial_match_is_dropped_without_touching_a_live_earlier_one() -> None:
    u0, s1 = call(0, AGENT, "web", "fetch"), secret(1)
    u90, e100 = call(90, AGENT, "web", "fetch"), egress(100)  # u0 → s1 is too old by now
    s101, e102 = secret(101), egress(102)
    d = feed(engine(HIJACK_60S), u0, s1, u90, e100, s101, e102)
    [alert] = alerts(d)
    assert alert.evidence == [u90.event_id, s101.event_id, e102.event_id]


def test_an_expired_partial_match_does_not_stop_the_call_advancing_another() -> None:
    u0, s1 = call(0, AGENT, "web", "fetch"), secret(1)
    u90 = call(90, AGENT, "web", "fetch")
    both = call(
        100, AGENT, "kit", "dump_and_send"
    )  # egress for the stale u0 → s1, a secret for u90
    e101 = egress(101)
    [alert] = alerts(feed(engine(HIJACK_60S), u0, s1, u90, both, e101))
    assert alert.evidence == [u90.event_id, both.event_id, e101.event_id]
