"""The Faust app the worker runs on: its settings, and the consumer hooks installed on it.

Split from :mod:`monitor.worker.app` (the shell's logic); that module re-exports
:func:`faust_app` and :data:`FETCH_MAX_WAIT_MS`.
"""

from __future__ import annotations

from pathlib import Path

import faust

from monitor.kafka_io import DEADLETTER_MAX_MESSAGE_BYTES
from monitor.settings import Settings
from monitor.worker import faust_compat

__all__ = ["FETCH_MAX_WAIT_MS", "faust_app"]

#: Longest time a fetch waits at the broker for data (Faust builds its consumer
#: with 1.5 s and does not expose it). aiokafka sends no new fetch to a broker
#: while one is in flight, and leaves partitions with fetched, not yet consumed
#: records out of it: once a backlog keeps every busy partition in that state,
#: each fetch holds only idle partitions (Faust's ``__assignor-__leader``, a
#: quiet input partition) and waits the full time, so a backlog of that length
#: sustains itself. Seen in ``mcpmon bench kafka`` as a steady 1.2-1.7 s lag
#: with the worker 60 % busy.
FETCH_MAX_WAIT_MS = 20


def faust_app(settings: Settings) -> faust.App:
    # Faust makes only the last level (no parents): the default .cache/mcpmon-worker
    # failed with FileNotFoundError on a host (or checkout) without .cache. Owner only.
    Path(settings.data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    brokers = [f"kafka://{h.strip()}" for h in settings.kafka_bootstrap.split(",") if h.strip()]
    app = faust.App(
        settings.app_id,
        broker=brokers,
        store=settings.store,
        datadir=settings.data_dir,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        producer_acks=-1,
        # batch the per-event changelog writes: without it each goes out in its own request
        producer_linger=0.005,
        # state records are ~6 KB: with the 16 KB default a produce request carries two
        producer_max_batch_size=256 * 1024,
        consumer_auto_offset_reset="earliest",
        # Faust's per-event statistics, never read here: 7.5 -> 0.9 µs/event of sensor hooks
        Monitor=faust_compat.quiet_monitor(),
        table_standby_replicas=0,
        producer_max_request_size=DEADLETTER_MAX_MESSAGE_BYTES,
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_seconds / 4),
        broker_commit_every=1000,
        broker_commit_interval=1.0,
    )
    # No record fetched before a seek is handed on after it: the skipped input after a
    # rebalance or restart (faust_compat.SeekFence says how Faust's drain loop lost it).
    faust_compat.SeekFence.install(app.consumer)
    # each record handed to the stream without 4 tasks + asyncio.wait unless it must wait
    faust_compat.EagerDrain.install(app.consumer)
    # a full stream buffer waits for room instead of stopping the fetch for a whole second
    faust_compat.keep_fetching_when_full(app.consumer)
    faust_compat.cap_fetch_max_wait(  # this app's only
        app.consumer, FETCH_MAX_WAIT_MS, settings.worker.fetch_min_bytes
    )
    return app
