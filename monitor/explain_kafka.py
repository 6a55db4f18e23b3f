"""``mcpmon explain ALERT_ID --kafka``: the same join, read from the topics.

The alerts topic is read from the beginning of each partition up to the end
offsets seen when the read starts, never further: a topic that keeps growing
does not keep the command waiting, and an empty one ends at once. The alert is
found there first; then the events and revocations topics are read the same
way, keeping only the evidence the alert names and the commands that cite it
(the events topic may be large: nothing else of it is held). No consumer group,
nothing committed.

Bounded: connecting and finding each topic within ``timeout`` seconds (a broker
that cannot be reached is an error naming it, never a hang), and the whole read
of a topic within ``timeout`` seconds after its end offsets are known.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from monitor.core.redact import Redactor
from monitor.errors import MonitorError
from monitor.explain import Explanation, find_alert_in, join
from monitor.kafka_io import partitions_for


async def _partitions(consumer: AIOKafkaConsumer, topic: str, timeout: float) -> set[int]:
    """The topic's partitions; none when the broker does not know the topic."""
    try:  # a topic that does not exist: no long wait
        return await partitions_for(consumer, topic, min(timeout, 5.0))
    except TimeoutError:
        return set()


async def _started(bootstrap: str, timeout: float) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        request_timeout_ms=int(timeout * 1000),
    )
    try:
        await asyncio.wait_for(consumer.start(), timeout)
    except (KafkaError, OSError, TimeoutError) as err:
        await consumer.stop()
        raise MonitorError(
            f"Kafka at {bootstrap} cannot be reached ({type(err).__name__}: {err}); "
            "set MCPMON_KAFKA_BOOTSTRAP or give --kafka HOST:PORT"
        ) from None
    return consumer


async def read_topic(
    bootstrap: str,
    topic: str,
    keep: Callable[[dict[str, Any]], bool],
    timeout: float,
) -> list[dict[str, Any]] | None:
    """The JSON objects of ``topic`` that ``keep`` accepts, from the beginning to the end
    offsets seen now, in partition order; None when the topic does not exist.

    One consumer per topic: an assigned consumer refreshes metadata only for what it is
    assigned, so it would never find the next topic."""
    consumer = await _started(bootstrap, timeout)
    try:
        return await _read(consumer, topic, keep, timeout)
    except KafkaError as err:
        raise MonitorError(f"Kafka at {bootstrap}: {type(err).__name__}: {err}") from None
    finally:
        await consumer.stop()


async def _read(
    consumer: AIOKafkaConsumer,
    topic: str,
    keep: Callable[[dict[str, Any]], bool],
    timeout: float,
) -> list[dict[str, Any]] | None:
    parts = await _partitions(consumer, topic, timeout)
    if not parts:
        return None
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps)
    starts = await consumer.beginning_offsets(tps)
    for tp in tps:
        consumer.seek(tp, starts[tp])
    pending = {tp for tp in tps if ends[tp] > starts[tp]}
    out: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending:
        if loop.time() > deadline:
            raise MonitorError(f"reading {topic}: not at its end offsets within {timeout:g} s")
        batch = await consumer.getmany(*pending, timeout_ms=200)
        for tp, recs in batch.items():
            for rec in recs:
                if rec.offset >= ends[tp]:
                    continue
                try:
                    obj = orjson.loads(rec.value) if rec.value is not None else None
                except orjson.JSONDecodeError:
                    continue  # not ours to judge here: the worker dead-letters it
                if isinstance(obj, dict) and keep(obj):
                    out.append(obj)
            if recs and recs[-1].offset + 1 >= ends[tp]:
                pending.discard(tp)
    return out


async def explain_from_kafka(
    alert_id: str,
    bootstrap: str,
    topics: tuple[str, str, str],
    redactor: Redactor,
    timeout: float = 15.0,
) -> Explanation:
    """Find the alert on ``topics[0]`` (alerts) and join it with its evidence from
    ``topics[1]`` (events) and the commands citing it from ``topics[2]`` (revocations)."""
    alerts_topic, events_topic, revocations_topic = topics
    prefix = alert_id[:64]
    alerts = await read_topic(
        bootstrap, alerts_topic, lambda a: str(a.get("alert_id", "")).startswith(prefix), timeout
    )
    if alerts is None:
        raise MonitorError(f"no topic {alerts_topic} at {bootstrap}")
    alert = find_alert_in(enumerate(alerts, 1), alert_id, f"topic {alerts_topic}")
    wanted = set(alert.evidence)
    events = await read_topic(
        bootstrap, events_topic, lambda e: e.get("event_id") in wanted, timeout
    )
    cites = await read_topic(
        bootstrap,
        revocations_topic,
        lambda r: isinstance(r.get("alert_ids"), list) and alert.alert_id in r["alert_ids"],
        timeout,
    )
    return join(alert, events or [], cites or [], redactor)


def run_explain_from_kafka(
    alert_id: str,
    bootstrap: str,
    topics: tuple[str, str, str],
    redactor: Redactor,
    timeout: float = 15.0,
) -> Explanation:
    return asyncio.run(explain_from_kafka(alert_id, bootstrap, topics, redactor, timeout))
