"""``mcpmon tail`` without a broker: one line naming the bootstrap servers, exit 1, the
consumer closed (no traceback, no "Unclosed AIOKafkaConsumer")."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys

import pytest

from monitor.errors import BrokerUnavailable
from monitor.tail import tail


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens on it now


def test_tail_of_an_unreachable_broker_raises_naming_it_and_closes_the_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import aiokafka

    made: list[aiokafka.AIOKafkaConsumer] = []
    real = aiokafka.AIOKafkaConsumer

    def recording(*a: object, **kw: object) -> aiokafka.AIOKafkaConsumer:
        made.append(real(*a, **kw))
        return made[-1]

    monkeypatch.setattr("monitor.tail.AIOKafkaConsumer", recording)
    bootstrap = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(BrokerUnavailable, match=rf"broker at {bootstrap} \(MCPMON_KAFKA"):
        asyncio.run(tail(bootstrap, "mcp.alerts", io.BytesIO()))
    assert len(made) == 1 and made[0]._closed


def test_mcpmon_tail_without_a_broker_prints_one_error_line_and_exits_1() -> None:
    bootstrap = f"127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPMON_")}
    r = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "tail", "alerts"],
        capture_output=True,
        text=True,
        env={**env, "MCPMON_KAFKA_BOOTSTRAP": bootstrap, "PYTHONWARNINGS": "always"},
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: cannot reach the Kafka broker at {bootstrap}")
