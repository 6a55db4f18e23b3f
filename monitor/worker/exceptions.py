"""Errors of the streaming worker, all under the package's one root exception."""

from __future__ import annotations

from monitor.errors import MonitorError


class WorkerError(MonitorError):
    """The worker cannot run as configured (broker, topics, store)."""


class BrokerUnavailable(WorkerError):
    """The Kafka bootstrap servers did not answer in time."""


class TopicMismatch(WorkerError):
    """An existing topic has a different partition count than configured.

    Agent state is co-partitioned with ``mcp.events``: the state table's
    changelog must have exactly as many partitions as the input topic.
    """
