"""What the worker's shell asks of Kafka (:class:`Ports`), and the broker look-ups it
makes outside Faust (:func:`group_committed`, :func:`start_offsets`).

Split from :mod:`monitor.worker.app`, which re-exports :class:`Ports`; unit tests pass
their own ports and so run the shell's logic without a broker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from monitor.settings import Settings

__all__ = ["Ports", "group_committed", "start_offsets"]


@dataclass(slots=True)
class Ports:
    """Everything the shell asks of Kafka, through Faust unless a test passes its own.

    ``write_state(partition, key, value)``: a state record into the table and its
    changelog (done when the broker has it); ``commit({partition: offset})``
    (False: a rebalance overtook it); ``committed()``: where each input partition's
    handling starts (the group's commit on the broker, or the partition's first
    offset if the group has none); ``seek(partition, offset)``;
    ``send(topic, key, value, callback)``: hand a record to the producer
    (``callback(future)`` once it is acknowledged);
    ``assigned()``: the input partitions assigned now; ``crash(exc)``: stop the
    worker (unless it is stopping anyway).
    """

    write_state: Callable[[int, bytes, bytes], Awaitable[Any]]
    commit: Callable[[dict[int, int]], Awaitable[bool]]
    committed: Callable[[], Awaitable[dict[int, int]]]
    seek: Callable[[int, int], Awaitable[None]]
    send: Callable[[str, bytes | None, bytes | None, Callable[[Any], None] | None], Awaitable[Any]]
    assigned: Callable[[], set[int]]
    crash: Callable[[BaseException], Awaitable[None]]


async def group_committed(settings: Settings) -> dict[int, int]:
    """The group's committed offset of each input partition that has one (broker request)."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    s = settings
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    await admin.start()
    try:
        got: dict[TopicPartition, Any] = await admin.list_consumer_group_offsets(s.app_id)
    finally:
        await admin.close()
    return {
        tp.partition: m.offset
        for tp, m in got.items()
        if tp.topic == s.topic_events and m.offset >= 0
    }


async def start_offsets(settings: Settings, consumer: Any, assigned: set[int]) -> dict[int, int]:
    """Where the handling of each input partition must start (its offset guard's reference).

    The group's committed offset; for an ``assigned`` partition the group never
    committed, the partition's first offset (the consumer starts there:
    ``auto_offset_reset="earliest"``; ``consumer``: Faust's, asked for it). Without the
    second, records lost at the very start of a partition were invisible: with no
    commit to compare with, the guard took whatever offset came first (a takeover
    test once judged an agent whose ``credential_issued``, among its partition's
    first records, had never been handled).
    """
    from faust.types import TP

    out = await group_committed(settings)
    topic = settings.topic_events
    fresh = [TP(topic, p) for p in sorted(assigned) if p not in out]
    if fresh:
        earliest = await consumer.earliest_offsets(*fresh)
        out.update({tp.partition: o for tp, o in earliest.items() if isinstance(o, int) and o >= 0})
    return out
