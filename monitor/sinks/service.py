"""``mcpmon sink``'s Kafka loop: consume alerts, deliver, commit.

At-least-once, in order per partition: the revoker's loop
(:func:`monitor.consume.run_loop`). An alert's offset is committed only after
its transport confirmed delivery. A delivery that fails is retried with the
revoker's capped exponential backoff (:class:`~monitor.retry.RetryPolicy`)
for as long as the sink runs: every ``sink_retry_attempts`` failed attempts it
logs ``sink_delivery_failed`` at error level, and the alert stays uncommitted —
on stop, the next sink in the group gets it again. Nothing is skipped; an
alert that can never be delivered (:class:`Undeliverable`) is dead-lettered. A
message that is not a valid :class:`~monitor.output_contracts.Alert` goes to the
dead-letter topic with its reason, length, digest and head
(:mod:`monitor.deadletter`), then is committed.

No single message can stop the loop: any other failure while handling one
(a poison message) is logged, dead-lettered as ``handler error`` and committed
past; so is one whose dead letter could not even be produced (logged,
``mcpmon_sink_deadletter_failures_total``). Only a broker that cannot be
reached ends the loop uncommitted (:func:`monitor.consume.broker_unavailable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from monitor import deadletter
from monitor.consume import LoopConfig, LoopHooks, dead_letter, run_loop
from monitor.events import MAX_MESSAGE_BYTES
from monitor.kafka_io import DEADLETTER_MAX_MESSAGE_BYTES, TopicSpec
from monitor.metrics import CollectorRegistry, SinkMetrics
from monitor.output_contracts import Alert
from monitor.retry import RetryPolicy
from monitor.settings import Settings
from monitor.sinks.exceptions import DeliveryError, Undeliverable
from monitor.sinks.transports import (
    OcsfFile,
    SplunkHec,
    SyslogTcp,
    SyslogUdp,
    Transport,
)

log = structlog.get_logger("monitor.sinks")

Wait = Callable[[float], Awaitable[bool]]


def group_id(settings: Settings) -> str:
    return settings.sink.group_id or f"mcpmon-sink-{settings.sink.to}"


def build_transport(settings: Settings) -> Transport:
    s = settings
    hostname = s.sink.hostname or socket.gethostname()
    if s.sink.to == "ocsf-file":
        return OcsfFile(s.sink.file, s.revoke_min_severity)
    if s.sink.to == "cef-syslog":
        if s.sink.syslog_protocol == "udp":
            return SyslogUdp(
                s.sink.syslog_host,
                s.sink.syslog_port,
                hostname=hostname,
                facility=s.sink.syslog_facility,
            )
        return SyslogTcp(
            s.sink.syslog_host,
            s.sink.syslog_port,
            hostname=hostname,
            facility=s.sink.syslog_facility,
            timeout=s.sink.timeout_seconds,
        )
    return SplunkHec(
        s.sink.hec_url,
        s.sink.hec_token.get_secret_value(),
        host=hostname,
        source=s.sink.hec_source,
        sourcetype=s.sink.hec_sourcetype,
        index=s.sink.hec_index,
        timeout=s.sink.timeout_seconds,
        verify=s.sink.hec_verify_tls,
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        attempts=settings.sink.retry_attempts,
        base_seconds=settings.sink.retry_base_seconds,
        max_seconds=settings.sink.retry_max_seconds,
    )


class Deliverer:
    """Delivers one alert through a transport, retrying until it succeeds or is stopped.

    Except for an alert that cannot be delivered at all (a poison alert): one the
    transport refuses as such (``DeliveryError(permanent=True)``, e.g. too large
    for a datagram), or one on which the transport fails with anything but a
    :class:`DeliveryError` (a formatting failure or bug this alert triggers)
    ``policy.attempts`` times in a row. Then :class:`Undeliverable` is raised,
    and the service dead-letters it instead of retrying it for ever.
    """

    def __init__(
        self, transport: Transport, policy: RetryPolicy, metrics: SinkMetrics | None = None
    ) -> None:
        self.transport = transport
        self.policy = policy
        self.metrics = metrics
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    async def _wait(self, delay: float) -> bool:
        """Sleep ``delay`` s; True if stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)
        return self._stop.is_set()

    async def deliver(self, alert: Alert) -> bool:
        """True once delivered; False if stopped first (the caller must not commit).

        Raises :class:`Undeliverable` for an alert that can never be delivered.
        """
        name = self.transport.name
        attempt = 0
        failing = 0  # attempts in a row that failed with anything but a DeliveryError
        while not self._stop.is_set():
            attempt += 1
            try:
                await self.transport.send(alert)
            except DeliveryError as err:
                if err.permanent:
                    raise Undeliverable(str(err)) from err
                error, failing = str(err), 0
            except BrokenPipeError:
                raise  # --file -: the reader of stdout left; stop as every pipe does
            except Exception as err:  # a transport bug: retried, then dead-lettered (not lost)
                error, failing = f"{name}: {type(err).__name__}: {err}", failing + 1
                if failing >= self.policy.attempts:
                    raise Undeliverable(f"{error} ({failing} attempts)") from err
            else:
                if attempt > 1:
                    log.info(
                        "sink_delivered_after_retry",
                        alert_id=alert.alert_id,
                        sink=name,
                        attempts=attempt,
                    )
                return True
            delay = self.policy.delay(min(attempt, 64))
            if self.metrics is not None:
                self.metrics.retries.labels(name).inc()
            if attempt % self.policy.attempts == 0:
                log.error(
                    "sink_delivery_failed",
                    alert_id=alert.alert_id,
                    sink=name,
                    attempts=attempt,
                    error=error,
                    detail="not committed; still retrying",
                    retry_in=delay,
                )
            else:
                log.warning(
                    "sink_retry",
                    alert_id=alert.alert_id,
                    sink=name,
                    attempt=attempt,
                    error=error,
                    retry_in=delay,
                )
            if await self._wait(delay):
                break
        log.warning("sink_stopped_undelivered", alert_id=alert.alert_id, sink=name)
        return False


