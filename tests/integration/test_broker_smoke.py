"""Smoke test against a real Kafka broker (scripts/kafka.sh start).

Creates a fresh 3-partition topic, produces 100 keyed messages, consumes them
back in a consumer group, commits, and checks keys, values, partitions and the
committed offsets. No skip: without a broker this test fails, on purpose.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.kafka

BOOTSTRAP = os.environ.get("MCPMON_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
N_MESSAGES = 100
N_PARTITIONS = 3


async def _create_topic(topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=15000)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name=topic, num_partitions=N_PARTITIONS, replication_factor=1)]
        )
        # wait until the topic is visible with all its partitions
        for _ in range(50):
            described = await admin.describe_topics([topic])
            parts = described[0].get("partitions") or []
            if described[0].get("error_code", 0) == 0 and len(parts) == N_PARTITIONS:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"topic {topic} did not appear with {N_PARTITIONS} partitions")
    finally:
        await admin.close()


async def _delete_topic(topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=15000)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def _produce(topic: str) -> dict[str, int]:
    """Send N keyed messages; return key -> partition the broker stored it in."""
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topic, key=f"key-{i}".encode(), value=f"value-{i}".encode())
            for i in range(N_MESSAGES)
        ]
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return {f"key-{i}": meta.partition for i, meta in enumerate(metas)}


async def _consume(topic: str, group: str) -> tuple[dict[str, tuple[str, int]], dict[int, int]]:
    """Read everything back in a consumer group and commit.

    Returns key -> (value, partition) and partition -> committed offset.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: dict[str, tuple[str, int]] = {}
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 45
        while len(got) < N_MESSAGES and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, records in batches.items():
                for rec in records:
                    got[rec.key.decode()] = (rec.value.decode(), tp.partition)
        await consumer.commit()
        committed = {
            p: await consumer.committed(TopicPartition(topic, p)) for p in range(N_PARTITIONS)
        }
    finally:
        await consumer.stop()
    return got, committed


async def _roundtrip() -> None:
    run = uuid.uuid4().hex[:12]
    topic = f"mcpmon-smoke-{run}"
    group = f"mcpmon-smoke-group-{run}"
    await _create_topic(topic)
    try:
        sent = await _produce(topic)
        got, committed = await _consume(topic, group)
    finally:
        await _delete_topic(topic)

    assert len(got) == N_MESSAGES, f"received {len(got)} of {N_MESSAGES} messages"
    assert set(got) == {f"key-{i}" for i in range(N_MESSAGES)}
    for key, (value, partition) in got.items():
        assert value == key.replace("key-", "value-")
        assert partition == sent[key], f"{key} read from partition {partition}, sent to {sent[key]}"
    # keys are hashed over all 3 partitions
    assert set(sent.values()) == set(range(N_PARTITIONS))
    # the group committed exactly what was read from each partition
    per_partition = {p: sum(1 for v in sent.values() if v == p) for p in range(N_PARTITIONS)}
    assert committed == per_partition
    assert sum(v for v in committed.values()) == N_MESSAGES


def test_produce_consume_commit_100_keyed_messages() -> None:
    asyncio.run(asyncio.wait_for(_roundtrip(), timeout=120))
