"""The worker's topics: created with the configured partitions; a mismatched input refused."""

from __future__ import annotations

import asyncio

import pytest

from monitor.errors import TopicMismatch
from monitor.kafka_io import TopicSpec, ensure_topics
from monitor.settings import load_settings
from monitor.worker.topics import worker_topics
from tests.integration.workers import Run


def test_topics_are_created_with_the_configured_partitions(run: Run) -> None:
    env = {k: v for k, v in run.env(MCPMON_PARTITIONS="3").items() if k.startswith("MCPMON_")}
    settings = load_settings(env=env)
    counts = asyncio.run(ensure_topics(run.bootstrap, worker_topics(settings)))
    t = run.topics
    assert counts == {
        t["events"]: 3,
        t["alerts"]: 3,
        t["revocations"]: 3,
        t["acks"]: 3,
        t["deadletter"]: 3,
        t["charters"]: 1,
    }
    # idempotent: a second worker starting finds them
    assert asyncio.run(ensure_topics(run.bootstrap, worker_topics(settings))) == counts


def test_an_input_topic_with_other_partitions_is_refused(run: Run) -> None:
    asyncio.run(ensure_topics(run.bootstrap, [TopicSpec(run.topics["events"], 2)]))
    with pytest.raises(TopicMismatch, match="has 2 partitions but the worker is configured for 4"):
        asyncio.run(
            ensure_topics(run.bootstrap, [TopicSpec(run.topics["events"], 4, must_match=True)])
        )
