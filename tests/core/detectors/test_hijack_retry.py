"""retry_after_denial: a sibling tool right after a denial, or a third try."""

from __future__ import annotations

from typing import Any

from monitor.core import Decision, Engine
from monitor.core.detectors.hijack_retry import siblings, verb
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
    again = call(3, AGENT, "github", "delete_branch")
    [alert] = alerts(feed(engine(), denied, between, retry, again))
    assert alert.severity == "medium"
    assert alert.evidence == [denied.event_id, retry.event_id]
    assert "sibling of github/delete_repo" in alert.reason


def test_same_tool_on_another_server_is_a_retry() -> None:
    d = feed(engine(), call(0, AGENT, "mail", "send_email", outcome="denied"),
             call(5, AGENT, "mail2", "send_email"))  # fmt: skip
    assert len(alerts(d)) == 1


def test_a_third_try_after_two_denials_fires() -> None:
    tries = [call(i, AGENT, "bank", "transfer", outcome="denied") for i in range(2)]
    third = call(2, AGENT, "bank", "transfer")
    [alert] = alerts(feed(engine(), *tries, third))
    assert alert.evidence == [tries[0].event_id, third.event_id]
    assert "denied 2 times in a row" in alert.reason


def test_one_retry_an_unrelated_tool_or_too_late_is_quiet() -> None:
    """Near misses: one retry of the same call; another verb; outside the windows."""
    eng = engine()
    quiet = [
        call(0, AGENT, "github", "delete_repo", outcome="denied"),
        call(1, AGENT, "github", "search_code"),
        call(2, AGENT, "github", "get_repo"),  # shares "repo", not the verb
        call(3, AGENT, "github", "delete_repo"),  # one retry: fine
        call(10, AGENT, "fs", "read_file", outcome="denied"),
        call(11, AGENT, "fs", "edit_file"),  # same object, other verb
        call(12, AGENT, "fs", "read_file"),  # one retry, allowed: the run ends
        call(13, AGENT, "fs", "read_file"),
        call(20, AGENT, "mail", "send_email", outcome="denied"),
        call(400, AGENT, "mail", "send_message"),  # 380 s later: outside 300 s
        call(500, AGENT, "mail", "send_email", outcome="error"),  # an error is not a denial
        call(501, AGENT, "mail", "send_message"),
    ]
    assert alerts(feed(eng, *quiet)) == []
    later = [
        call(0, AGENT, "mail", "send_email", outcome="denied"),
        *[call(1 + i, AGENT, "mail", f"search{i}") for i in range(3)],
        call(5, AGENT, "mail", "send_message"),  # the 4th call after the denial
    ]
    assert alerts(feed(engine(), *later)) == []
    assert len(alerts(feed(engine(retry_within_calls=4), *later))) == 1


def test_siblings() -> None:
    assert verb("deleteRepo") == "delete" and verb("send_email") == "send"
    assert siblings("s", "send_email", "s", "send_message")
    assert not siblings("s", "get_file", "s", "get_issue")
    assert not siblings("s", "read_file", "s", "edit_file")
    assert not siblings("s", "send_email", "t", "send_message")
    assert not siblings("s", "send_email", "s", "send_email")


# ---------------------------------------------------------------- words, windows, who is a sibling


def test_a_sibling_finding_says_what_it_worked_around_and_how_soon() -> None:
    denied = call(0, AGENT, "github", "delete_repo", outcome="denied", event_id="d0")
    retry = call(2, AGENT, "github", "deleteRepository", task_id="T1", session_id="s1")
    [a] = alerts(feed(engine(), denied, call(1, AGENT, "github", "search_code"), retry))
    assert a.reason == (
        f"{AGENT} called github/deleteRepository, a sibling of github/delete_repo, 2 call(s) "
        "after the gateway denied it: working around a denial"
    )
    assert (a.clause.key, a.clause.text) == (
        "hijack.retry_within_calls",
        "no working around a denial with a sibling tool or repeated tries",
    )
    assert a.details == {"same_tool": False} and a.score == 0.7
    assert (a.task_id, a.session_id) == ("T1", "s1")


