"""``mcpmon tail TOPIC``: read our topics without Kafka's console tools.

Why: the broker script installs no console tools, and an operator's first
question after starting a worker is "what is on mcp.alerts?". Reads without a
consumer group (nothing is committed, no group offsets are disturbed): the
last ``n`` messages of every partition, then, with ``follow``, new ones until
stopped. Every line written is JSON produced here — a value that is JSON is
re-encoded, anything else becomes a JSON string with undecodable bytes
escaped — so a hostile message cannot put control sequences on an operator's
terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from monitor.errors import BrokerUnavailable
from monitor.kafka_io import partitions_for

#: Short names for the topics the settings name (``alerts`` -> MCPMON_TOPIC_ALERTS).
ALIASES = ("events", "alerts", "revocations", "revocation_acks", "deadletter", "charters")


def _json_or_text(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "backslashreplace")


def render(rec: ConsumerRecord, meta: bool) -> bytes:
    """One output line for ``rec`` (always JSON, never the raw bytes)."""
    value = _json_or_text(rec.value)
    if not meta:
        return orjson.dumps(value)
    key = None if rec.key is None else rec.key.decode("utf-8", "backslashreplace")
    return orjson.dumps(
        {
            "topic": rec.topic,
            "partition": rec.partition,
            "offset": rec.offset,
            "timestamp_ms": rec.timestamp,
            "key": key,
            "value": value,
        }
    )


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


async def tail(
    bootstrap: str,
    topic: str,
    out: IO[bytes],
    *,
    last: int | None = 10,
    follow: bool = False,
    meta: bool = False,
    timeout: float = 15.0,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Write the last ``last`` messages of each partition (None: all), then follow if asked.

    Returns the number written. Without ``follow`` it ends at the end offsets
    seen at start; ``timeout`` bounds finding the topic.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
    )
    try:
        with _quiet("aiokafka"):  # its per-attempt log lines: our one error says it all
            await consumer.start()
    except KafkaError as err:
        await consumer.stop()  # closes what start opened: no "Unclosed AIOKafkaConsumer"
        raise BrokerUnavailable(
            f"cannot reach the Kafka broker at {bootstrap} (MCPMON_KAFKA_BOOTSTRAP): {err}"
        ) from None
    written = 0
    try:
        tps = [
            TopicPartition(topic, p) for p in sorted(await partitions_for(consumer, topic, timeout))
        ]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        begin = {tp: starts[tp] if last is None else max(starts[tp], ends[tp] - last) for tp in tps}
        for tp in tps:
            consumer.seek(tp, begin[tp])
        pending = {tp for tp in tps if ends[tp] > begin[tp]}  # old messages still to write
        while (follow or pending) and not stop():
            batch = await consumer.getmany(timeout_ms=200)
            for tp, recs in batch.items():
                for rec in recs:
                    if not follow and rec.offset >= ends[tp]:
                        continue
                    out.write(render(rec, meta) + b"\n")
                    written += 1
                if recs and recs[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
            out.flush()
    finally:
        await consumer.stop()
    return written


def run_tail(bootstrap: str, topic: str, out: IO[bytes], **kw: Any) -> int:
    try:
        return asyncio.run(tail(bootstrap, topic, out, **kw))
    except KeyboardInterrupt:
        return 0
