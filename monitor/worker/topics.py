"""The worker's topics, created at startup with the configured partitions.

Faust creates its own internal topics (the state table's changelog) but not
the topics an agent reads or writes, so the worker declares them here with
the admin client before it starts. An existing input topic with another
partition count is an error, not something to work around: state is
co-partitioned with ``mcp.events``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from monitor.settings import Settings
from monitor.worker.exceptions import BrokerUnavailable, TopicMismatch, WorkerError


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


def worker_topics(settings: Settings) -> list[TopicSpec]:
    n, rf = settings.partitions, settings.replication_factor
    return [
        TopicSpec(settings.topic_events, n, rf, must_match=True),
        TopicSpec(settings.topic_alerts, n, rf),
        TopicSpec(settings.topic_revocations, n, rf),
        TopicSpec(settings.topic_revocation_acks, n, rf),
        TopicSpec(settings.topic_deadletter, n, rf, max_message_bytes=DEADLETTER_MAX_MESSAGE_BYTES),
        # one partition: every worker reads all of it, in one order
        TopicSpec(settings.topic_charters, 1, rf, compacted=True),
    ]


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
        raise WorkerError(f"could not create topics on {bootstrap}: {err}") from None
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
            raise WorkerError(f"topics did not become visible in {timeout:.0f} s: {missing}")
        await asyncio.sleep(0.2)
