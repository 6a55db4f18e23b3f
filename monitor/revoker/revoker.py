"""Carry one command out through every actuator: decide, retry, record, ack.

No Kafka here (the consumer loop in :mod:`monitor.revoker.service` decodes,
calls :meth:`Revoker.handle`, produces what it returns and commits). Time and
sleeping are passed in, so tests run the whole retry schedule instantly.

Actuators run concurrently, each with its own retries; one that is slow or
down never holds up the others' acks beyond its own bounded schedule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from monitor.core.redact import DEFAULT_REDACTOR, Redactor
from monitor.metrics import RevokerMetrics
from monitor.output_contracts import Alert, RevocationAck, RevocationCommand
from monitor.retry import RetryPolicy
from monitor.revoker.actuators.base import Actuator
from monitor.revoker.exceptions import ActuatorError, LedgerUnavailable
from monitor.revoker.ledger import Ledger
from monitor.revoker.plan import ack, decide, failure_alert, observe_detail

log = structlog.get_logger("monitor.revoker")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Handled:
    acks: list[RevocationAck] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


class Revoker:
    def __init__(
        self,
        actuators: Sequence[Actuator],
        ledger: Ledger,
        policy: RetryPolicy,
        *,
        attempt_timeout: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utc_now,
        metrics: RevokerMetrics | None = None,
        redact: Redactor = DEFAULT_REDACTOR,
    ) -> None:
        names = [a.name for a in actuators]
        if len(set(names)) != len(names):
            raise ValueError(f"actuator names must be unique: {names}")
        self.actuators = list(actuators)
        self.ledger = ledger
        self.policy = policy
        self.attempt_timeout = attempt_timeout
        self.sleep = sleep
        self.clock = clock
        self.metrics = metrics
        # what an actuator says quotes its endpoint (a webhook URL with a token in it) and
        # the endpoint's reply: redacted before it reaches an ack, a log line or an alert
        self.redact = redact

    async def handle(self, cmd: RevocationCommand) -> Handled:
        """Acks (one per actuator) and alerts for ``cmd``.

        Raises :class:`LedgerUnavailable` when idempotence cannot be decided or
        recorded: the caller must not commit the command, and tries it again.
        """
        results = await asyncio.gather(
            *(self._one(cmd, a) for a in self.actuators), return_exceptions=True
        )
        out = Handled()
        for r in results:
            if isinstance(r, BaseException):
                raise r
            a, alert = r
            out.acks.append(a)
            if alert is not None:
                out.alerts.append(alert)
        if self.metrics is not None:
            m = self.metrics
            m.commands.labels(cmd.mode).inc()
            for a in out.acks:
                m.acks.labels(a.actuator, a.status).inc()
            m.alerts.inc(len(out.alerts))
        return out

    async def _one(
        self, cmd: RevocationCommand, act: Actuator
    ) -> tuple[RevocationAck, Alert | None]:
        name = act.name
        prev = None if cmd.mode == "observe" else await self.ledger.applied(cmd.command_id, name)
        action = decide(cmd.mode, prev is not None)
        if action == "observe":
            detail = observe_detail(cmd)
            log.info("revocation_observed", command_id=cmd.command_id, actuator=name, detail=detail)
            return ack(cmd, name, "applied", detail, self.clock()), None
        if action == "skip":
            log.info("revocation_already_applied", command_id=cmd.command_id, actuator=name)
            return ack(cmd, name, "already_applied", f"already applied: {prev}", self.clock()), None
        attempt = 0
        while True:
            attempt += 1
            try:
                detail = self.redact(await asyncio.wait_for(act.apply(cmd), self.attempt_timeout))
            except ActuatorError as err:
                error, retryable = self.redact(str(err)), err.retryable
            except TimeoutError:
                error, retryable = f"{name}: no answer in {self.attempt_timeout:g} s", True
            except Exception as err:  # an actuator bug must not lose the command
                error, retryable = self.redact(f"{name}: {type(err).__name__}: {err}"), False
            else:
                await self.ledger.record(cmd.command_id, name, detail, command=cmd)
                log.info(
                    "revocation_applied",
                    command_id=cmd.command_id,
                    actuator=name,
                    attempts=attempt,
                    detail=detail,
                )
                if attempt > 1:
                    detail = f"{detail} (attempt {attempt})"
                return ack(cmd, name, "applied", detail, self.clock()), None
            if self.policy.should_retry(attempt, retryable):
                delay = self.policy.delay(attempt)
                if self.metrics is not None:
                    self.metrics.retries.labels(name).inc()
                log.warning(
                    "revocation_retry",
                    command_id=cmd.command_id,
                    actuator=name,
                    attempt=attempt,
                    delay=delay,
                    error=error,
                )
                await self.sleep(delay)
                continue
            detail = f"{error} (gave up after {attempt} attempt(s))"
            if self.metrics is not None:
                self.metrics.failures.labels(name).inc()
            log.error(
                "revocation_failed",
                command_id=cmd.command_id,
                actuator=name,
                attempts=attempt,
                error=error,
            )
            now = self.clock()
            return ack(cmd, name, "failed", detail, now), failure_alert(
                cmd, name, error, attempt, now, self.redact
            )

    async def aclose(self) -> None:
        for a in self.actuators:
            await a.aclose()
        await self.ledger.aclose()


__all__ = ["Handled", "LedgerUnavailable", "Revoker"]
