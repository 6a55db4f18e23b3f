"""Charter updates reach every worker through one compacted broadcast topic.

A ``charter_updated`` event on ``mcp.events`` lands in one partition, so only
the worker that owns that partition sees it. That worker applies it at once
(so on its partition it takes effect exactly where replay would apply it)
and forwards the event to ``mcp.charters``, keyed by the charter's agent
pattern. Every worker reads that topic without a consumer group, from the
beginning at start (:meth:`CharterFeed.catch_up`, before it processes any
event) and then follows it (:meth:`CharterFeed.follow`). Compaction keeps the
latest document per pattern, so a restarted worker gets the charters in force
(on top of the ones loaded from ``--charters DIR``).

What this does not give: on *other* partitions an update takes effect when
the broadcast arrives (milliseconds later), not at the event-time position of
the ``charter_updated`` event — across partitions there is no such order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

log = structlog.get_logger("monitor.worker.charters")


class CharterFeed:
    def __init__(self, bootstrap: str, topic: str, apply: Callable[[bytes], bool]) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.apply = apply
        self.positions: dict[int, int] = {}
        self.applied = 0

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False
        )

    async def catch_up(self, timeout: float = 30.0) -> int:
        """Apply every update on the topic so far; returns how many were applied."""
        consumer = self._consumer()
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(self.topic)
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            if not tps:
                return 0
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not await self._at(consumer, ends):
                if loop.time() > deadline:
                    raise TimeoutError(f"reading {self.topic} took over {timeout} s")
                self._apply_batch(await consumer.getmany(timeout_ms=200))
            self.positions = {tp.partition: await consumer.position(tp) for tp in tps}
        finally:
            await consumer.stop()
        log.info("charters_caught_up", topic=self.topic, applied=self.applied)
        return self.applied

    @staticmethod
    async def _at(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return False
        return True

    async def follow(self) -> None:
        """Apply updates as they arrive, from where :meth:`catch_up` stopped; runs until cancelled."""
        while True:
            consumer = self._consumer()
            try:
                await consumer.start()
                tps = [TopicPartition(self.topic, p) for p in sorted(self.positions or {0: 0})]
                consumer.assign(tps)
                for tp in tps:
                    consumer.seek(tp, self.positions.get(tp.partition, 0))
                while True:
                    batch = await consumer.getmany(timeout_ms=500)
                    self._apply_batch(batch)
                    for tp, recs in batch.items():
                        if recs:
                            self.positions[tp.partition] = recs[-1].offset + 1
            except KafkaError as err:
                log.warning("charter_feed_error", topic=self.topic, error=str(err))
                await asyncio.sleep(1.0)
            finally:
                await consumer.stop()

    def _apply_batch(self, batch: dict[TopicPartition, list[Any]]) -> None:
        for recs in batch.values():
            for rec in recs:
                if rec.value is not None and self.apply(rec.value):
                    self.applied += 1
                    log.info("charter_applied", pattern=(rec.key or b"").decode(errors="replace"))
