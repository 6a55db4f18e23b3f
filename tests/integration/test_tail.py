"""``mcpmon tail``: a topic's messages as JSON lines, on the real broker, no group committed."""

from __future__ import annotations

import asyncio
import io
import uuid

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from monitor.kafka_io import delete_topics, produce
from monitor.tail import tail

pytestmark = pytest.mark.kafka


def test_last_n_per_partition_then_stop_and_hostile_bytes_are_escaped(kafka_broker: str) -> None:
    topic = f"tail-{uuid.uuid4().hex[:8]}"
    values = [orjson.dumps({"n": i}) for i in range(15)] + [b"\x1b[2Jnot json\xff"]

    async def go() -> tuple[bytes, bytes, bytes]:
        await produce(kafka_broker, topic, [(b"k", v) for v in values])  # one key: one partition
        last, everything, meta = io.BytesIO(), io.BytesIO(), io.BytesIO()
        assert await tail(kafka_broker, topic, last, last=3) == 3
        assert await tail(kafka_broker, topic, everything, last=None) == 16
        await tail(kafka_broker, topic, meta, last=1, meta=True)
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker)
        await admin.start()
        try:
            groups = [g[0] for g in await admin.list_consumer_groups()]
        finally:
            await admin.close()
        assert not [g for g in groups if topic in g]  # read without a group
        return last.getvalue(), everything.getvalue(), meta.getvalue()

    try:
        last, everything, meta = asyncio.run(go())
    finally:
        asyncio.run(delete_topics(kafka_broker, [topic]))
    lines = last.splitlines()
    assert [orjson.loads(x) for x in lines[:2]] == [{"n": 13}, {"n": 14}]
    assert orjson.loads(lines[2]) == "\x1b[2Jnot json\\xff"  # not JSON: kept as an escaped string
    assert b"\x1b" not in last  # the escape byte is JSON-escaped, never written raw
    assert len(everything.splitlines()) == 16
    m = orjson.loads(meta)
    assert (m["topic"], m["offset"], m["key"]) == (topic, 15, "k")
