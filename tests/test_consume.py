"""The revoker's and the sink's one consume → process → commit loop, without a broker.

A scripted consumer and producer stand in for aiokafka: what is committed, and
when, is the at-least-once contract both services rely on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError
from aiokafka.structs import ConsumerRecord

from monitor import consume
from monitor.consume import LoopConfig, LoopHooks, run_loop

TP = TopicPartition("in", 0)
TP1 = TopicPartition("in", 1)


def _rec(offset: int, value: bytes, tp: TopicPartition = TP) -> ConsumerRecord:
    return ConsumerRecord(
        tp.topic, tp.partition, offset, 0, 0, b"k", value, None, 1, len(value), []
    )


class FakeConsumer:
    def __init__(self, batches: list[dict[TopicPartition, list[ConsumerRecord]]]) -> None:
        self.batches = batches
        self.commits: list[tuple[int, int]] = []
        self.refuse_commit_at: int | None = None
        self.stopped = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def getmany(self, timeout_ms: int, max_records: int | None = None) -> Any:
        return self.batches.pop(0) if self.batches else {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        ((tp, off),) = offsets.items()
        if off - 1 == self.refuse_commit_at:
            raise CommitFailedError("rebalanced")
        self.commits.append((tp.partition, off))


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> Any:
        self.sent.append((topic, value))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


@dataclass
class Counters:
    deadletter: int = 0
    deadletter_failed: int = 0
    poison: int = 0


@dataclass
class Service:
    """Stops once it has seen ``stop_after`` messages; ``fail`` / ``hold`` script ``process``."""

    stop_after: int
    fail: set[int] = field(default_factory=set)
    hold: set[int] = field(default_factory=set)
    seen: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    async def process(self, producer: Any, rec: ConsumerRecord) -> bool:
        self.seen.append(rec.offset)
        if rec.offset in self.fail:
            raise ValueError(f"bad message {rec.offset}")
        return rec.offset not in self.hold

    def stopped(self) -> bool:
        return len(self.seen) >= self.stop_after

    def hooks(self) -> LoopHooks:
        async def close() -> None:
            self.events.append("closed")

        return LoopHooks(
            stopped=self.stopped,
            started=lambda: self.events.append("started"),
            close=close,
            finished=lambda: self.events.append("finished"),
        )


def _run(
    monkeypatch: pytest.MonkeyPatch, consumer: FakeConsumer, service: Service
) -> tuple[FakeProducer, Counters]:
    producer, counters = FakeProducer(), Counters()

    async def no_topics(*_: Any, **__: Any) -> dict[str, int]:
        return {}

    monkeypatch.setattr(consume, "ensure_topics", no_topics)
    monkeypatch.setattr(consume, "group_consumer", lambda *_: consumer)
    monkeypatch.setattr(consume, "acked_producer", lambda *_: producer)
    cfg = LoopConfig("bootstrap", [], "in", "g", 10.0, "dead", heartbeat_file="")
    asyncio.run(
        asyncio.wait_for(run_loop(cfg, service.process, service.hooks(), counters, None), 10)
    )
    return producer, counters


def test_each_message_is_committed_after_it_was_processed(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = FakeConsumer([{TP: [_rec(0, b"a"), _rec(1, b"b")], TP1: [_rec(5, b"c", TP1)]}])
    service = Service(stop_after=3)
    _run(monkeypatch, consumer, service)
    assert service.seen == [0, 1, 5]
    assert consumer.commits == [(0, 1), (0, 2), (1, 6)]
    assert service.events == ["started", "closed", "finished"] and consumer.stopped


def test_a_message_not_processed_is_not_committed_nor_anything_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = FakeConsumer([{TP: [_rec(0, b"a"), _rec(1, b"b"), _rec(2, b"c")]}])
    service = Service(stop_after=2, hold={1})  # stopped while handling offset 1
    _run(monkeypatch, consumer, service)
    assert service.seen == [0, 1] and consumer.commits == [(0, 1)]


def test_a_poison_message_is_dead_lettered_counted_and_committed_past(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = FakeConsumer([{TP: [_rec(0, b"a"), _rec(1, b"poison"), _rec(2, b"c")]}])
    service = Service(stop_after=3, fail={1})
    producer, counters = _run(monkeypatch, consumer, service)
    assert consumer.commits == [(0, 1), (0, 2), (0, 3)]
    assert (counters.poison, counters.deadletter) == (1, 1)
    ((topic, value),) = producer.sent
    dead = orjson.loads(value)
    assert topic == "dead" and dead["offset"] == 1 and dead["raw"] == "poison"
    assert dead["reason"] == "handler error: ValueError: bad message 1"


def test_a_refused_commit_ends_that_partitions_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = FakeConsumer([{TP: [_rec(0, b"a"), _rec(1, b"b")]}, {TP1: [_rec(7, b"c", TP1)]}])
    consumer.refuse_commit_at = 0  # rebalanced away: the new owner handles 0 and 1 again
    service = Service(stop_after=2)
    _run(monkeypatch, consumer, service)
    assert service.seen == [0, 7] and consumer.commits == [(1, 8)]


def test_an_unreachable_broker_ends_the_loop_uncommitted(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = FakeConsumer([{TP: [_rec(0, b"a")]}])
    service = Service(stop_after=5)

    async def down(producer: Any, rec: ConsumerRecord) -> bool:
        raise KafkaConnectionError("broker gone")

    service.process = down  # type: ignore[method-assign]
    with pytest.raises(KafkaConnectionError):
        _run(monkeypatch, consumer, service)
    assert consumer.commits == [] and consumer.stopped
    assert service.events == ["started", "closed", "finished"]
