"""The revoker with scripted actuators and an in-memory ledger: no servers, no waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from monitor.core.redact import RedactionRules, Redactor
from monitor.metrics import CollectorRegistry, RevokerMetrics
from monitor.output_contracts import RevocationCommand
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


# ------------------------------------------------------------------ what operators see
# Acks and alerts are the contract consumers (SOAR, SIEM rules) match on; the metrics and the
# structured log lines are what an operator alerts and searches on: their names, labels and
# fields are pinned here, each path (observe, redelivery, retry, give-up) on its own.


def test_ack_timestamps_of_the_default_clock_are_utc() -> None:
    """An ack is stamped with an aware UTC time (serialized with its offset), never a naive
    local one that a consumer in another zone would misread."""
    r = Revoker([Scripted("denylist")], MemoryLedger(), POLICY, sleep=Sleeps())
    (ack,) = run(r.handle(command())).acks
    assert ack.ts.tzinfo is not None and ack.ts.utcoffset() == timedelta(0)


def test_duplicate_actuator_names_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"actuator names must be unique: \['x', 'y', 'x'\]"):
        make(Scripted("x"), Scripted("y"), Scripted("x"))


def test_success_on_the_second_attempt_says_so_in_the_ack() -> None:
    """Only an attempt after the first is named: one retry is worth telling the consumer."""
    a = Scripted("oauth", [transient()])
    r, sleeps = make(a)
    (ack,) = run(r.handle(command())).acks
    assert ack.status == "applied" and ack.detail == "oauth did cmd-1 (attempt 2)"
    assert sleeps.delays == [0.5]


def _logged(logs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(e) for e in logs]


def test_observed_and_already_applied_are_logged_with_command_and_actuator() -> None:
    a = Scripted("denylist")
    r, _ = make(a)
    with capture_logs() as logs:
        out = run(r.handle(command(mode="observe")))
    assert _logged(logs) == [
        {
            "event": "revocation_observed",
            "log_level": "info",
            "command_id": "cmd-1",
            "actuator": "denylist",
            "detail": out.acks[0].detail,
        }
    ]
    run(r.handle(command()))
    with capture_logs() as logs:
        run(r.handle(command()))  # redelivered
    assert _logged(logs) == [
        {
            "event": "revocation_already_applied",
            "log_level": "info",
            "command_id": "cmd-1",
            "actuator": "denylist",
        }
    ]


def test_retry_and_applied_are_logged_with_attempt_delay_and_error() -> None:
    a = Scripted("oauth", [transient("oauth: HTTP 503")])
    r, _ = make(a)
    with capture_logs() as logs:
        run(r.handle(command()))
    assert _logged(logs) == [
        {
            "event": "revocation_retry",
            "log_level": "warning",
            "command_id": "cmd-1",
            "actuator": "oauth",
            "attempt": 1,
            "delay": 0.5,
            "error": "oauth: HTTP 503",
        },
        {
            "event": "revocation_applied",
            "log_level": "info",
            "command_id": "cmd-1",
            "actuator": "oauth",
            "attempts": 2,
            "detail": "oauth did cmd-1",
        },
    ]


def test_giving_up_is_logged_as_revocation_failed_with_attempts_and_error() -> None:
    a = Scripted("webhook", [transient("webhook: HTTP 502"), final("webhook: HTTP 404")])
    r, _ = make(a)
    with capture_logs() as logs:
        run(r.handle(command()))
    assert _logged(logs)[-1] == {
        "event": "revocation_failed",
        "log_level": "error",
        "command_id": "cmd-1",
        "actuator": "webhook",
        "attempts": 2,
        "error": "webhook: HTTP 404",
    }
    assert _logged(logs)[0]["error"] == "webhook: HTTP 502"  # the retry names its own error


def test_metrics_count_commands_acks_retries_failures_and_alerts() -> None:
    """The revoker's Prometheus counters, by mode, actuator and status (what dashboards and
    alert rules select on)."""
    reg = CollectorRegistry()
    ok, flaky, broken = (
        Scripted("denylist"),
        Scripted("oauth", [transient()]),
        Scripted("webhook", [final(), final()]),
    )
    r = Revoker(
        [ok, flaky, broken],
        MemoryLedger(),
        POLICY,
        sleep=Sleeps(),
        clock=lambda: T0,
        metrics=RevokerMetrics(reg),
    )
    run(r.handle(command()))
    run(r.handle(command()))  # redelivered
    run(r.handle(command(command_id="cmd-2", mode="observe")))

    def value(name: str, **labels: str) -> float | None:
        return reg.get_sample_value(name, labels)

    acks = "mcpmon_revoker_acks_total"
    assert value("mcpmon_revoker_commands_total", mode="enforce") == 2
    assert value("mcpmon_revoker_commands_total", mode="observe") == 1
    assert value(acks, actuator="denylist", status="applied") == 2
    assert value(acks, actuator="denylist", status="already_applied") == 1
    assert value(acks, actuator="oauth", status="already_applied") == 1
    assert value(acks, actuator="webhook", status="failed") == 2
    assert value(acks, actuator="webhook", status="applied") == 1  # observe
    assert value("mcpmon_revoker_retries_total", actuator="oauth") == 1
    assert value("mcpmon_revoker_failures_total", actuator="webhook") == 2
    assert value("mcpmon_revoker_failures_total", actuator="oauth") is None
    assert value("mcpmon_revoker_alerts_total") == 2


def test_failure_alert_names_the_error_and_attempts_redacted_by_the_revokers_rules() -> None:
    """The revocation_failed alert carries the (redacted) error and the attempt count, and the
    deployment's own redaction rules apply to it, also to the command's reason from the bus."""
    redact = Redactor(RedactionRules(extra=("acct-[0-9]+",)))
    a = Scripted("oauth", [transient("oauth: HTTP 503 for acct-12345")] * 10)
    r = Revoker([a], MemoryLedger(), POLICY, sleep=Sleeps(), clock=lambda: T0, redact=redact)
    out = run(r.handle(command(reason="lingering_access: acct-999")))
    error = "oauth: HTTP 503 for [REDACTED:custom-1]"
    assert out.acks[0].detail == f"{error} (gave up after 4 attempt(s))"
    (alert,) = out.alerts
    assert alert.details["error"] == error and alert.details["attempts"] == 4
    assert f"failed after 4 attempt(s): {error}." in alert.reason
    assert "acct-999" not in alert.reason and "acct-12345" not in alert.to_json().decode()


class Yields:
    """An actuator whose apply takes many turns of the event loop (no wall-clock wait)."""

    name = "denylist"

    def __init__(self) -> None:
        self.calls = 0

    async def apply(self, cmd: RevocationCommand) -> str:
        self.calls += 1
        for _ in range(50):
            await asyncio.sleep(0)
        return "denied"

    async def aclose(self) -> None:
        return None


class DownOnceFor(MemoryLedger):
    """A ledger that cannot answer for one actuator, once."""

    def __init__(self, actuator: str) -> None:
        super().__init__()
        self.down_for: str | None = actuator

    async def applied(self, command_id: str, actuator: str) -> str | None:
        if actuator == self.down_for:
            self.down_for = None
            raise LedgerUnavailable("ledger: ConnectionError")
        return await super().applied(command_id, actuator)


def test_a_ledger_failure_waits_for_the_other_actuators_before_raising() -> None:
    """handle() raises LedgerUnavailable only once every actuator is done: the caller retries
    the command, and an actuator still running in the background would be applied twice (its
    success not yet recorded when the retry asks the ledger)."""
    slow = Yields()
    r = Revoker(
        [slow, Scripted("oauth")],
        DownOnceFor("oauth"),
        POLICY,
        sleep=Sleeps(),
        clock=lambda: T0,
    )

    async def go() -> list[tuple[str, str]]:
        with pytest.raises(LedgerUnavailable):
            await r.handle(command())
        again = await r.handle(command())  # what the service does: the same command again
        return [(k.actuator, k.status) for k in again.acks]

    assert run(go()) == [("denylist", "already_applied"), ("oauth", "applied")]
    assert slow.calls == 1
