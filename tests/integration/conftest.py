"""Broker integration tests: a real Kafka (``bash scripts/kafka.sh start``), never skipped.

The session fixture fails every test here, with the command to run, when the
broker does not answer. Each test gets its own topic names and Faust app id
(:class:`Run`), so tests never see each other's messages, and deletes its
topics at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from monitor.kafka_io import delete_topics
from tests.integration.workers import Run

BOOTSTRAP = os.environ.get("MCPMON_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


async def _probe(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await asyncio.wait_for(admin.start(), 10)
        return list(await asyncio.wait_for(admin.list_topics(), 10))
    finally:
        await admin.close()


@pytest.fixture(scope="session", autouse=True)
def kafka_broker() -> str:
    try:
        asyncio.run(_probe(BOOTSTRAP))
    except Exception as err:
        pytest.fail(
            f"no Kafka broker answers at {BOOTSTRAP} ({type(err).__name__}: {err}). "
            "These tests need the real broker: run `bash scripts/kafka.sh start` first "
            "(or set MCPMON_KAFKA_BOOTSTRAP). They are never skipped.",
            pytrace=False,
        )
    return BOOTSTRAP


@pytest.fixture
def run(kafka_broker: str, tmp_path: Path) -> Iterator[Run]:
    """Fresh topic names and app id; workers started through it are stopped and topics deleted."""
    r = Run(kafka_broker, uuid.uuid4().hex[:10], tmp_path)
    try:
        yield r
    finally:
        r.stop_all()
        asyncio.run(delete_topics(kafka_broker, r.all_topics()))
