"""Prometheus metrics of the shells (worker, revoker, sink) and their HTTP exposition.

One :class:`~prometheus_client.CollectorRegistry` per process, passed in (never
the library's global default registry), so tests build as many as they like.
The detection core never imports this module: the shells translate what the
core returned (decisions, acks) into metric updates.

Exposition is off unless a port is configured (``MCPMON_WORKER_METRICS_PORT``,
``MCPMON_REVOKER_METRICS_PORT``, ``MCPMON_SINK_METRICS_PORT``; suggested 9464,
9465, 9466), on ``MCPMON_METRICS_ADDR``. Names:

worker
  ``mcpmon_worker_events_total{type}``                 events applied (not duplicates)
  ``mcpmon_worker_duplicate_events_total``             redelivered events dropped by id
  ``mcpmon_worker_alerts_total{detector}``             alerts produced
  ``mcpmon_worker_alerts_by_severity_total{detector,severity}``  the same, by severity too
  ``mcpmon_worker_revocations_total{mode}``            revocation commands (enforce/observe)
  ``mcpmon_worker_deadletters_total{reason}``          dead letters by reason class
  ``mcpmon_worker_consumer_lag{partition}``            highwater − next offset to handle
  ``mcpmon_worker_processing_seconds``                 wall time of one ``Processor.handle``
revoker
  ``mcpmon_revoker_commands_total{mode}``              commands handled
  ``mcpmon_revoker_acks_total{actuator,status}``       acks produced
  ``mcpmon_revoker_retries_total{actuator}``           actuator attempts retried
  ``mcpmon_revoker_failures_total{actuator}``          commands an actuator gave up on
  ``mcpmon_revoker_alerts_total``                      revocation_failed alerts
  ``mcpmon_revoker_deadletters_total{reason}``         invalid commands (``handler_error``: poison)
  ``mcpmon_revoker_deadletter_failures_total``         dead letters not produced (committed past)
  ``mcpmon_revoker_ledger_unavailable_total``          waits for the ledger (Redis)
  ``mcpmon_revoker_consumer_lag{partition}``           highwater − next offset to handle
  ``mcpmon_revoker_handle_seconds``                    wall time of one command
sink
  ``mcpmon_sink_delivered_total{sink}``                alerts delivered
  ``mcpmon_sink_retries_total{sink}``                  delivery attempts retried
  ``mcpmon_sink_deadletters_total{reason}``            invalid alerts (``handler_error``: poison)
  ``mcpmon_sink_deadletter_failures_total``            dead letters not produced (committed past)
  ``mcpmon_sink_consumer_lag{partition}``              highwater − next offset to handle
  ``mcpmon_sink_delivery_seconds``                     wall time of one delivery
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from threading import Thread
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = [
    "LATENCY_BUCKETS",
    "CollectorRegistry",
    "LagTracker",
    "MetricsServer",
    "RevokerMetrics",
    "SinkMetrics",
    "WorkerMetrics",
    "serve",
]

#: Per-event processing is sub-millisecond; commands take network round trips.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.events = Counter(
            "mcpmon_worker_events", "Events applied, by event type", ["type"], registry=r
        )
        self.duplicates = Counter(
            "mcpmon_worker_duplicate_events", "Redelivered events dropped by event id", registry=r
        )
        self.alerts = Counter(
            "mcpmon_worker_alerts", "Alerts produced, by detector", ["detector"], registry=r
        )
        self.alert_severities = Counter(
            "mcpmon_worker_alerts_by_severity",
            "Alerts produced, by detector and severity",
            ["detector", "severity"],
            registry=r,
        )
        self.revocations = Counter(
            "mcpmon_worker_revocations",
            "Revocation commands produced, by mode",
            ["mode"],
            registry=r,
        )
        self.deadletters = Counter(
            "mcpmon_worker_deadletters", "Dead letters, by reason class", ["reason"], registry=r
        )
        self.lag = Gauge(
            "mcpmon_worker_consumer_lag",
            "Messages not yet handled: partition highwater minus the next offset to handle",
            ["partition"],
            registry=r,
        )
        self.latency = Histogram(
            "mcpmon_worker_processing_seconds",
            "Wall time of one message through the processor",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )


class RevokerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.commands = Counter(
            "mcpmon_revoker_commands", "Commands handled, by mode", ["mode"], registry=r
        )
        self.acks = Counter(
            "mcpmon_revoker_acks",
            "Acks produced, by actuator and status",
            ["actuator", "status"],
            registry=r,
        )
        self.retries = Counter(
            "mcpmon_revoker_retries", "Actuator attempts retried", ["actuator"], registry=r
        )
        self.failures = Counter(
            "mcpmon_revoker_failures",
            "Commands an actuator gave up on (acked failed)",
            ["actuator"],
            registry=r,
        )
        self.alerts = Counter("mcpmon_revoker_alerts", "revocation_failed alerts", registry=r)
        self.deadletters = Counter(
            "mcpmon_revoker_deadletters",
            "Invalid commands, by reason class",
            ["reason"],
            registry=r,
        )
        self.ledger_unavailable = Counter(
            "mcpmon_revoker_ledger_unavailable", "Waits for an unreachable ledger", registry=r
        )
        self.deadletter_failures = Counter(
            "mcpmon_revoker_deadletter_failures",
            "Dead letters that could not be produced (logged, committed past)",
            registry=r,
        )
        self.lag = Gauge(
            "mcpmon_revoker_consumer_lag",
            "Commands not yet handled: partition highwater minus the next offset to handle",
            ["partition"],
            registry=r,
        )
        self.latency = Histogram(
            "mcpmon_revoker_handle_seconds",
            "Wall time of one command through every actuator",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )


class SinkMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.delivered = Counter(
            "mcpmon_sink_delivered", "Alerts delivered, by sink", ["sink"], registry=r
        )
        self.retries = Counter(
            "mcpmon_sink_retries", "Delivery attempts retried, by sink", ["sink"], registry=r
        )
        self.deadletters = Counter(
            "mcpmon_sink_deadletters", "Invalid alerts, by reason class", ["reason"], registry=r
        )
        self.deadletter_failures = Counter(
            "mcpmon_sink_deadletter_failures",
            "Dead letters that could not be produced (logged, committed past)",
            registry=r,
        )
        self.lag = Gauge(
            "mcpmon_sink_consumer_lag",
            "Alerts not yet delivered: partition highwater minus the next offset to handle",
            ["partition"],
            registry=r,
        )
        self.latency = Histogram(
            "mcpmon_sink_delivery_seconds",
            "Wall time of one alert's delivery, retries included",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )


class LagTracker:
    """Consumer lag of an aiokafka consumer: its highwater (known from its last fetch,
    no broker request) minus the next offset this process has still to handle.

    Not ``highwater - position``: aiokafka's position runs ahead to the end of
    the last fetched batch, so a command stuck in retries would show no lag.
    A partition is reported once something was fetched from it. Duck-typed on
    the consumer (``assignment()``, ``highwater(tp)``): no aiokafka import here.
    """

    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge
        self.next: dict[Any, int] = {}

    def fetched(self, tp: Any, first_offset: int) -> None:
        self.next.setdefault(tp, first_offset)

    def handled(self, tp: Any, offset: int) -> None:
        self.next[tp] = offset + 1

    def update(self, consumer: Any) -> None:
        assigned = set(consumer.assignment())
        for tp in list(self.next):
            if tp not in assigned:
                del self.next[tp]
                with contextlib.suppress(KeyError):
                    self.gauge.remove(str(tp.partition))
        for tp in assigned:
            nxt = self.next.get(tp)
            if nxt is None:
                continue
            try:
                hw = consumer.highwater(tp)
            except Exception:  # rebalanced away meanwhile
                continue
            if hw is not None:
                self.gauge.labels(str(tp.partition)).set(max(0, hw - nxt))

    async def run(self, consumer: Any, interval: float = 1.0) -> None:
        """Update every ``interval`` s until cancelled (also while a message is in hand)."""
        while True:
            self.update(consumer)
            await asyncio.sleep(interval)


@dataclass(slots=True)
class MetricsServer:
    """A running exposition server (a daemon thread); ``port`` is the bound port."""

    server: Any
    thread: Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def serve_if(registry: CollectorRegistry | None, port: int, addr: str) -> MetricsServer | None:
    """Serve ``registry`` when there is one to serve; logs where (None: metrics are off)."""
    if registry is None:
        return None
    server = serve(registry, port, addr)
    structlog.get_logger("monitor.metrics").info("metrics_serving", addr=addr, port=server.port)
    return server


def serve(registry: CollectorRegistry, port: int, addr: str = "127.0.0.1") -> MetricsServer:
    """Serve ``registry`` at ``http://addr:port/metrics`` (port 0: any free port)."""
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return MetricsServer(server, thread)