@dataclass(slots=True)
class SinkCounters:
    delivered: int = 0
    deadletter: int = 0
    poison: int = 0  # failed in handling (not as invalid): dead-lettered, committed past
    deadletter_failed: int = 0  # dead letters the broker did not take: logged, committed past


class SinkService:
    def __init__(
        self,
        settings: Settings,
        transport: Transport,
        *,
        metrics: SinkMetrics | None = None,
        perf: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``metrics`` None: built and served by :meth:`run` when ``sink_metrics_port`` is set."""
        self.settings = settings
        self.transport = transport
        self._serve = metrics is None and settings.sink.metrics_port > 0
        if self._serve:
            metrics = SinkMetrics(CollectorRegistry())
        self.metrics = metrics
        self.perf = perf  # wall clock of the delivery histogram
        self.deliverer = Deliverer(transport, retry_policy(settings), metrics)
        self.counters = SinkCounters()

    def stop(self) -> None:
        self.deliverer.stop()

    async def run(self) -> SinkCounters:
        """Consume, deliver and commit until :meth:`stop` (:func:`monitor.consume.run_loop`)."""
        s = self.settings
        n, rf = s.partitions, s.replication_factor
        topics = [
            TopicSpec(s.topic_alerts, n, rf),
            TopicSpec(s.topic_deadletter, n, rf, max_message_bytes=DEADLETTER_MAX_MESSAGE_BYTES),
        ]
        cfg = LoopConfig.of(s, topics, s.topic_alerts, group_id(s), s.sink.metrics_port)
        hooks = LoopHooks(
            stopped=lambda: self.deliverer.stopped,
            started=lambda: log.info(
                "sink_started", sink=self.transport.name, topic=s.topic_alerts, group=group_id(s)
            ),
            close=self.transport.aclose,
            finished=lambda: log.info(  # every counter, in field order
                "sink_stopped", sink=self.transport.name, **asdict(self.counters)
            ),
        )
        serve = self.metrics.registry if self._serve and self.metrics is not None else None
        await run_loop(cfg, self._process, hooks, self.counters, self.metrics, serve)
        return self.counters

    async def _process(self, producer: AIOKafkaProducer, rec: ConsumerRecord) -> bool:
        raw = rec.value or b""
        if len(raw) > MAX_MESSAGE_BYTES:  # never parsed: no alert is that long
            too_long = f"message of {len(raw)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}"
            await self._dead(producer, rec, too_long, None)
            return True
        try:
            alert = Alert.model_validate_json(raw)
        except ValidationError as err:
            e = err.errors(include_url=False)[0]
            where = ".".join(str(x) for x in e["loc"]) or None
            await self._dead(producer, rec, f"invalid alert: {e['msg']}", where)
            return True
        t0 = self.perf()
        try:
            if not await self.deliverer.deliver(alert):
                return False
        except Undeliverable as err:
            log.error(
                "sink_undeliverable",
                alert_id=deadletter.clip(alert.alert_id, deadletter.MAX_FIELD_CHARS),
                sink=self.transport.name,
                error=deadletter.clip(str(err)),
                detail="dead-lettered and committed past; it stays on the alerts topic",
            )
            await self._dead(producer, rec, f"undeliverable alert: {err}", None)
            return True
        self.counters.delivered += 1
        if self.metrics is not None:
            self.metrics.latency.observe(self.perf() - t0)
            self.metrics.delivered.labels(self.transport.name).inc()
        return True

    async def _dead(
        self, producer: AIOKafkaProducer, rec: ConsumerRecord, reason: str, where: str | None
    ) -> None:
        """Dead-letter ``rec`` (bounded); a failure to is logged and counted, never raised."""
        topic = self.settings.topic_deadletter
        await dead_letter(producer, topic, rec, reason, where, self.counters, self.metrics)


__all__ = [
    "Deliverer",
    "SinkCounters",
    "SinkService",
    "Undeliverable",
    "build_transport",
    "group_id",
]
