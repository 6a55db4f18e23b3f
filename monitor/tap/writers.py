"""Where outputs go: Kafka topics, or two JSONL files for dry runs and tests.

A writer takes a batch of records and hands back an awaitable that completes
when the batch is durable (the broker acknowledged every record with
``acks=all``; the file was written and flushed). The tap only advances its
checkpoint after that, and keeps at most one batch in flight while it maps
the next.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from monitor.errors import MonitorError
from monitor.kafka_io import DEADLETTER_MAX_MESSAGE_BYTES, TopicSpec, ensure_topics
from monitor.tap.exceptions import DeliveryError, TapError

Kind = Literal["event", "deadletter"]


@dataclass(frozen=True, slots=True)
class Record:
    kind: Kind
    key: bytes | None
    value: bytes


class Writer(Protocol):
    #: where outputs go, e.g. ``kafka://host:9092/mcp.events``; checkpoints record it
    target: str

    async def start(self) -> None: ...

    async def send(self, records: Sequence[Record]) -> Awaitable[None]:
        """Queue ``records`` in order; the result completes once all are durable."""
        ...

    async def stop(self) -> None: ...


def _done() -> asyncio.Future[None]:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    fut.set_result(None)
    return fut


def deadletter_path(out: str | Path) -> Path:
    """``OUT.deadletter.jsonl`` beside ``OUT.jsonl``."""
    p = Path(out)
    stem = p.name[: -len(".jsonl")] if p.name.endswith(".jsonl") else p.name
    return p.with_name(stem + ".deadletter.jsonl")


class FileWriter:
    """Events to ``out``, dead letters to ``OUT.deadletter.jsonl``; appended when resuming.

    ``out`` ``-``: events on stdout, dead letters (JSON lines) on stderr, so
    ``mcpmon tap LOG --to-file - | mcpmon replay - ...`` needs no file.
    """

    def __init__(self, out: str | Path, *, append: bool = False) -> None:
        self.out = Path(out)
        self.dead = deadletter_path(out)
        self.target = "stdout" if str(out) == "-" else f"file://{self.out.absolute()}"
        self.append = append
        self._files: dict[Kind, IO[bytes]] = {}
        self._borrowed = False

    async def start(self) -> None:
        if str(self.out) == "-":  # a pipe: events on stdout, dead letters on stderr
            self._files = {"event": sys.stdout.buffer, "deadletter": sys.stderr.buffer}
            self._borrowed = True
            return
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            mode = "ab" if self.append else "wb"
            self._files = {"event": open(self.out, mode), "deadletter": open(self.dead, mode)}  # noqa: SIM115
        except OSError as err:
            raise TapError(f"cannot write {self.out}: {err.strerror or err}") from None

    async def send(self, records: Sequence[Record]) -> Awaitable[None]:
        files = self._files
        for r in records:
            files[r.kind].write(r.value + b"\n")
        for f in files.values():
            f.flush()
        return _done()

    async def stop(self) -> None:
        if self._borrowed:
            return  # stdout and stderr are not ours to close
        for f in self._files.values():
            f.close()


class KafkaWriter:
    """Events to ``topic_events`` keyed by ``agent_id``; dead letters to ``topic_deadletter``.

    One long-lived idempotent producer with ``acks=all`` (``kafka_io.produce``
    opens one per call, which suits one-off sends, not a tap that runs for
    days). Missing topics are created as the worker would create them.
    """

    def __init__(
        self,
        bootstrap: str,
        topic_events: str,
        topic_deadletter: str,
        *,
        partitions: int = 4,
        replication_factor: int = 1,
        linger_ms: int = 5,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics: dict[Kind, str] = {"event": topic_events, "deadletter": topic_deadletter}
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.linger_ms = linger_ms
        self.target = f"kafka://{bootstrap}/{topic_events}"
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        n, rf = self.partitions, self.replication_factor
        specs = [
            TopicSpec(self.topics["event"], n, rf),
            TopicSpec(
                self.topics["deadletter"], n, rf, max_message_bytes=DEADLETTER_MAX_MESSAGE_BYTES
            ),
        ]
        try:
            await ensure_topics(self.bootstrap, specs, timeout=15.0)
        except MonitorError as err:  # the broker did not answer: say what to do instead
            raise TapError(f"{err} (for a dry run without Kafka: --to-file OUT.jsonl)") from None
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,  # a retried batch is neither duplicated nor reordered
            linger_ms=self.linger_ms,
            max_request_size=DEADLETTER_MAX_MESSAGE_BYTES,
        )
        try:
            await producer.start()
        except KafkaError as err:
            await producer.stop()
            raise TapError(f"Kafka at {self.bootstrap}: {err}") from None
        self._producer = producer

    async def send(self, records: Sequence[Record]) -> Awaitable[None]:
        producer = self._producer
        if producer is None:
            raise TapError("KafkaWriter.send before start")
        topics = self.topics
        try:
            futures = [
                await producer.send(topics[r.kind], value=r.value, key=r.key) for r in records
            ]
        except KafkaError as err:
            raise DeliveryError(f"Kafka refused a record: {err}") from None
        return self._confirmed(futures)

    @staticmethod
    async def _confirmed(futures: list[asyncio.Future[RecordMetadata]]) -> None:
        try:
            await asyncio.gather(*futures)
        except KafkaError as err:
            raise DeliveryError(f"Kafka did not confirm delivery: {err}") from None

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
