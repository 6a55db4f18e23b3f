"""The one consume → process → commit loop of the revoker and the sink, and its helpers.

At-least-once, in order per partition. A service hands :func:`run_loop` a
``process(producer, record)`` that carries out the message's side effect and
waits for it (acks, a delivery); only when it returns ``True`` is the offset
committed. ``False`` means "stopped before the side effect": nothing is
committed, the next owner of the partition gets the message again.

No single message can stop the loop (:func:`survive_poison`): any failure
while handling one is logged, dead-lettered as ``handler error`` with its
bounded record (:mod:`monitor.deadletter`) and committed past; so is one whose
dead letter could not even be produced (logged, ``*_deadletter_failures_total``).
Only a broker that cannot be reached (:func:`broker_unavailable`) ends the loop
uncommitted. A commit refused because the partition was rebalanced away is
logged (``commit_failed``); the new owner handles the message again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    ProducerClosed,
)
from aiokafka.structs import ConsumerRecord

from monitor import deadletter
from monitor.heartbeat import Heartbeat
from monitor.kafka_io import TopicSpec, ensure_topics
from monitor.metrics import CollectorRegistry, LagTracker, serve_if
from monitor.settings import Settings

log = structlog.get_logger("monitor.consume")

__all__ = [
    "DeadLetterCounters",
    "LoopConfig",
    "LoopHooks",
    "acked_producer",
    "broker_unavailable",
    "dead_letter",
    "group_consumer",
    "produce_deadletter",
    "run_loop",
    "shut_down",
    "survive_poison",
]

Process = Callable[[AIOKafkaProducer, ConsumerRecord], Awaitable[bool]]


def group_consumer(
    bootstrap: str, topic: str, group_id: str, session_timeout_s: float
) -> AIOKafkaConsumer:
    """A consumer in ``group_id`` that commits by hand, after the work is done (at-least-once)."""
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(session_timeout_s * 1000),
    )


def acked_producer(bootstrap: str) -> AIOKafkaProducer:
    """A producer whose sends count as done only once every in-sync replica has them."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=2, enable_idempotence=False
    )


def broker_unavailable(err: BaseException) -> bool:
    """Whether ``err`` says the broker cannot be reached now, not that a message is bad.

    A consume-produce loop lets these end it uncommitted (the message is
    redelivered to the next run); any other failure while handling one
    message is that message's own (a poison message): dead-lettered and
    committed past.
    """
    if isinstance(err, KafkaConnectionError | KafkaTimeoutError | ProducerClosed):
        return True
    return isinstance(err, KafkaError) and bool(getattr(err, "retriable", False))


async def produce_deadletter(
    producer: AIOKafkaProducer,
    topic: str,
    rec: ConsumerRecord,
    reason: str,
    field: str | None,
) -> Exception | None:
    """Produce the bounded dead letter (:mod:`monitor.deadletter`) of the consumed ``rec``
    to ``topic`` and wait for the broker; the error if that failed (it never raises one)."""
    value = deadletter.encode(
        rec.value or b"", reason, field, topic=rec.topic, partition=rec.partition, offset=rec.offset
    )
    try:
        fut = await producer.send(topic, key=deadletter.key(rec.key), value=value)
        await fut
    except Exception as err:
        return err
    return None


class DeadLetterCounters(Protocol):
    deadletter: int
    deadletter_failed: int
    poison: int


async def dead_letter(
    producer: AIOKafkaProducer,
    topic: str,
    rec: ConsumerRecord,
    reason: str,
    where: str | None,
    counters: DeadLetterCounters,
    metrics: Any | None,
) -> None:
    """Log, count and dead-letter (bounded) a consumed message a loop will commit past.

    The revoker's and the sink's one way to give up on a message. It never
    raises: a dead letter the broker does not take is logged and counted
    (``metrics.deadletter_failures``), and the loop commits past the message all
    the same — it stays at its offset of the source topic.
    """
    counters.deadletter += 1
    if metrics is not None:
        metrics.deadletters.labels(deadletter.reason_class(reason)).inc()
    log.warning(
        "deadletter",
        reason=deadletter.clip(reason),
        field=None if where is None else deadletter.clip(where, deadletter.MAX_FIELD_CHARS),
        partition=rec.partition,
        offset=rec.offset,
        length=len(rec.value or b""),
    )
    err = await produce_deadletter(producer, topic, rec, reason, where)
    if err is not None:
        counters.deadletter_failed += 1
        if metrics is not None:
            metrics.deadletter_failures.inc()
        log.error(
            "deadletter_failed",
            partition=rec.partition,
            offset=rec.offset,
            error=deadletter.clip(f"{type(err).__name__}: {err}"),
            detail="committed past it all the same: the message stays at this offset "
            "of the source topic",
        )


