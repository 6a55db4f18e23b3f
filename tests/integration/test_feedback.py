"""mcpmon feedback publishes an alert_feedback event on the events topic, keyed by agent."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

from monitor.events import AlertFeedback, decode_event
from monitor.kafka_io import delete_topics, read_topics


def test_feedback_reaches_the_events_topic(kafka_broker: str) -> None:
    topic = f"fb-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "MCPMON_KAFKA_BOOTSTRAP": kafka_broker, "MCPMON_TOPIC_EVENTS": topic}
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "monitor.cli",
                "feedback",
                "alert-1",
                "--agent",
                "agent:a/1",
                "--verdict",
                "malicious",
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        records = asyncio.run(read_topics(kafka_broker, [topic], until=bool, timeout=20))
        assert len(records) == 1
        assert records[0].key == b"agent:a/1"
        event = decode_event(records[0].value)
        assert isinstance(event, AlertFeedback)
        assert (event.alert_id, event.verdict) == ("alert-1", "malicious")
    finally:
        asyncio.run(delete_topics(kafka_broker, [topic]))
