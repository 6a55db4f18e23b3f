"""The skipped input after a rebalance, against Faust's real drain loop (no broker).

``Consumer._drain_messages`` is Faust's own loop, run here on the consumer
``faust_app`` builds; below it a stand-in for aiokafka (:class:`Broker`: a
partition's records, a fetch position, the group's commit). The rebalance's
seek to the commit happens while the loop is half-way through a fetched
batch, as it did with ``mcpmon worker --processes 2`` on a backlog: Faust
handed on the rest of the stale batch after the seek, its read offset went
past the sought offset, and the records the seek fetched again were dropped
("DROPPED MESSAGE ROFF"). What must reach the streams after a seek is every
record from the sought offset on, in order.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiokafka.structs import ConsumerRecord
from faust.types import TP

from monitor.settings import Settings
from monitor.worker.app import faust_app

TOPIC = "fence.events"
TPX = TP(TOPIC, 0)
END = 30  # the partition holds offsets 0..29
BATCH = 10  # records per fetch


class Broker:
    """aiokafka's side of the consumer thread: fetch position, commit, seeks."""

    def __init__(self, consumer: Any, position: int, committed: int | None) -> None:
        self.consumer = consumer
        self.position = position
        self.committed = committed
        self.seeks: list[int] = []

    def assignment(self) -> set[TP]:
        return {TPX}

    def highwater(self, tp: TP) -> int:
        return END

    async def seek_to_committed(self) -> dict[TP, int | None]:
        # aiokafka's seek_to_committed: seeks only to a commit > 0, returns all assigned
        if self.committed:
            self.position = self.committed
            self.seeks.append(self.committed)
        return {TPX: self.committed}

    async def seek_wait(self, partitions: dict[TP, int]) -> None:
        # Faust's AIOKafkaConsumerThread._seek_wait: position and read offset
        for tp, offset in partitions.items():
            self.position = offset
            self.seeks.append(offset)
            if offset > 0:
                self.consumer._read_offset[tp] = offset
            else:
                self.consumer._read_offset.pop(tp, None)

    def fetch(self) -> dict[TP, list[ConsumerRecord]]:
        start, self.position = self.position, min(END, self.position + BATCH)
        return {
            TPX: [
                ConsumerRecord(TOPIC, 0, o, 0, 0, b"k", b"v%d" % o, None, 1, 2, ())
                for o in range(start, self.position)
            ]
        }


def _drain(tmp_path: Path, position: int, committed: int | None, seek_at: int) -> list[int]:
    """Offsets Faust's drain loop hands on; the rebalance's seek runs when ``seek_at``
    is first handed on. Returns them in order, the seek marked by -1."""
    handed: list[int] = []
    asyncio.run(_run(tmp_path, position, committed, seek_at, handed))
    return handed


async def _run(
    tmp_path: Path, position: int, committed: int | None, seek_at: int, handed: list[int]
) -> None:
    # built in the running loop: Faust's services wait on events of the loop they were made in
    app = faust_app(Settings(data_dir=str(tmp_path), kafka_bootstrap="127.0.0.1:1"))
    consumer = app.consumer
    broker = Broker(consumer, position, committed)
    consumer._thread = broker

    class Fetcher:
        _stopped = asyncio.Event()

    async def wait_next_records(timeout: float) -> tuple[Any, Any]:
        if broker.position >= END:
            Fetcher._stopped.set()
            return None, None
        return broker.fetch(), {TPX}

    async def callback(message: Any) -> None:
        handed.append(message.offset)
        if message.offset == seek_at and -1 not in handed:
            handed.append(-1)
            await consumer.perform_seek()  # what Faust's recovery does after a rebalance

    consumer._wait_next_records = wait_next_records
    consumer.callback = callback

    await asyncio.wait_for(consumer._drain_messages(Fetcher()), timeout=10)


def test_after_a_rebalance_s_seek_every_record_from_the_commit_on_is_handed_on(
    tmp_path: Path,
) -> None:
    # The kept partition was fetched from 10; the group's commit is 10; the seek
    # comes when 12 is handed on, with 13..19 of that batch still to iterate.
    handed = _drain(tmp_path, position=10, committed=10, seek_at=12)
    after = handed[handed.index(-1) + 1 :]
    assert handed[: handed.index(-1)] == [10, 11, 12]
    # Faust alone: 13..19 (stale) then 19..29 — 10..18 fetched again were dropped.
    assert after == list(range(10, END)), after


def test_a_partition_with_no_commit_is_fetched_again_from_its_first_record(
    tmp_path: Path,
) -> None:
    # No commit (a new group): aiokafka does not seek. Records handed on before
    # the seek are thrown away with the stream buffers when the flow resumes, so
    # they must come again: the partition goes back to its first record handed on.
    handed = _drain(tmp_path, position=0, committed=None, seek_at=3)
    after = handed[handed.index(-1) + 1 :]
    assert handed[: handed.index(-1)] == [0, 1, 2, 3]
    assert after == list(range(0, END)), after
