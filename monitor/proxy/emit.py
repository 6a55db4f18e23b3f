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
cannot be delivered within the stop timeout, or that the broker refuses as a record
(too large for the topic's ``max.message.bytes``, corrupt: ``rejected``; never
retried, so it cannot hold up the events behind it), is **not silently dropped**: it
is logged at error level in full (``event_not_emitted``, the event's JSON
under ``tool_call``) and counted in ``mcpmon_proxy_events_lost_total{reason}``,
so it can be recovered from the log:
``jq -c 'select(.event=="event_not_emitted") | .tool_call' proxy.log | mcpmon tap - --format ours``.

A call's event is never larger than :data:`FIT_BYTES` (just under the worker's 1 MiB
message limit, which is also the producer's): the arguments of a larger one are cut
(:func:`fit`: long strings keep their head and tail around a ``…[N characters cut]…``
marker, long lists and objects their first items, resources their first URIs), logged
(``event_cut``) and counted (``mcpmon_proxy_events_cut_total``). The call is still seen:
its tool, identity, ``bytes_in`` (the request's full size) and what is left of its
arguments. Uncut, one oversized call would be refused by the producer on every retry
and hold up every event behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections import deque
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from monitor.errors import MonitorError, described
from monitor.events import MAX_MESSAGE_BYTES, ToolCall, encode_event
from monitor.kafka_io import TopicSpec, ensure_topics
from monitor.proxy.exceptions import ProxyError
from monitor.proxy.metrics import ProxyMetrics

log = structlog.get_logger("monitor.proxy")


class EventEmitter(Protocol):
    async def start(self) -> None: ...

    def emit(self, event: ToolCall) -> None: ...

    async def close(self, timeout: float = 10.0) -> None: ...


#: The largest event sent: under the worker's limit (it dead-letters a larger message
#: unread) with room for the key and the record batch's header, which the producer's
#: (and the broker's default) 1 MiB limit also counts.
FIT_BYTES = MAX_MESSAGE_BYTES - 8192

#: Each pass of :func:`fit` cuts harder: (characters kept of a string, items of a list or object)
_CUTS = ((4096, 1024), (512, 128), (64, 16))

#: Errors the broker (or the producer, before sending) gives for one record, whatever
#: the retry: logged in full and counted lost (``rejected``), never retried.
_REJECTED = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
)


def _lost(metrics: ProxyMetrics, reason: str, value: bytes, **why: str) -> None:
    metrics.lost.labels(reason).inc()
    log.error("event_not_emitted", reason=reason, tool_call=orjson.loads(value), **why)


def _cut(value: Any, chars: int, items: int) -> Any:
    """``value`` with every string over ``chars`` characters cut to its head and tail around
    a marker, and every list or object over ``items`` cut to its first ones (the marker an
    item, or the key ``…``)."""
    if isinstance(value, str):
        if len(value) <= chars:
            return value
        half = chars // 2
        gone = len(value) - 2 * half
        return f"{value[:half]}…[{gone} characters cut]…{value[len(value) - half :]}"
    if isinstance(value, list):
        kept = [_cut(v, chars, items) for v in value[:items]]
        if len(value) > items:
            kept.append(f"…[{len(value) - items} items cut]")
        return kept
    if isinstance(value, dict):
        out = {
            _cut(k, chars, items): _cut(v, chars, items) for k, v in islice(value.items(), items)
        }
        if len(value) > items:
            out["…"] = f"[{len(value) - items} keys cut]"
        return out
    return value


def fit(event: ToolCall, limit: int = FIT_BYTES) -> tuple[bytes, int]:
    """The event encoded, its arguments and resources cut until it is at most ``limit``
    bytes; and its size before (0: it fitted whole). See the module doc."""
    value = encode_event(event)
    size = len(value)
    if size <= limit:
        return value, 0
    for chars, items in _CUTS:
        update = {
            "args": _cut(event.args, chars, items),
            "resources": [_cut(r, chars, items) for r in event.resources[:items]],
        }
        value = encode_event(event.model_copy(update=update))
        if len(value) <= limit:
            return value, size
    # what is left over is bounded by the model (ids, tool, digests): it fits
    update = {"args": {"…": f"[{size} bytes of arguments cut]"}, "resources": []}
    return encode_event(event.model_copy(update=update)), size


def _encode(metrics: ProxyMetrics, event: ToolCall) -> bytes:
    value, size = fit(event)
    if size:
        metrics.cut.inc()
        log.warning(
            "event_cut",
            event_id=event.event_id,
            agent_id=event.agent_id,
            tool=event.tool,
            bytes=size,
            sent_bytes=len(value),
        )
    return value


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
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """The sender ends only when cancelled; anything else is a failure to say at once
        (events then wait in the buffer and are logged in full when it fills, or at stop)."""
        if task.cancelled():
            return
        err = task.exception()
        self.metrics.emit_failures.labels("sender").inc()
        log.error(
            "emit_sender_failed",
            error=described(err) if err is not None else "ended",
            buffered=len(self._buffer),
        )

    def emit(self, event: ToolCall) -> None:
        value = _encode(self.metrics, event)
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
            done, failure, refused = await self._deliver(self._producer, batch)
            for _ in range(done):
                self._buffer.popleft()
            self.metrics.buffered.set(len(self._buffer))
            if failure is not None:
                self.metrics.emit_failures.labels("send").inc()
                log.warning(
                    "emit_failed",
                    error=described(failure),
                    buffered=len(self._buffer),
                    retry_in=delay,
                )
                await asyncio.sleep(delay)
                delay = min(self.backoff[1], delay * 2)
            else:
                delay = self.backoff[0]
            if failure is not None or refused:
                # The idempotent producer numbers its records; one the broker did not take
                # leaves it out of step (every later send: OutOfOrderSequenceNumber, for
                # ever). A new producer starts a new sequence.
                with contextlib.suppress(Exception):
                    await self._producer.stop()
                self._producer = None
                self._producer = await self._connect()

    async def _deliver(
        self, producer: AIOKafkaProducer, batch: list[tuple[bytes, bytes]]
    ) -> tuple[int, KafkaError | None, bool]:
        """Send ``batch`` in order. Returns how many of its first records are done with
        (delivered, or rejected: logged and counted lost); the error that stopped the rest
        (retried from there: records after it that did arrive arrive again); and whether
        the broker refused a record it was sent."""
        sent: list[asyncio.Future[Any] | KafkaError] = []
        for key, value in batch:
            try:
                sent.append(await producer.send(self.topic, key=key, value=value))
            except _REJECTED as err:  # the producer's own size check: nothing was sent
                sent.append(err)
            except KafkaError as err:
                sent.append(err)
                break
        pending = [s for s in sent if not isinstance(s, KafkaError)]
        results = iter(await asyncio.gather(*pending, return_exceptions=True))
        done, refused = 0, False
        for (_key, value), s in zip(batch, sent, strict=False):
            outcome = s if isinstance(s, KafkaError) else next(results)
            if isinstance(outcome, _REJECTED):
                refused = refused or outcome is not s
                _lost(self.metrics, "rejected", value, error=described(outcome))
            elif isinstance(outcome, KafkaError):
                return done, outcome, refused
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                self.metrics.emitted.inc()
            done += 1
        return done, None, refused

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
        value = _encode(self.metrics, event)
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