async def survive_poison(
    process: Callable[[], Awaitable[bool]],
    producer: AIOKafkaProducer,
    topic: str,
    rec: ConsumerRecord,
    counters: DeadLetterCounters,
    metrics: Any | None,
) -> bool:
    """``process()`` of the consumed ``rec``, where a failure of this one message never
    ends the loop: it is logged, counted (``poison``), dead-lettered as ``handler error``
    and ``True`` returned (commit past it). A broker that cannot be reached is not the
    message's fault: that error is raised, and the message stays uncommitted."""
    try:
        return await process()
    except Exception as err:
        if broker_unavailable(err):
            raise
        counters.poison += 1
        reason = f"handler error: {type(err).__name__}: {err}"
        log.error(
            "poison_message",
            error=deadletter.clip(reason),
            partition=rec.partition,
            offset=rec.offset,
            length=len(rec.value or b""),
        )
        await dead_letter(producer, topic, rec, reason, None, counters, metrics)
        return True


async def shut_down(
    consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, task: asyncio.Task[None] | None
) -> None:
    """Stop a consume-produce loop's helper task, consumer and producer; errors while stopping
    are swallowed (the loop is ending either way, and uncommitted work is redelivered)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with contextlib.suppress(Exception):
        await consumer.stop()
    with contextlib.suppress(Exception):
        await producer.stop()


@dataclass(frozen=True, slots=True)
class LoopConfig:
    """Where a loop reads, where its dead letters go, and what it serves."""

    bootstrap: str
    topics: list[TopicSpec]  # created (if missing) before the consumer starts
    topic: str  # the one consumed
    group_id: str
    session_timeout_seconds: float
    deadletter_topic: str
    heartbeat_file: str
    metrics_port: int = 0
    metrics_addr: str = "127.0.0.1"
    max_records: int | None = None  # per poll (None: aiokafka's default)

    @classmethod
    def of(
        cls,
        settings: Settings,
        topics: list[TopicSpec],
        topic: str,
        group_id: str,
        metrics_port: int,
        max_records: int | None = None,
    ) -> LoopConfig:
        """A service's loop: broker, session timeout, dead letters, heartbeat from ``settings``."""
        s = settings
        return cls(
            s.kafka_bootstrap,
            topics,
            topic,
            group_id,
            s.kafka_session_timeout_seconds,
            s.topic_deadletter,
            s.heartbeat_file,
            metrics_port,
            s.metrics_addr,
            max_records,
        )


@dataclass(frozen=True, slots=True)
class LoopHooks:
    """What the service does around the loop: its log lines and its own clean-up."""

    stopped: Callable[[], bool]  # checked once per poll and after each partition's batch
    started: Callable[[], None]  # once the consumer and the producer run
    close: Callable[[], Awaitable[None]]  # after the consumer and the producer stopped
    finished: Callable[[], None]  # last: the service's "stopped" log line


async def run_loop(
    cfg: LoopConfig,
    process: Process,
    hooks: LoopHooks,
    counters: DeadLetterCounters,
    metrics: Any | None,
    serve: CollectorRegistry | None = None,
) -> None:
    """Consume ``cfg.topic`` until ``hooks.stopped()``; commit each message after ``process``.

    ``metrics``: the service's metrics (``deadletters``, ``deadletter_failures``,
    ``lag``), or None. ``serve``: a registry to expose on ``cfg.metrics_port``.
    """
    await ensure_topics(cfg.bootstrap, cfg.topics)
    consumer = group_consumer(cfg.bootstrap, cfg.topic, cfg.group_id, cfg.session_timeout_seconds)
    producer = acked_producer(cfg.bootstrap)
    server = serve_if(serve, cfg.metrics_port, cfg.metrics_addr)
    try:
        await producer.start()
        await consumer.start()
    except BaseException:
        if server is not None:
            server.close()
        raise
    lag = LagTracker(metrics.lag) if metrics is not None else None
    lag_task = None if lag is None else asyncio.create_task(lag.run(consumer))
    hooks.started()

    async def one(rec: ConsumerRecord) -> bool:
        return await survive_poison(
            lambda: process(producer, rec), producer, cfg.deadletter_topic, rec, counters, metrics
        )

    try:
        heartbeat = Heartbeat(cfg.heartbeat_file)
        while not hooks.stopped():
            heartbeat.beat()  # the loop turns: health checks see the file's age
            batch = await consumer.getmany(timeout_ms=300, max_records=cfg.max_records)
            for tp, recs in batch.items():
                if recs and lag is not None:
                    lag.fetched(tp, recs[0].offset)
            for tp, recs in batch.items():
                await _commit_each(consumer, tp, recs, one, lag)
                if hooks.stopped():
                    break
    finally:
        await shut_down(consumer, producer, lag_task)
        await hooks.close()
        if server is not None:
            server.close()
        hooks.finished()


async def _commit_each(
    consumer: AIOKafkaConsumer,
    tp: Any,
    recs: list[ConsumerRecord],
    one: Callable[[ConsumerRecord], Awaitable[bool]],
    lag: LagTracker | None,
) -> None:
    """Handle one partition's batch in order, committing after each message; stop at the
    first not handled (stopped) or not committed (rebalanced away)."""
    for rec in recs:
        if not await one(rec):
            return  # stopped before its side effect: not committed
        try:
            await consumer.commit({tp: rec.offset + 1})
            if lag is not None:
                lag.handled(tp, rec.offset)
                lag.update(consumer)  # no I/O: exact after every message
        except (CommitFailedError, IllegalStateError) as err:
            # rebalanced away: the new owner handles it again (idempotent downstream)
            log.warning("commit_failed", partition=tp.partition, error=str(err))
            return
