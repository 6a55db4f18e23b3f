"""Small aiokafka helpers shared by every service, the integration tests and ``bench kafka``.

Declaring the topics a service reads and writes (:class:`TopicSpec`,
:func:`ensure_topics`: created when missing, checked where the partition count
matters), producing keyed messages with delivery confirmed, reading whole
topics without a consumer group, and deleting topics. Every wait is
bounded: a helper that cannot finish in its timeout raises
:class:`asyncio.TimeoutError` (:func:`ensure_topics`: a
:class:`~monitor.errors.BrokerError`), or returns what it has, where it says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord, RecordMetadata

from monitor.errors import BrokerError, BrokerUnavailable, TopicMismatch

KeyValue = tuple[bytes | None, bytes | None]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 1
    compacted: bool = False
    must_match: bool = False  # an existing topic must have exactly ``partitions``
    max_message_bytes: int | None = None


#: Room on the dead-letter topic. A dead letter itself is bounded far below this
#: (:data:`monitor.deadletter.MAX_RECORD_BYTES`); the limit stays for older records.
DEADLETTER_MAX_MESSAGE_BYTES = 8 << 20


async def ensure_topics(
    bootstrap: str, specs: list[TopicSpec], timeout: float = 30.0
) -> dict[str, int]:
    """Create the missing topics; return every topic's partition count."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    try:
        await asyncio.wait_for(admin.start(), timeout)
    except (TimeoutError, KafkaConnectionError, OSError) as err:
        await admin.close()
        raise BrokerUnavailable(f"Kafka at {bootstrap} did not answer: {err}") from None
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                s.name,
                num_partitions=s.partitions,
                replication_factor=s.replication_factor,
                topic_configs=_configs(s),
            )
            for s in specs
            if s.name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                await admin.create_topics(new)
        counts = await _partition_counts(admin, [s.name for s in specs], timeout)
    except KafkaError as err:
        raise BrokerError(f"could not create topics on {bootstrap}: {err}") from None
    finally:
        await admin.close()
    for s in specs:
        if s.must_match and counts[s.name] != s.partitions:
            raise TopicMismatch(
                f"topic {s.name} has {counts[s.name]} partitions but the worker is configured "
                f"for {s.partitions} (MCPMON_PARTITIONS); they must be equal"
            )
    return counts


def _configs(s: TopicSpec) -> dict[str, str]:
    out = {}
    if s.compacted:
        out["cleanup.policy"] = "compact"
    if s.max_message_bytes:
        out["max.message.bytes"] = str(s.max_message_bytes)
    return out


async def _partition_counts(
    admin: AIOKafkaAdminClient, names: list[str], timeout: float
) -> dict[str, int]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        described = await admin.describe_topics(names)
        counts = {
            d["topic"]: len(d.get("partitions") or [])
            for d in described
            if d.get("error_code", 0) == 0
            # a new topic's partitions answer only once they have a leader
            and all(p.get("leader", -1) >= 0 for p in d.get("partitions") or [])
        }
        if all(counts.get(n, 0) > 0 for n in names):
            return counts
        if loop.time() > deadline:
            missing = [n for n in names if not counts.get(n)]
            raise BrokerError(f"topics did not become visible in {timeout:.0f} s: {missing}")
        await asyncio.sleep(0.2)


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
