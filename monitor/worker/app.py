"""The Faust app: ``mcp.events`` → :class:`Processor` → ``mcp.alerts`` / ``mcp.revocations``.

A thin shell. The agent body hands each raw message to the processor,
publishes what it returns and writes the changed agents to the state table;
nothing here looks inside an event.

Per-event sequence, and why:

1. ``Processor.handle`` decodes and runs the partition's engine. Alerts and
   revocation commands it returns are also put in their agent's *outbox*.
2. They are handed to the producer (not awaited); when the broker
   acknowledges one, :meth:`Processor.delivered` takes it out of the outbox.
3. The agents the engine marked dirty are written to the table at most
   every ``worker_flush_seconds`` or ``worker_flush_events`` events: one
   record per changed agent, holding its state snapshot *and* its outbox
   (:mod:`monitor.worker.store`), so an agent busy with many calls is
   written once, not once a call. Outputs never wait for that write.
4. Once the broker has acknowledged every one of those changelog records
   (``acks=all``), the offsets after the last events the flush covered are
   safe, and the worker commits them (at most every ``COMMIT_SECONDS``): a
   committed offset always has its state and outputs in Kafka.

The worker commits input offsets itself; Faust's ack bookkeeping commits
nothing (no event is acked through it, see ``_agent``). Each of its ways
to commit was seen to break that rule in the soak test: its commit flushes
the producer buffer for at most 0.1 s without progress, so offsets were
committed while table writes were still queued (a SIGKILL then lost state);
its acked-offset list took offsets twice after a restart, so the commit
crept forward one offset per second for minutes; and it counts offsets it
saw the consumer jump over as acked.

Offsets are checked, not trusted: the rule is :mod:`monitor.worker.offsets`
(the offset-gap guard), which rule decides what to commit and when is
:mod:`monitor.worker.checkpoint`; both are pure. A message past the next
expected offset is neither processed nor committed: the worker seeks back
(``offset_gap`` in the log and the counters). Every Faust or aiokafka private
this shell needs is reached through :mod:`monitor.worker.faust_compat`, the
only module that touches them.

After a crash the events after the last commit are redelivered. An event
whose state record reached the changelog is dropped by the engine's event-id
dedup — and its outputs, if they had not reached the broker, are in that
record's outbox and are published again when the partition is restored. An
event whose state record did not is processed again. Either way nothing is
lost, and what is repeated is the *same* alert or command (ids are
deterministic): downstream sees duplicates of a ``command_id``, never a
different meaning. The revoker deduplicates by ``command_id``.

Partitions: one engine per assigned input partition (see
:mod:`monitor.worker.processor`). Engines of partitions no longer assigned
are dropped when a rebalance assigns; engines of new partitions are built
from the table once Faust has restored it from the changelog (and
``rebuild_timers`` re-indexes their timers).

Idle ticks (``watermark_idle_seconds``) are the worker's only wall-clock
input. Outputs of timers fired by a tick are published at once; the agents
they changed (and their outboxes) are written with the next flush of a
partition this worker has had an event of (a table write needs an event
context of the partition). If the worker dies before that, the restarted
worker fires the same timers again — same ids, a duplicate at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, cast

import structlog
from faust.types import TP

from monitor.metrics import WorkerMetrics
from monitor.settings import Settings
from monitor.worker import faust_compat
from monitor.worker.charters import CharterFeed
from monitor.worker.checkpoint import COMMIT_SECONDS, Checkpoint, flush_on_timer
from monitor.worker.faust_setup import FETCH_MAX_WAIT_MS, faust_app
from monitor.worker.gcpause import Freezer, GcPauses, settle
from monitor.worker.offsets import Gap, OffsetGuard
from monitor.worker.ports import Ports, start_offsets
from monitor.worker.processor import Outcome, Processor, Record
from monitor.worker.store import Corrupt, load_partitions

log = structlog.get_logger("monitor.worker")

TABLE_NAME = "agent_state"
HEARTBEAT_FILE = "worker.alive"
HEARTBEAT_SECONDS = 10.0
LAG_SECONDS = 5.0
#: Longest wait for the broker to acknowledge a flush's changelog records. Past
#: it the worker stops (its events uncommitted, so redelivered to the next owner)
#: rather than hold events it cannot vouch for.
STATE_WRITE_TIMEOUT_SECONDS = 60.0
#: A flush snapshots this many agents between two turns of the event loop (each
#: ~0.1 ms: a flush of 400 changed agents stopped the event loop for ~40 ms).
FLUSH_CHUNK_AGENTS = 32
#: Most events the agent takes off its stream at once, handled in one pass
#: between two turns of the event loop (faust_compat.batches; Faust's stream
#: iterator turns it once per event).
BATCH_EVENTS = 64
__all__ = ["COMMIT_SECONDS", "FETCH_MAX_WAIT_MS", "Ports", "WorkerApp", "faust_app"]
_done = faust_compat.mark_done


def _fresh(event: Any) -> bool:
    return True


class WorkerApp:
    """The Faust app with its topics, state table, agent, timers and hooks."""

    def __init__(
        self,
        settings: Settings,
        processor: Processor,
        feed: CharterFeed | None = None,
        clock: Callable[[], float] = time.monotonic,
        metrics: WorkerMetrics | None = None,
        perf: Callable[[], float] = time.perf_counter,
        ports: Ports | None = None,
        freezer: Freezer | None = None,
    ) -> None:
        self.settings = settings
        self.freezer = freezer  # long-lived objects out of the collector's walk (None: not)
        self.metrics = metrics
        self.perf = perf  # wall clock of the latency histogram (never seen by the processor)
        self.guard = OffsetGuard()  # the offset-gap rule (pure)
        self.checkpoint = Checkpoint(COMMIT_SECONDS)  # the commit rule (pure)
        self._reported_lag: set[int] = set()  # partitions with a lag gauge
        self.processor = processor
        # start-up collections (Faust's import, the app's creation) apart until partitions come
        self.gc = GcPauses(serving=False).install()
        self.feed = feed
        self.clock = clock
        self.app = app = faust_app(settings)
        self.fence = faust_compat.SeekFence.install(app.consumer)  # the one faust_app installed
        raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
        # key and value handed on as bytes, no codec lookups per event (faust_compat.raw_schema)
        self.events = app.topic(
            settings.topic_events, partitions=settings.partitions, schema=faust_compat.raw_schema()
        )
        self.outputs = {
            name: app.topic(name, **raw)
            for name in (
                settings.topic_alerts,
                settings.topic_revocations,
                settings.topic_deadletter,
                settings.topic_charters,
            )
        }
        self.table = app.Table(
            TABLE_NAME,
            partitions=settings.partitions,
            default=None,
            key_type=bytes,
            value_type=bytes,
        )
        self._flushing = asyncio.Lock()  # one flush at a time: commits stay in offset order
        self._stream: Any = None  # the agent's stream
        self._flushed_at = float("-inf")  # when the last flush ended (self.clock)
        self._handled: list[Any] = []  # handled events not yet flushed (state unwritten)
        self.ports = ports or Ports(
            write_state=self._write_state,
            commit=self._send_commit,
            committed=self._start_offsets,
            seek=self._seek,
            send=self._send,
            assigned=self._assigned,
            crash=self._crash,
        )
        self._last_event: dict[int, Any] = {}  # per partition: context of its table writes
        self._corrupt_seen: set[tuple[str, bytes]] = set()  # stored records dead-lettered
        self._changelog = f"{settings.app_id}-{TABLE_NAME}-changelog"

        self.agent = app.agent(self.events, name="monitor")(self._agent)
        self.table.on_recover(self._on_recovered)
        app.on_partitions_assigned.connect(
            cast(Any, self.on_partitions_assigned)
        )  # mode types are narrow
        if settings.watermark_idle_seconds > 0:
            interval = max(0.1, min(1.0, settings.watermark_idle_seconds / 2))
            app.timer(interval, name="idle_watermark")(self._tick)
        app.task(self._flush_loop)
        app.timer(30.0, name="stats")(self._log_stats)
        app.timer(HEARTBEAT_SECONDS, name="heartbeat")(self._heartbeat)
        if metrics is not None:
            app.timer(LAG_SECONDS, name="consumer_lag")(self._lag)
        if feed is not None:
            app.task(self._follow_charters)

    # ------------------------------------------------------------ agent
    async def _agent(self, stream: Any) -> None:
        # No acks through Faust (noack): the worker commits offsets itself once
        # the state is on the broker (see flush). Faust's stream would
        # also ack the current event in a ``finally`` when the agent is
        # cancelled (a graceful stop, a rebalance), whether its state was
        # written or not. An event not committed is redelivered: dropped by the
        # event-id dedup if its state reached the changelog, processed again if not.
        self._stream = stream = stream.noack()
        take = self.take_batch
        fresh = faust_compat.fresh(stream)
        try:  # not stream.events(): Faust's iterator turns the event loop once per event
            async for batch in faust_compat.batches(stream, BATCH_EVENTS):
                await take(batch, fresh)
        finally:
            await self.flush(force=True)  # a graceful stop: what is done is kept
            # the figures since the last stats line (bench kafka reads them), and at a stop
            # what freezing hid from the collector (gcpause): measured, not assumed
            hidden = {}
            if self.freezer is not None and self.app.should_stop:
                hidden["gc_frozen_garbage"] = self.freezer.hidden_garbage()
            self._stats_line(**hidden)

    async def take(self, event: Any) -> None:
        """One event of the stream (:meth:`take_batch` of one)."""
        await self.take_batch([event])

    async def take_batch(self, events: list[Any], fresh: Callable[[Any], bool] = _fresh) -> None:
        """Events of the stream in order: handle each, keep it for the next flush, and
        flush once ``worker_flush_events`` are waiting.

        One pass, awaiting nothing for an event that is in sequence on a partition
        this worker owns and produces no output: for such an event the checks are
        :meth:`on_message`'s (same guard, same order), done inline. Any other goes
        through :meth:`on_message`. ``fresh(event)`` is asked right before each one
        (faust_compat.fresh): an event fetched before a rebalance that began while
        an earlier one was handled is marked done, not handled.
        """
        guard, owns, judge = self.guard, self.processor.owns, self._judge
        flush_events = self.settings.worker.flush_events
        clock = self.clock
        for event in events:
            msg = event.message
            p = msg.partition
            if not fresh(event):
                _done(event)  # of a previous assignment: comes again to its owner
                continue
            if owns(p) and p in guard.next_offset:  # the common case, inline
                now = clock()
                gap = guard.check(p, msg.offset, now)
                if gap is not None:
                    await self._skip_gap(msg, gap)
                    _done(event)
                    continue
                out = judge(p, msg, event.value, now)
                if out:
                    await self._publish(p, out.decisions, out.notes)
            elif not await self.on_message(msg, event.value):
                _done(event)  # skipped: nothing to commit, nothing for Faust to wait on
                continue
            # not held in locals: a flush or a rebalance (at any await) replaces both
            self._last_event[p] = event
            self._handled.append(event)
            if len(self._handled) >= flush_events:
                await self.flush()

    @property
    def unflushed(self) -> int:
        """Events handled whose state is not written yet."""
        return len(self._handled)

    async def _flush_loop(self) -> None:
        """Flush and commit every ``worker_flush_seconds`` (while behind, every
        ``worker_backlog_flush_seconds``: :func:`.checkpoint.flush_on_timer`), until the
        app's tasks are cancelled.

        Not an ``app.timer``: timers end as soon as the app starts stopping,
        and Faust's stop then waits, with no time limit, for every event handed
        to the agent to be done with (``Consumer.wait_empty``) — the events this
        loop flushes. As a timer, a SIGTERM hung the worker for ever.
        """
        worker = self.settings.worker
        while True:
            await asyncio.sleep(worker.flush_seconds)
            try:
                await self.reseek_stalled()
                queued = faust_compat.queued(self._stream)
                if flush_on_timer(
                    self.clock(),
                    self._flushed_at,
                    queued,
                    BATCH_EVENTS,
                    worker.backlog_flush_seconds,
                ):
                    await self.flush()
                elif self.freezer is not None:  # behind: still freeze every FREEZE_SECONDS, so
                    self.freezer.maybe_freeze()  # a collection never walks 2 s of new agents
            except Exception as exc:  # the next round retries; a dead loop would hang the stop
                log.exception("flush_failed", error=f"{type(exc).__name__}: {exc}")

    def _write_state(self, partition: int, key: bytes, value: bytes) -> Awaitable[Any]:
        """Put one agent record in the table's store and hand it to the changelog
        (the future is done once the broker has the record)."""
        return faust_compat.write_record(self.table, partition, key, value)

    async def flush(self, force: bool = False) -> None:
        """Write every changed agent once, wait for the broker to have them, commit.

        The table write of a partition's agents must run in an event context of
        that partition (RocksDB picks its store from the current event), so
        each partition is written with its last event as the current one. The
        offsets are committed only when every record is on the broker: an
        offset is never committed before the state it led to. If the broker
        does not take them, nothing is committed and the worker stops: the
        events are redelivered.
        """
        async with self._flushing:
            proc = self.processor
            # The events this flush covers and their changed agents, taken at one instant:
            # what is handled while it writes (below) goes to the next flush.
            events, self._handled = self._handled, []
            todo = [(p, e, proc.take_dirty(p)) for p, e in self._last_event.items() if proc.owns(p)]
            sent: list[Awaitable[Any]] = []
            for p, event, agents in todo:

                def write(k: bytes, v: bytes, p: int = p) -> None:
                    sent.append(self.ports.write_state(p, k, v))

                for i in range(0, len(agents), FLUSH_CHUNK_AGENTS):
                    if i:  # the agent handles events between two chunks: no long stop
                        await asyncio.sleep(0)
                    with faust_compat.event_context(event):
                        proc.write_agents(p, agents[i : i + FLUSH_CHUNK_AGENTS], write)
            if sent:
                try:
                    await asyncio.wait_for(
                        asyncio.gather(*sent), timeout=STATE_WRITE_TIMEOUT_SECONDS
                    )
                except Exception as exc:  # timeout, or the producer gave up on a record
                    log.error(
                        "state_write_failed",
                        records=len(sent),
                        events_uncommitted=len(events),
                        error=f"{type(exc).__name__}: {exc}",
                    )
                    await self.ports.crash(exc)
                    return
            for event in events:
                _done(event)
            ckpt = self.checkpoint
            ckpt.written((e.message.partition, e.message.offset) for e in events)
            offsets = ckpt.due(self.clock(), force)
            if offsets or force:
                # the feedback ranker (if on and changed) written before the offsets commit:
                # a verdict or an alert it remembered, once committed, is never delivered
                # again, so a crash after the commit must find it in the file
                proc.save_ranker()
            if offsets and await self.ports.commit(offsets):
                ckpt.done(offsets)
            self._flushed_at = self.clock()
            if self.freezer is not None:
                self.freezer.maybe_freeze()  # the agents met since the last freeze

    async def _send_commit(self, offsets: dict[int, int]) -> bool:
        """Commit through Faust's consumer (its thread; False when a rebalance overtook it)."""
        topic = self.settings.topic_events
        tps = {TP(topic, p): o for p, o in offsets.items()}
        return await faust_compat.commit(self.app.consumer, tps)

    async def on_message(self, msg: Any, value: bytes | None) -> bool:
        """Handle one message; False if skipped (not this worker's partition, or past a gap)."""
        proc = self.processor
        p = msg.partition
        if not proc.owns(p):
            if p not in self.ports.assigned():
                proc.counters["not_owned_skipped"] += 1
                return False
            await self._assign([p])
        if not await self._in_sequence(msg):
            return False
        out = self._judge(p, msg, value, self.clock())
        if out:
            await self._publish(p, out.decisions, out.notes)
        return True

    def _judge(self, p: int, msg: Any, value: bytes | None, now: float) -> Outcome:
        """The processor's judgement of one in-sequence message (timed for the latency
        histogram); its output, if any, is the caller's to publish."""
        t0 = self.perf()
        out = self.processor.handle(p, msg.offset, value, msg.key, topic=msg.topic, now=now)
        if self.metrics is not None:
            self.metrics.latency.observe(self.perf() - t0)
        return out

    async def _publish(
        self, partition: int, decisions: list[Record], notes: Iterable[Record] = ()
    ) -> None:
        """Hand records to the producer; decisions report their delivery to the processor."""
        send = self.ports.send
        for r in decisions:
            await send(r.topic, r.key, r.value, partial(self._delivered, partition, r))
        for r in notes:
            await send(r.topic, r.key, r.value, None)

    async def _send(self, topic: str, key: bytes | None, value: bytes | None, callback: Any) -> Any:
        return await self.outputs[topic].send(key=key, value=value, callback=callback)

    async def _crash(self, exc: BaseException) -> None:
        if not self.app.should_stop:
            await self.app.crash(exc)

    async def _in_sequence(self, msg: Any) -> bool:
        """True if ``msg`` is the partition's next offset (or an older one, redelivered).

        The rule is :class:`~monitor.worker.offsets.OffsetGuard`'s. The group's
        committed offset is asked of the broker, not of Faust's consumer (a
        restarted worker was seen to have none for three partitions while its
        fetcher began 3,000 messages past the commit); a partition the group
        never committed is checked from its first offset (:meth:`_start_offsets`).
        """
        p, offset = msg.partition, msg.offset
        guard = self.guard
        if guard.needs_committed(p):
            try:
                guard.set_committed(await self.ports.committed())
            except Exception as exc:  # broker unreachable: go on unchecked, say so
                log.warning(
                    "committed_offsets_unavailable",
                    error=f"{type(exc).__name__}: {exc}",
                    detail="offsets are not checked against the group's commit until the "
                    "next assignment",
                )
                guard.set_committed({})
        starting = p not in guard.next_offset
        gap = guard.check(p, offset, self.clock())
        if gap is None:
            if starting:  # once per partition and assignment: where handling began
                log.info(
                    "partition_started",
                    partition=p,
                    offset=offset,
                    expected=(guard.group_committed or {}).get(p),
                )
            return True
        await self._skip_gap(msg, gap)
        return False

    async def _skip_gap(self, msg: Any, gap: Gap) -> None:
        """``msg`` is past a gap (the guard's :class:`Gap`): count it, log the gap once,
        seek back when the guard says so. The message is not handled."""
        p, offset = msg.partition, msg.offset
        counters = self.processor.counters
        if gap.first:
            counters["offset_gaps"] += 1
            # The group's commit now: equal to ``got`` means the previous owner committed
            # after this assignment's lookup (a race, those events were done), not a skip.
            try:
                committed_now: int | None = (await self.ports.committed()).get(p)
            except Exception:  # diagnostics only
                committed_now = None
            log.warning(
                "offset_gap",
                partition=p,
                expected=gap.expected,
                got=offset,
                committed_now=committed_now,
                detail="the consumer skipped messages; seeking back, nothing past the gap "
                "is processed or committed until they come",
            )
        counters["offset_gap_skipped"] += 1
        if gap.seek:  # a stale batch past the gap may still be coming: seek again now and then
            await self.ports.seek(p, gap.expected)

    async def _start_offsets(self) -> dict[int, int]:
        """Where the handling of each input partition must start (ports.start_offsets)."""
        return await start_offsets(self.settings, self.app.consumer, self.ports.assigned())

    async def _seek(self, partition: int, offset: int) -> None:
        tp = TP(self.settings.topic_events, partition)
        await faust_compat.seek_back(self.app.consumer, tp, offset)

    async def reseek_stalled(self) -> None:
        for p, offset in self.guard.stalled(self.clock(), self.processor.partitions):
            self.processor.counters["offset_gap_reseeks"] += 1
            await self.ports.seek(p, offset)

    def _delivered(self, partition: int, rec: Record, fut: Any) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self.processor.delivered(partition, rec)

    # ------------------------------------------------------------ timers and tasks
    async def _tick(self) -> None:
        for partition, out in self.processor.tick(self.clock()):
            log.info("idle_timers_fired", partition=partition, records=len(out.decisions))
            await self._publish(partition, out.decisions)

    async def _heartbeat(self) -> None:
        """Touch ``DATA_DIR/worker.alive`` (container health checks look at its age)."""
        path = Path(self.settings.data_dir) / HEARTBEAT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{time.time():.0f}\n")

    async def _lag(self) -> None:
        """Consumer lag per owned partition: the Faust consumer's highwater (from its
        last fetch, no broker request) minus the offset after the last message handled."""
        if self.metrics is None:
            return
        topic = self.settings.topic_events
        consumer = self.app.consumer
        for tp in self.app.assignor.assigned_actives():
            if tp.topic != topic:
                continue
            try:
                hw = consumer.highwater(tp)
            except Exception:  # not fetched yet, or just rebalanced away
                continue
            if hw is None or hw < 0:
                continue
            done = self.guard.next_offset.get(tp.partition)
            if done is None:
                continue  # nothing handled yet on this worker: position unknown here
            self.metrics.lag.labels(str(tp.partition)).set(max(0, hw - done))
            self._reported_lag.add(tp.partition)

    async def _log_stats(self) -> None:
        # no parameters: Faust passes the app to a timer whose function takes any
        self._stats_line()

    def _stats_line(self, **extra: int) -> None:
        fence = self.fence
        log.info(
            "stats",
            **dict(self.processor.counters),
            stale_records_dropped=fence.dropped,  # fetched before a seek: fetched again
            seeks_again=fence.resought,
            **self.gc.take(),
            gc_freezes=0 if self.freezer is None else self.freezer.freezes,
            **extra,
        )

    async def _follow_charters(self) -> None:
        if self.feed is not None:
            await self.feed.follow()

    # ------------------------------------------------------------ rebalancing
    def _assigned(self) -> set[int]:
        topic = self.settings.topic_events
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}

    async def on_partitions_assigned(
        self, sender: Any, *args: Any, signal: Any = None, **kwargs: Any
    ) -> None:
        """A rebalance handed out partitions: drop engines this worker no longer owns.

        Engines of partitions it keeps stay (their state is current); engines
        of new partitions are built after the table is restored.
        """
        assigned: Iterable[Any] = args[0] if args else kwargs.get("assigned", ())
        topic = self.settings.topic_events
        now = {tp.partition for tp in assigned if tp.topic == topic}
        for p in list(self.processor.partitions):
            if p not in now or p not in self.checkpoint.assignment:
                self.processor.revoke(p)
        # Events of partitions given away are not committed: their new owner gets
        # them again and processes them against the state in the changelog.
        kept = [e for e in self._handled if e.message.partition in now]
        for e in self._handled:
            if e.message.partition not in now:
                _done(e)  # given away: not committed here, redelivered to its new owner
        self._handled = kept
        self._last_event = {p: e for p, e in self._last_event.items() if p in now}
        # Faust seeks every assigned partition to its committed offset: expect that next.
        self.guard.reassigned()
        if self.metrics is not None:
            for p in self._reported_lag - now:
                with contextlib.suppress(KeyError):  # no lag reported for it yet
                    self.metrics.lag.remove(str(p))
            self._reported_lag &= now
        self.checkpoint.reassigned(now)
        log.info("partitions_assigned", partitions=sorted(now), pid=os.getpid())

    async def _on_recovered(self) -> None:
        missing = [p for p in sorted(self.ports.assigned()) if not self.processor.owns(p)]
        if missing:
            await self._assign(missing)

    async def _assign(self, partitions: list[int]) -> None:
        t0 = time.perf_counter()
        dead: list[Record] = []
        topics = self.processor.topics
        loaded = load_partitions(
            self.table.items(),
            partitions,
            partial(self._corrupt, dead),
            outputs=(topics.alerts, topics.revocations),
        )
        agents = sum(len(r.states) for r in loaded.values())
        timers = sum(len(st.timers) for r in loaded.values() for st in r.states.values())
        pending = {p: self.processor.assign(p, r, now=self.clock()) for p, r in loaded.items()}
        del loaded
        settle()  # the restored states are long-lived: out of the collector's walk
        self.gc.serve()  # from the first assignment on, a collection is a pause events meet
        log.info(
            "partitions_restored",
            partitions=partitions,
            agents=agents,
            timers=timers,
            outbox=sum(len(v) for v in pending.values()),
            seconds=round(time.perf_counter() - t0, 3),
        )
        if dead:
            await self._publish(partitions[0], [], dead)
        for p, records in pending.items():
            if records:
                await self._publish(p, records)

    def _corrupt(self, dead: list[Record], bad: Corrupt) -> None:
        """A stored agent record that could not be read back: dead-lettered once per process."""
        seen = (bad.agent_id, hashlib.sha256(bad.raw).digest())
        if seen in self._corrupt_seen:  # still in the table at a later assignment
            return
        self._corrupt_seen.add(seen)
        dead.append(self.processor.corrupt_state(bad, self._changelog))
