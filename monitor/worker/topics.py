"""The worker's topics, created at startup with the configured partitions.

Faust creates its own internal topics (the state table's changelog) but not
the topics an agent reads or writes, so the worker declares them here and
creates them with :func:`monitor.kafka_io.ensure_topics` before it starts. An
existing input topic with another partition count is an error, not something
to work around: state is co-partitioned with ``mcp.events``.
"""

from __future__ import annotations

from monitor.kafka_io import DEADLETTER_MAX_MESSAGE_BYTES, TopicSpec
from monitor.settings import Settings


def worker_topics(settings: Settings) -> list[TopicSpec]:
    n, rf = settings.partitions, settings.replication_factor
    return [
        TopicSpec(settings.topic_events, n, rf, must_match=True),
        TopicSpec(settings.topic_alerts, n, rf),
        TopicSpec(settings.topic_revocations, n, rf),
        TopicSpec(settings.topic_revocation_acks, n, rf),
        TopicSpec(settings.topic_deadletter, n, rf, max_message_bytes=DEADLETTER_MAX_MESSAGE_BYTES),
        # one partition: every worker reads all of it, in one order
        TopicSpec(settings.topic_charters, 1, rf, compacted=True),
    ]