def test_a_third_try_counts_from_the_last_denial() -> None:
    tries = [call(i, AGENT, "bank", "transfer", outcome="denied") for i in range(2)]
    [a] = alerts(feed(engine(), *tries, call(2, AGENT, "bank", "transfer")))
    assert a.reason == (
        f"{AGENT} called bank/transfer, the same tool, denied 2 times in a row, 1 call(s) "
        "after the gateway denied it: working around a denial"
    )
    assert a.details == {"same_tool": True}


def test_a_third_try_of_a_harmless_tool_is_quiet() -> None:
    tries = [call(i, AGENT, "fs", "read_file", outcome="denied") for i in range(3)]
    assert alerts(feed(engine(), *tries, call(3, AGENT, "fs", "read_file"))) == []


def _after_denial(calls_between: int, at: float, **hijack: Any) -> int:
    evs = [
        call(0, AGENT, "mail", "send_email", outcome="denied"),
        *[call(0.001 * (i + 1), AGENT, "x", f"q{i}") for i in range(calls_between)],
        call(at, AGENT, "mail", "send_message"),
    ]
    return len(alerts(feed(engine(**hijack), *evs)))


def test_the_windows_include_their_ends() -> None:
    assert _after_denial(2, 10) == 1  # the 3rd call after the denial
    assert _after_denial(3, 10) == 0
    assert _after_denial(0, 300) == 1  # exactly 300 s
    assert _after_denial(0, 300.5) == 0
    assert _after_denial(0, 60, retry_within_seconds=60) == 1
    assert _after_denial(0, 61, retry_within_seconds=60) == 0


def test_a_late_call_stamped_before_the_denial_is_not_a_workaround() -> None:
    d = feed(
        engine(),
        call(100, AGENT, "mail", "send_email", outcome="denied"),
        call(50, AGENT, "mail", "send_message"),  # late: it happened before the denial
    )
    assert alerts(d) == []


def test_a_workaround_ends_the_run_and_a_new_denial_starts_one() -> None:
    eng = engine()
    d = feed(
        eng,
        call(0, AGENT, "mail", "send_email", outcome="denied"),
        call(1, AGENT, "mail", "send_message"),
        call(2, AGENT, "mail", "send_sms"),  # the run has ended: no second alert
    )
    assert len(alerts(d)) == 1
    d = feed(
        eng,
        call(3, AGENT, "mail", "send_fax", outcome="denied"),
        call(4, AGENT, "mail", "send_sms"),
    )
    assert len(alerts(d)) == 1


def test_who_counts_as_a_sibling() -> None:
    assert siblings("s", "run_job", "s", "run_task")  # a 3-letter verb is distinctive
    assert not siblings("s", "do_x", "s", "do_y")
    assert not siblings("s", "create_a", "s", "create_b")  # too common a verb
    assert siblings("s", "send", "s", "sendMail")
    assert siblings("s", "send_email", "t", "send_email")
    assert verb("123abc") == "123" and verb("") == "" and verb("__x") == "x"
    assert verb("HTTPGet") == "h"


def test_a_sibling_in_the_same_second_as_the_denial_counts() -> None:
    d = feed(engine(), call(5, AGENT, "mail", "send_email", outcome="denied"),
             call(5, AGENT, "mail", "send_message"))  # fmt: skip
    assert len(alerts(d)) == 1


def test_it_can_be_disabled_and_revokes_the_calls_credential_when_asked() -> None:
    from monitor.core import EngineSettings

    evs = [call(0, AGENT, "mail", "send_email", outcome="denied", credential_id="c1"),
           call(1, AGENT, "mail", "send_message", credential_id="c1")]  # fmt: skip
    assert alerts(feed(engine(disabled=[DETECTOR]), *evs)) == []
    tools = [{"server": "*", "tool": "*"}]
    eng = Engine([charter("agent:*", tools=tools)], EngineSettings(revoke_min_severity="medium"))
    d = feed(eng, *evs)
    [alert] = alerts(d)
    [cmd] = [r for r in d.revocations if alert.alert_id in r.alert_ids]
    assert (cmd.scope, cmd.credential_ids) == ("credential", ["c1"])
