"""``mcpmon revoker``'s Kafka loop: consume commands, handle, produce acks, commit.

At-least-once, in order per partition. A command's offset is committed only
after its acks (and any failure alert) were confirmed by the broker
(``acks=all``); a crash before that redelivers it, and the ledger turns the
redelivery into ``already_applied`` acks. A message that is not a valid
``RevocationCommand`` goes to the dead-letter topic with its reason, length,
digest and head (:mod:`monitor.deadletter`), then is committed. When the
ledger (Redis) is unreachable the loop waits with capped backoff and tries the
same command again: without it idempotence cannot be decided, and nothing is
committed meanwhile.

No single message can stop the loop: any other failure while handling one
(a poison message) is logged, dead-lettered as ``handler error`` and committed
past; so is one whose dead letter could not even be produced (logged,
``mcpmon_revoker_deadletter_failures_total``). Only a broker that cannot be
reached ends the loop uncommitted (:func:`monitor.consume.broker_unavailable`).
The loop itself is the sink's too: :func:`monitor.consume.run_loop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from monitor.consume import LoopConfig, LoopHooks, dead_letter, run_loop
from monitor.events import MAX_MESSAGE_BYTES
from monitor.kafka_io import DEADLETTER_MAX_MESSAGE_BYTES, TopicSpec
from monitor.metrics import CollectorRegistry, RevokerMetrics
from monitor.output_contracts import RevocationCommand
from monitor.revoker.exceptions import LedgerUnavailable
from monitor.revoker.gate import REFUSED_PREFIX, CommandGate, refused_alert
from monitor.revoker.plan import MAX_POLL_INTERVAL_SECONDS, records_per_poll, worst_case_seconds
from monitor.revoker.revoker import Handled, Revoker
from monitor.settings import Settings

log = structlog.get_logger("monitor.revoker")

#: longest wait between two tries while the ledger is down
LEDGER_BACKOFF_MAX = 10.0


def revoker_topics(settings: Settings) -> list[TopicSpec]:
    n, rf = settings.partitions, settings.replication_factor
    return [
        TopicSpec(settings.topic_revocations, n, rf),
        TopicSpec(settings.topic_revocation_acks, n, rf),
        TopicSpec(settings.topic_alerts, n, rf),
        TopicSpec(settings.topic_deadletter, n, rf, max_message_bytes=DEADLETTER_MAX_MESSAGE_BYTES),
    ]


@dataclass(slots=True)
class Counters:
    commands: int = 0
    acks: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    deadletter: int = 0
    refused: int = 0  # forged, unsigned or expired: dead-lettered and alerted, never applied
    poison: int = 0  # failed in handling (not as invalid): dead-lettered, committed past
    deadletter_failed: int = 0  # dead letters the broker did not take: logged, committed past


class RevokerService:
    def __init__(
        self,
        settings: Settings,
        revoker: Revoker,
        *,
        metrics: RevokerMetrics | None = None,
        perf: Callable[[], float] = time.perf_counter,
        gate: CommandGate | None = None,
    ) -> None:
        """``metrics`` None: built (and served by :meth:`run`) when
        ``settings.revoker.metrics_port`` is set, else the revoker's own, if any.
        ``gate`` None: built from the settings' command keys and maximum age."""
        self.settings = settings
        self.revoker = revoker
        self.gate = gate or CommandGate(
            settings.command_keyring(), settings.revoker.command_max_age_seconds
        )
        self._serve = False
        if metrics is None and revoker.metrics is None and settings.revoker.metrics_port:
            metrics = RevokerMetrics(CollectorRegistry())
            self._serve = True
        if metrics is not None and revoker.metrics is None:
            revoker.metrics = metrics
        self.metrics: RevokerMetrics | None = metrics or revoker.metrics
        self.perf = perf  # wall clock of the latency histogram
        self.counters = Counters()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> Counters:
        """Consume, handle and commit until :meth:`stop` (:func:`monitor.consume.run_loop`)."""
        serve = self.metrics.registry if self._serve and self.metrics is not None else None
        hooks = LoopHooks(
            stopped=self._stop.is_set,
            started=self._started,
            close=self.revoker.aclose,
            finished=self._finished,
        )
        await run_loop(
            self._loop_config(), self._process, hooks, self.counters, self.metrics, serve
        )
        return self.counters

    def _loop_config(self) -> LoopConfig:
        s = self.settings
        worst = worst_case_seconds(self.revoker.policy, self.revoker.attempt_timeout)
        topics = revoker_topics(s)
        group, port, per_poll = s.revoker.group_id, s.revoker.metrics_port, records_per_poll(worst)
        return LoopConfig.of(s, topics, s.topic_revocations, group, port, per_poll)

    def _started(self) -> None:
        s = self.settings
        worst = worst_case_seconds(self.revoker.policy, self.revoker.attempt_timeout)
        if worst > 0.8 * MAX_POLL_INTERVAL_SECONDS:
            log.warning(
                "revoker_poll_interval_at_risk",
                detail=f"one command can take {worst:.0f} s against a dead actuator, longer than "
                f"the consumer's {MAX_POLL_INTERVAL_SECONDS:g} s poll interval allows: lower "
                "MCPMON_REVOKER_RETRY_ATTEMPTS / _RETRY_MAX_SECONDS / _TIMEOUT_SECONDS",
            )
        log.info(
            "revoker_started",
            bootstrap=s.kafka_bootstrap,
            topic=s.topic_revocations,
            group=s.revoker.group_id,
            actuators=[a.name for a in self.revoker.actuators],
            authenticated=self.gate.authenticates,
        )
        if not self.gate.authenticates:
            log.warning(
                "revocation_commands_unauthenticated",
                detail="MCPMON_COMMAND_SIGNING_KEYS is empty: every well-formed command on "
                f"{s.topic_revocations} is carried out, whoever wrote it",
            )

    def _finished(self) -> None:
        log.info("revoker_stopped", **asdict(self.counters))  # every counter, in field order

    async def _process(self, producer: AIOKafkaProducer, rec: ConsumerRecord) -> bool:
        """Handle one record and produce its outputs; False if stopped before (do not commit)."""
        if self._stop.is_set():
            return False  # not committed: the next revoker takes it from here
        s = self.settings
        raw = rec.value or b""
        if len(raw) > MAX_MESSAGE_BYTES:  # never parsed: no command is that long
            too_long = f"message of {len(raw)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}"
            await self._dead(producer, rec, too_long, None)
            return True
        try:
            cmd = RevocationCommand.model_validate_json(raw)
        except ValidationError as err:
            e = err.errors(include_url=False)[0]
            where = ".".join(str(x) for x in e["loc"]) or None
            await self._dead(producer, rec, f"invalid revocation command: {e['msg']}", where)
            return True
        refused = self.gate.check(cmd, self.revoker.clock())
        if refused is not None:
            # never applied, never acked (see monitor/revoker/gate.py): dead letter + alert
            self.counters.refused += 1
            alert = refused_alert(cmd, raw, refused, self.revoker.clock())
            log.error(
                "revocation_refused",
                command_id=cmd.command_id,
                agent_id=cmd.agent_id,
                reason=refused,
                partition=rec.partition,
                offset=rec.offset,
            )
            fut = await producer.send(
                s.topic_alerts, key=alert.agent_id.encode(), value=alert.to_json()
            )
            await self._dead(producer, rec, f"{REFUSED_PREFIX}: {refused}", "signature")
            await fut
            self.counters.alerts += 1
            return True
        t0 = self.perf()
        handled = await self._handle(cmd)
        if handled is not None and self.metrics is not None:
            self.metrics.latency.observe(self.perf() - t0)
        if handled is None:
            return False
        self.counters.commands += 1
        futs = [
            await producer.send(
                s.topic_revocation_acks, key=cmd.command_id.encode(), value=a.to_json()
            )
            for a in handled.acks
        ]
        futs += [
            await producer.send(s.topic_alerts, key=al.agent_id.encode(), value=al.to_json())
            for al in handled.alerts
        ]
        await asyncio.gather(*futs)
        for a in handled.acks:
            self.counters.acks[a.status] = self.counters.acks.get(a.status, 0) + 1
        self.counters.alerts += len(handled.alerts)
        return True

    async def _dead(
        self, producer: AIOKafkaProducer, rec: ConsumerRecord, reason: str, where: str | None
    ) -> None:
        """Dead-letter ``rec`` (bounded); a failure to is logged and counted, never raised."""
        topic = self.settings.topic_deadletter
        await dead_letter(producer, topic, rec, reason, where, self.counters, self.metrics)

    async def _handle(self, cmd: RevocationCommand) -> Handled | None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                return await self.revoker.handle(cmd)
            except LedgerUnavailable as err:
                if self.metrics is not None:
                    self.metrics.ledger_unavailable.inc()
                log.error(
                    "ledger_unavailable", command_id=cmd.command_id, error=str(err), retry_in=delay
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(LEDGER_BACKOFF_MAX, delay * 2)
        return None


__all__ = ["Counters", "RevokerService", "revoker_topics"]
