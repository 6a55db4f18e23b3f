"""The revoker with scripted actuators and an in-memory ledger: no servers, no waiting."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from monitor.retry import RetryPolicy
from monitor.revoker.exceptions import LedgerUnavailable
from monitor.revoker.ledger import MemoryLedger
from monitor.revoker.revoker import Revoker
from tests.revoker.support import T0, Scripted, Sleeps, command, final, transient

POLICY = RetryPolicy(attempts=4, base_seconds=0.5, factor=2.0, max_seconds=30)


def make(*acts: Scripted, ledger: MemoryLedger | None = None, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    sleeps = Sleeps()
    r = Revoker(
        list(acts),
        ledger or MemoryLedger(),
        POLICY,
        attempt_timeout=timeout,
        sleep=sleeps,
        clock=lambda: T0,
    )
    return r, sleeps


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_applies_through_every_actuator_and_acks_each() -> None:
    a, b = Scripted("denylist"), Scripted("oauth")
    r, sleeps = make(a, b)
    with capture_logs() as logs:
        out = run(r.handle(command()))
    assert [(k.actuator, k.status) for k in out.acks] == [
        ("denylist", "applied"),
        ("oauth", "applied"),
    ]
    assert out.acks[0].detail == "denylist did cmd-1" and out.acks[0].ts == T0
    assert out.alerts == [] and sleeps.delays == []
    assert {e["event"] for e in logs} == {"revocation_applied"}
    assert all(e["command_id"] == "cmd-1" for e in logs)


def test_redelivered_command_is_already_applied_never_applied_twice() -> None:
    a = Scripted("denylist")
    ledger = MemoryLedger()
    r, _ = make(a, ledger=ledger)
    run(r.handle(command()))
    again = run(r.handle(command()))
    assert a.calls == ["cmd-1"]
    assert [(k.status, k.detail) for k in again.acks] == [
        ("already_applied", "already applied: denylist did cmd-1")
    ]
    # a second revoker sharing the ledger (a restart) sees it too
    a2 = Scripted("denylist")
    r2, _ = make(a2, ledger=ledger)
    assert run(r2.handle(command())).acks[0].status == "already_applied" and a2.calls == []


def test_observe_mode_is_acked_and_never_applied_nor_recorded() -> None:
    a = Scripted("denylist")
    ledger = MemoryLedger()
    r, _ = make(a, ledger=ledger)
    with capture_logs() as logs:
        out = run(r.handle(command(mode="observe")))
    assert a.calls == [] and ledger.entries == {}
    assert out.acks[0].status == "applied"
    assert out.acks[0].detail.startswith("observe: not applied; would revoke credential cred-1")
    assert logs[0]["event"] == "revocation_observed"


def test_transient_failures_are_retried_with_backoff() -> None:
    a = Scripted("oauth", [transient(), transient()])
    r, sleeps = make(a)
    with capture_logs() as logs:
        out = run(r.handle(command()))
    assert sleeps.delays == [0.5, 1.0]
    assert a.calls == ["cmd-1"] * 3
    assert out.acks[0].status == "applied" and out.acks[0].detail.endswith("(attempt 3)")
    assert [e["event"] for e in logs] == [
        "revocation_retry",
        "revocation_retry",
        "revocation_applied",
    ]


def test_keeps_failing_is_acked_failed_with_an_alert_and_not_recorded() -> None:
    a = Scripted("oauth", [transient("oauth: HTTP 503")] * 10)
    ledger = MemoryLedger()
    r, sleeps = make(a, ledger=ledger)
    out = run(r.handle(command()))
    assert sleeps.delays == list(POLICY.schedule()) and len(a.calls) == POLICY.attempts
    (ack,) = out.acks
    assert ack.status == "failed"
    assert ack.detail == "oauth: HTTP 503 (gave up after 4 attempt(s))"
    (alert,) = out.alerts
    assert alert.detector == "revocation_failed" and alert.details["actuator"] == "oauth"
    assert ledger.entries == {}
    # a later redelivery tries again (and may succeed)
    a.script = []
    assert run(r.handle(command())).acks[0].status == "applied"


def test_final_error_fails_at_once() -> None:
    a = Scripted("webhook", [final("webhook: HTTP 404")])
    r, sleeps = make(a)
    out = run(r.handle(command()))
    assert sleeps.delays == [] and len(a.calls) == 1
    assert out.acks[0].status == "failed" and "404" in out.acks[0].detail
    assert len(out.alerts) == 1


def test_slow_actuator_times_out_and_is_retried() -> None:
    a = Scripted("vault", [5.0, 5.0, 5.0, 5.0])
    r, _sleeps = make(a, timeout=0.05)
    out = run(asyncio.wait_for(r.handle(command()), 5))
    assert out.acks[0].status == "failed"
    assert "no answer in 0.05 s" in out.acks[0].detail and len(a.calls) == 4


def test_unexpected_exception_is_a_failure_not_a_crash() -> None:
    a = Scripted("webhook", [RuntimeError("bug")])
    r, _ = make(a)
    out = run(r.handle(command()))
    assert out.acks[0].status == "failed" and "RuntimeError: bug" in out.acks[0].detail


def test_partial_success_retries_only_the_failed_actuator_on_redelivery() -> None:
    ok, bad = Scripted("denylist"), Scripted("oauth", [final()])
    r, _ = make(ok, bad)
    first = run(r.handle(command()))
    assert [k.status for k in first.acks] == ["applied", "failed"]
    second = run(r.handle(command()))
    assert [k.status for k in second.acks] == ["already_applied", "applied"]
    assert ok.calls == ["cmd-1"] and bad.calls == ["cmd-1", "cmd-1"]


class DownLedger(MemoryLedger):
    async def applied(self, command_id: str, actuator: str) -> str | None:
        raise LedgerUnavailable("ledger: ConnectionError")


def test_unavailable_ledger_raises_so_nothing_is_acked_or_committed() -> None:
    a = Scripted("denylist")
    r, _ = make(a, ledger=DownLedger())
    with pytest.raises(LedgerUnavailable):
        run(r.handle(command()))
    assert a.calls == []
    # observe mode needs no ledger
    assert run(r.handle(command(mode="observe"))).acks[0].status == "applied"


def test_duplicate_actuator_names_are_refused() -> None:
    with pytest.raises(ValueError):
        make(Scripted("x"), Scripted("x"))


def test_aclose_closes_every_actuator() -> None:
    a, b = Scripted("a"), Scripted("b")
    r, _ = make(a, b)
    run(r.aclose())
    assert a.closed and b.closed
