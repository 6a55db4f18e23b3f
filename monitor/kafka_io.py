"""Small aiokafka helpers shared by the worker, the integration tests and ``bench kafka``.

Producing keyed messages with delivery confirmed, reading whole topics
without a consumer group, and creating / deleting topics. Every wait is
bounded: a helper that cannot finish in its timeout raises
:class:`asyncio.TimeoutError` (or returns what it has, where it says so).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, ProducerClosed
from aiokafka.structs import ConsumerRecord, RecordMetadata

from monitor import deadletter
from monitor.metrics import deadletter_reason_class

log = structlog.get_logger("monitor.kafka_io")

KeyValue = tuple[bytes | None, bytes | None]


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
        metrics.deadletters.labels(deadletter_reason_class(reason)).inc()
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


async def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[KeyValue],
    *,
    linger_ms: int = 5,
    max_request_size: int = 4 << 20,
) -> list[RecordMetadata]:
    """Send ``(key, value)`` pairs in order and wait until the broker has them all."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=linger_ms,
        max_request_size=max_request_size,
        enable_idempotence=False,
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k, value=v) for k, v in records]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


async def read_topics(
    bootstrap: str,
    topics: Sequence[str],
    *,
    until: Callable[[list[ConsumerRecord]], bool] | None = None,
    timeout: float = 30.0,
    idle: float | None = None,
    settle: float = 0.0,
) -> list[ConsumerRecord]:
    """Read ``topics`` from the beginning, without a group, and return what arrived.

    Stops ``settle`` seconds after ``until(records)`` became true (to catch
    anything extra), after ``idle`` seconds with no new record (if given), or
    at ``timeout`` — it then returns what it has; the caller asserts.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    out: list[ConsumerRecord] = []
    try:
        tps = []
        for t in topics:
            parts = await partitions_for(consumer, t, timeout)
            tps += [TopicPartition(t, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_new = loop.time()
        done_at: float | None = None
        while loop.time() < deadline:
            if done_at is None and until is not None and until(out):
                done_at = loop.time()
            if done_at is not None and loop.time() - done_at >= settle:
                break
            if idle is not None and loop.time() - last_new > idle:
                break
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                out.extend(recs)
                last_new = loop.time()
    finally:
        await consumer.stop()
    return out


async def partitions_for(consumer: AIOKafkaConsumer, topic: str, timeout: float) -> set[int]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return set(parts)
        if loop.time() > deadline:
            raise TimeoutError(f"topic {topic} not found")
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        parts = await partitions_for(consumer, topic, 15.0)
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Delete topics that exist among ``names`` (best effort, for test clean-up)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def list_topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()
