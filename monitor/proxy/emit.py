"""Where the proxy's ``tool_call`` events go: Kafka (``mcp.events``) or a JSON-lines file.

:meth:`EventEmitter.emit` never blocks a call and never waits for the broker: it
puts the event in a bounded buffer that one sender task delivers, in order
(keyed by ``agent_id``, so per agent the worker sees the calls in order).

What happens when Kafka is down: the sender keeps retrying (backoff 0.2 s
doubling to 5 s; each failed attempt counted in
``mcpmon_proxy_emit_failures_total``) while the buffer holds up to
``MCPMON_PROXY_EMIT_BUFFER_EVENTS`` events. A retried batch may reach the
broker twice; the worker drops duplicates by ``event_id``. At start the emitter
creates ``mcp.events`` if it is missing (``MCPMON_PARTITIONS``), as the tap does. An event that does
not fit in a full buffer, or is still buffered when the proxy stops and
cannot be delivered within the stop timeout, is **not silently dropped**: it
is logged at error level in full (``event_not_emitted``, the event's JSON
under ``tool_call``) and counted in ``mcpmon_proxy_events_lost_total{reason}``,
so it can be recovered from the log:
``jq -c 'select(.event=="event_not_emitted") | .tool_call' proxy.log | mcpmon tap - --format ours``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections import deque
from pathlib import Path
from typing import BinaryIO, Protocol

import orjson
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from monitor.errors import MonitorError
from monitor.events import ToolCall, encode_event
from monitor.kafka_io import TopicSpec, ensure_topics
from monitor.proxy.exceptions import ProxyError
from monitor.proxy.metrics import ProxyMetrics

log = structlog.get_logger("monitor.proxy")


class EventEmitter(Protocol):
    async def start(self) -> None: ...

    def emit(self, event: ToolCall) -> None: ...

    async def close(self, timeout: float = 10.0) -> None: ...


def _lost(metrics: ProxyMetrics, reason: str, value: bytes) -> None:
    metrics.lost.labels(reason).inc()
    log.error("event_not_emitted", reason=reason, tool_call=orjson.loads(value))


class KafkaEmitter:
    """Buffered, ordered, retried delivery to ``topic``; see the module doc for failure."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        metrics: ProxyMetrics,
        *,
        buffer_events: int = 10_000,
        partitions: int = 4,
        replication_factor: int = 1,
        batch: int = 500,
        backoff: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.metrics = metrics
        self.capacity = buffer_events
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.batch = batch
        self.backoff = backoff
        self._buffer: deque[tuple[bytes, bytes]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="proxy-emit")

    def emit(self, event: ToolCall) -> None:
        value = encode_event(event)
        if len(self._buffer) >= self.capacity:
            _lost(self.metrics, "buffer_full", value)
            return
        self._buffer.append((event.agent_id.encode(), value))
        self.metrics.buffered.set(len(self._buffer))
        self._wake.set()

    async def _connect(self) -> AIOKafkaProducer:
        """Create the topic if missing (as the tap does) and start the producer, retrying."""
        delay = self.backoff[0]
        spec = TopicSpec(self.topic, self.partitions, self.replication_factor)
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                acks="all",
                enable_idempotence=True,  # a retried batch is neither duplicated nor reordered
                linger_ms=2,
            )
            try:
                await ensure_topics(self.bootstrap, [spec], timeout=15.0)
                await producer.start()
                return producer
            except (MonitorError, KafkaError, OSError) as err:
                with contextlib.suppress(Exception):
                    await producer.stop()
                self.metrics.emit_failures.labels("connect").inc()
                log.warning("emit_broker_unavailable", error=f"{type(err).__name__}: {err}")
                await asyncio.sleep(delay)
                delay = min(self.backoff[1], delay * 2)

    async def _run(self) -> None:
        self._producer = await self._connect()
        delay = self.backoff[0]
        while True:
            if not self._buffer:
                self._wake.clear()
                await self._wake.wait()
            batch = [self._buffer[i] for i in range(min(self.batch, len(self._buffer)))]
            try:
                futures = [await self._producer.send(self.topic, key=k, value=v) for k, v in batch]
                await asyncio.gather(*futures)
            except KafkaError as err:
                self.metrics.emit_failures.labels("send").inc()
                log.warning(
                    "emit_failed",
                    error=f"{type(err).__name__}: {err}",
                    buffered=len(self._buffer),
                    retry_in=delay,
                )
                await asyncio.sleep(delay)
                delay = min(self.backoff[1], delay * 2)
                continue
            delay = self.backoff[0]
            for _ in batch:
                self._buffer.popleft()
            self.metrics.emitted.inc(len(batch))
            self.metrics.buffered.set(len(self._buffer))

    async def close(self, timeout: float = 10.0) -> None:
        """Deliver what is buffered within ``timeout``; log and count what is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._buffer and loop.time() < deadline and not (self._task and self._task.done()):
            await asyncio.sleep(0.02)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
        while self._buffer:
            _lost(self.metrics, "shutdown", self._buffer.popleft()[1])
        self.metrics.buffered.set(0)


class FileEmitter:
    """One event a line, appended and flushed per event (``--to-file``: no broker needed).

    The file is created 0600, and an existing regular file is made 0600: events
    carry what agents sent and who they are."""

    def __init__(self, path: str | Path, metrics: ProxyMetrics) -> None:
        self.path = Path(path)
        self.metrics = metrics
        self._fh: BinaryIO | None = None

    async def start(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as err:
            raise ProxyError(f"--to-file {self.path}: {err.strerror or err}") from None
        try:  # an existing file keeps its mode otherwise: events hold what agents sent
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
                os.fchmod(fd, 0o600)
        except OSError as err:
            os.close(fd)
            raise ProxyError(
                f"--to-file {self.path}: cannot make it private (0600): {err.strerror or err}"
            ) from None
        self._fh = os.fdopen(fd, "ab", buffering=0)  # unbuffered: a failed write is not retried

    def emit(self, event: ToolCall) -> None:
        value = encode_event(event)
        if self._fh is None:
            raise RuntimeError("FileEmitter.emit called before start()")
        line = memoryview(value + b"\n")
        try:
            while line:  # a raw write may be partial
                n = self._fh.write(line)
                if not n:
                    raise OSError(f"write returned {n!r}")
                line = line[n:]
        except OSError as err:
            self.metrics.emit_failures.labels("write").inc()
            log.error("emit_failed", error=f"{type(err).__name__}: {err}", path=str(self.path))
            _lost(self.metrics, "write_failed", value)
            return
        self.metrics.emitted.inc()

    async def close(self, timeout: float = 10.0) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
