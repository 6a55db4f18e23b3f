"""``mcpmon worker``: check the broker, create topics, load charters, run the Faust app."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import structlog

from monitor.charter import load_charter_dir
from monitor.core.baseline import native
from monitor.core.policy import CharterSet
from monitor.kafka_io import ensure_topics
from monitor.metrics import CollectorRegistry, WorkerMetrics, serve
from monitor.runtime import configure_logging
from monitor.settings import Settings
from monitor.signing import CommandSigner
from monitor.worker.charters import CharterFeed
from monitor.worker.processor import RANKER_FILE, OutputTopics, Processor
from monitor.worker.topics import worker_topics


def warn_unsigned(settings: Settings, log: Any) -> None:
    """Say loudly at start what is not authenticated (see README, signed commands)."""
    if settings.command_keyring() is None:
        log.warning(
            "revocation_commands_unsigned",
            detail="MCPMON_COMMAND_SIGNING_KEYS is empty: revocation commands are published "
            "unsigned, and a revoker without keys cannot tell them from forged ones",
        )
    if settings.charter_allow_unsigned:
        log.warning(
            "charter_updates_unauthenticated",
            detail="MCPMON_CHARTER_ALLOW_UNSIGNED is set: an unsigned charter_updated event on "
            "the events topic is applied, whoever sent it (each raises a charter_unsigned "
            "alert); sign updates with mcpmon sign-charter and turn it off",
        )
    elif settings.charter_keyring() is None:
        log.warning(
            "charter_updates_refused",
            detail="MCPMON_CHARTER_SIGNING_KEYS is empty: every charter_updated event is refused "
            "(charter_rejected alert); only the charters loaded at start are in force",
        )


def build_processor(
    settings: Settings, charters_dir: str, metrics: WorkerMetrics | None = None
) -> Processor:
    ring = settings.command_keyring()
    return Processor(
        CharterSet(load_charter_dir(charters_dir)),
        settings.engine(),
        OutputTopics(
            alerts=settings.topic_alerts,
            revocations=settings.topic_revocations,
            deadletter=settings.topic_deadletter,
            charters=settings.topic_charters,
        ),
        idle_seconds=settings.watermark_idle_seconds,
        metrics=metrics,
        signer=CommandSigner(ring) if ring is not None else None,
        ranker_file=Path(settings.data_dir) / RANKER_FILE,
    )


def run_worker(settings: Settings, charters_dir: str, loglevel: str = "info") -> int:
    from monitor.worker import faust_contract
    from monitor.worker.app import WorkerApp  # imports faust: only when a worker runs
    from monitor.worker.gcpause import Freezer
    from monitor.worker.stopping import StopWatchdog

    configure_logging(loglevel)
    log = structlog.get_logger("monitor.worker")
    faust_contract.check_contract()  # a moved Faust private stops the worker here, named
    for problem in faust_contract.version_problems():
        log.warning("faust_version_unchecked", problem=problem)
    metrics = WorkerMetrics(CollectorRegistry()) if settings.worker.metrics_port else None
    processor = build_processor(settings, charters_dir, metrics)
    counts = asyncio.run(ensure_topics(settings.kafka_bootstrap, worker_topics(settings)))
    feed = CharterFeed(
        settings.kafka_bootstrap, settings.topic_charters, processor.apply_charter_broadcast
    )
    asyncio.run(feed.catch_up())
    log.info(
        "worker_starting",
        app_id=settings.app_id,
        bootstrap=settings.kafka_bootstrap,
        topics=counts,
        store=settings.store,
        charters=len(processor.charters),
        watermark_idle_seconds=settings.watermark_idle_seconds,
        # the same results either way; compiled is about twice as fast (make native)
        behaviour_layer="compiled (mypyc)" if native.active() else "pure Python",
    )
    warn_unsigned(settings, log)
    if metrics is not None:
        server = serve(metrics.registry, settings.worker.metrics_port, settings.metrics_addr)
        log.info("metrics_serving", addr=settings.metrics_addr, port=server.port)
    freezer = Freezer().install()  # this process's collector: thresholds, periodic freeze
    worker_app = WorkerApp(settings, processor, feed, metrics=metrics, freezer=freezer)
    # a stop that hangs in Faust ends the process anyway (monitor/worker/stopping.py)
    worker_app.app.on_before_shutdown.connect(StopWatchdog().on_stop)
    import faust

    worker = faust.Worker(
        worker_app.app,
        loglevel=loglevel,
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,
    )
    # no terminal spinner: its end writes a backspace and a cursor escape, unasked and with
    # no newline, to the stream our JSON lines go to, spoiling the next line for a log shipper
    worker.spinner = None
    worker.execute_from_commandline()  # returns only through SystemExit
    return 0
