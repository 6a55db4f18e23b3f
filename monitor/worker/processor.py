"""The worker's Kafka-free middle: raw message in, records out, one Engine per partition.

:class:`Processor` is what the Faust agent calls for every message; it knows
nothing of Faust or aiokafka, so it is tested with plain bytes (and compared
with :mod:`monitor.replay`) in ``tests/worker/``. It only decodes, calls the
one detection core and encodes: no detection logic lives here.

Why one :class:`~monitor.core.Engine` per input partition (not one per
worker): a Kafka partition is the unit of order, so each engine's event-time
watermark is that partition's own stream time (as in Kafka Streams). With one
engine per worker, the watermark would depend on how the consumer happens to
interleave partitions: a partition fetched ahead would fire another
partition's timers before that partition's earlier events were applied.
Per-partition engines make the output a function of the input alone,
whatever the interleaving, worker count or rebalance history. All engines
share one :class:`~monitor.core.policy.CharterSet`, so a charter update
applied once is in force for every partition of the worker.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from monitor import deadletter
from monitor.core import Decision, Engine, EngineSettings
from monitor.core.charter_update import REJECTED, UNSIGNED
from monitor.core.feedback_ranker import FeedbackRanker, RankerSettings
from monitor.core.policy import CharterSet
from monitor.core.redact import DEFAULT_REDACTOR
from monitor.core.state import AgentState
from monitor.errors import DecodeError
from monitor.events import CharterUpdated, decode_event
from monitor.metrics import WorkerMetrics
from monitor.output_contracts import RevocationCommand
from monitor.signing import CommandSigner
from monitor.worker.store import Corrupt, PartitionStates, Record, Restored

__all__ = ["RANKER_FILE", "Outcome", "OutputTopics", "Processor", "Record"]

log = structlog.get_logger("monitor.worker")
#: the feedback ranker's file in each worker process's DATA_DIR (MCPMON_FEEDBACK_RANKER on)
RANKER_FILE = "feedback_ranker.json"


@dataclass(frozen=True, slots=True)
class OutputTopics:
    alerts: str = "mcp.alerts"
    revocations: str = "mcp.revocations"
    deadletter: str = "mcp.deadletter"
    charters: str = "mcp.charters"


@dataclass(slots=True)
class Outcome:
    """What one message (or one idle tick) produced.

    ``decisions`` (alerts and revocation commands) are also held in their
    agent's outbox (see :mod:`monitor.worker.store`) until the shell reports
    them delivered with :meth:`Processor.delivered`. ``notes`` (dead letters,
    charter broadcasts) carry no state: a redelivered message redoes them.
    """

    decisions: list[Record] = field(default_factory=list)
    notes: list[Record] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.decisions or self.notes)


class _Partition:
    __slots__ = ("engine", "last_wall", "last_watermark", "states")

    def __init__(self, engine: Engine, states: PartitionStates, anchor: float, now: float) -> None:
        self.engine = engine
        self.states = states
        self.last_watermark = anchor  # event time at the last activity ...
        self.last_wall = now  # ... and the wall clock then (for idle advance)


class Processor:
    def __init__(
        self,
        charters: CharterSet,
        settings: EngineSettings | None = None,
        topics: OutputTopics | None = None,
        *,
        idle_seconds: float = 0.0,
        metrics: WorkerMetrics | None = None,
        signer: CommandSigner | None = None,
        wall_clock: Callable[[], float] | None = time.time,
        ranker_file: Path | None = None,
    ) -> None:
        self.charters = charters
        # one feedback ranker for every partition this process owns (its verdicts come in on
        # all of them), kept in ranker_file (DATA_DIR) across restarts: see save_ranker
        self.ranker_file = ranker_file
        self.ranker: FeedbackRanker | None = None
        self._ranker_saved = 0  # ranker.changes at the last save
        # the ceiling of event time (max_future_seconds); None: no bound (unit tests)
        self.wall_clock = wall_clock
        # signed JSON when the monitor has a command key (monitor/signing.py), else contract v1
        self.encode_command = signer.encode if signer is not None else RevocationCommand.to_json
        self.settings = settings or EngineSettings()
        self.topics = topics or OutputTopics()
        self.idle_seconds = idle_seconds
        self.metrics = metrics  # Prometheus counters next to ``counters`` (None: none)
        self.partitions: dict[int, _Partition] = {}
        self.counters: Counter[str] = Counter()
        if self.settings.feedback_ranker:
            self.ranker = self._load_ranker()
        self._charters_applied_here: set[str] = set()

    # ------------------------------------------------------------ feedback ranker
    def _load_ranker(self) -> FeedbackRanker:
        """The ranker saved in ``ranker_file``, else a new one (an unreadable file is logged
        and counted, ``feedback_ranker_unreadable``: the ranker only annotates, so starting
        afresh loses annotations until 20 verdicts are in, never a finding)."""
        path = self.ranker_file
        if path is not None:
            try:
                ranker = FeedbackRanker.restore(path.read_bytes())
            except FileNotFoundError:
                pass
            except (OSError, ValueError) as err:
                self.counters["feedback_ranker_unreadable"] += 1
                log.warning("feedback_ranker_unreadable", path=str(path), error=str(err))
            else:
                self._ranker_saved = ranker.changes
                return ranker
        return FeedbackRanker(RankerSettings())

    def save_ranker(self) -> bool:
        """Write the ranker to ``ranker_file`` (0600, atomically) if it changed since the last
        save. The worker saves it before each commit of input offsets (``WorkerApp``'s
        flush): what the group has committed, the file holds, so a crash loses no verdict and
        no alert a later verdict names. (It was saved at most every 5 s, apart from the
        commits: a crash could lose a verdict for good, its event already committed.)"""
        ranker, path = self.ranker, self.ranker_file
        if ranker is None or path is None:
            return False
        if ranker.changes == self._ranker_saved:
            return False
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(ranker.snapshot())
            os.replace(tmp, path)
        except OSError as err:
            self.counters["feedback_ranker_save_failed"] += 1
            log.warning("feedback_ranker_save_failed", path=str(path), error=str(err))
            return False
        self._ranker_saved = ranker.changes
        return True

    # ------------------------------------------------------------ assignment
    def assign(
        self, partition: int, restored: Restored | Mapping[str, AgentState], now: float
    ) -> list[Record]:
        """Own ``partition`` with its restored agents (replacing any previous engine).

        Returns the outbox found in the table: outputs that may not have been
        delivered before the previous owner stopped, to publish again.
        """
        if not isinstance(restored, Restored):
            restored = Restored(dict(restored), {})
        live = PartitionStates(partition, restored.states, restored.outbox)
        # rebuilds timers from the states
        engine = Engine(self.charters, self.settings, live, ranker=self.ranker)
        last = max((st.last_ts for st in live.values()), default=float("-inf"))
        self.partitions[partition] = _Partition(
            engine, live, last - self.settings.allowed_lateness_seconds, now
        )
        self.counters["assigned"] += 1
        pending = [rec for recs in live.outbox.values() for rec in recs]
        self.counters["outbox_republished"] += len(pending)
        return pending

    def revoke(self, partition: int) -> None:
        if self.partitions.pop(partition, None) is not None:
            self.counters["revoked"] += 1

    def owns(self, partition: int) -> bool:
        return partition in self.partitions

    def engine(self, partition: int) -> Engine:
        return self.partitions[partition].engine

    # ------------------------------------------------------------ messages
    def handle(
        self,
        partition: int,
        offset: int,
        raw: bytes | None,
        key: bytes | None = None,
        *,
        topic: str = "",
        now: float = 0.0,
    ) -> Outcome:
        """Decode one message and run it through the partition's engine."""
        part = self.partitions[partition]
        engine = part.engine
        raw = b"" if raw is None else raw
        out = Outcome()
        try:
            event = decode_event(raw)
            if self.wall_clock is not None:
                engine.clock = self.wall_clock()
            decision = engine.process(event)
        except DecodeError as err:
            self._dead(out, raw, key, err.reason, err.field, topic, partition, offset)
            return out
        except Exception as err:
            reason = f"engine error: {type(err).__name__}: {err}"
            self._dead(out, raw, key, reason, None, topic, partition, offset)
            return out
        part.last_wall = now
        part.last_watermark = engine.watermark
        if decision.duplicate:
            self.counters["duplicates"] += 1
            if self.metrics is not None:
                self.metrics.duplicates.inc()
            return out
        self.counters["events"] += 1
        if self.metrics is not None:
            self.metrics.events.labels(event.type).inc()
        if type(event) is CharterUpdated and not _refused(decision):  # refused: keep it here
            self._charters_applied_here.add(event.event_id)
            pattern = str(event.charter.get("agent", ""))
            out.notes.append(Record(self.topics.charters, pattern.encode(), raw))
            if any(a.detector == UNSIGNED for a in decision.alerts):
                log.warning("charter_applied_unsigned", pattern=pattern, event_id=event.event_id)
        if decision:
            self._records(decision, out, part)
        return out

    def tick(self, now: float) -> list[tuple[int, Outcome]]:
        """Advance the event time of every partition idle for ``idle_seconds`` (wall clock).

        The only wall-clock input of the worker: a partition with no message for
        ``idle_seconds`` has its watermark moved to the event time of its last
        activity plus the wall time elapsed since, so timers (e.g. proactive
        revocation after a sponsor ended) fire when agents go quiet. Off when
        ``idle_seconds`` is 0.
        """
        if self.idle_seconds <= 0:
            return []
        fired = []
        for partition, part in self.partitions.items():
            elapsed = now - part.last_wall
            if elapsed < self.idle_seconds or part.last_watermark == float("-inf"):
                continue
            decision = part.engine.advance_watermark(part.last_watermark + elapsed)
            if decision:
                self.counters["idle_timer_decisions"] += 1
                out = Outcome()
                self._records(decision, out, part)
                fired.append((partition, out))
        return fired

    def flush(self, partition: int, write: Callable[[bytes, bytes], None]) -> int:
        """Write the partition's changed agents (``engine.dirty``) with ``write(key, value)``."""
        return self.write_agents(partition, self.take_dirty(partition), write)

    def take_dirty(self, partition: int) -> list[str]:
        """The partition's changed agents (``engine.dirty``), to write now with
        :meth:`write_agents`; agents changed after this go to the next one."""
        part = self.partitions.get(partition)
        if part is None or not part.engine.dirty:
            return []
        dirty = part.engine.dirty
        taken = list(dirty)
        dirty.clear()
        return taken

    def write_agents(
        self, partition: int, agent_ids: list[str], write: Callable[[bytes, bytes], None]
    ) -> int:
        """Write these agents of the partition (state and outbox as they are now) with
        ``write(key, value)``; 0 if the partition is no longer this worker's."""
        part = self.partitions.get(partition)
        if part is None:
            return 0
        self.counters["state_writes"] += len(agent_ids)
        return part.states.flush(agent_ids, write)

    def delivered(self, partition: int, rec: Record) -> None:
        """The broker acknowledged ``rec``: out of the outbox with the agent's next write."""
        part = self.partitions.get(partition)
        if part is None or rec.key is None:
            return
        agent_id = rec.key.decode()
        if part.states.release(agent_id, rec):
            part.engine.dirty.add(agent_id)

    def corrupt_state(self, bad: Corrupt, topic: str) -> Record:
        """The dead letter of a stored agent record that could not be read back.

        Found when a partition is assigned (:func:`~monitor.worker.store.load_partitions`);
        the agent starts from an empty state. ``topic`` is the changelog it came from.
        """
        self.counters["corrupt_state"] += 1
        # the error may quote stored data: redacted here too, not only in the record
        reason = DEFAULT_REDACTOR(f"corrupt agent state of agent {bad.agent_id!r}: {bad.reason}")
        log.warning(
            "agent_state_corrupt",
            agent=deadletter.clip(bad.agent_id, deadletter.MAX_FIELD_CHARS),
            partition=bad.partition,
            field=bad.field,
            detail="skipped; the agent starts from an empty state",
        )
        out = Outcome()
        self._dead(
            out, bad.raw, bad.agent_id.encode(), reason, bad.field, topic, bad.partition, None
        )
        return out.notes[0]

    # ------------------------------------------------------------ charter broadcast
    def apply_charter_broadcast(self, raw: bytes) -> bool:
        """Apply a charter update read from the broadcast topic; False if skipped.

        Updates this worker applied itself (it consumed the ``charter_updated``
        event) are skipped, so a later local update of the same pattern is not
        undone by the echo of an earlier one.
        """
        try:
            event = decode_event(raw)
        except DecodeError:
            self.counters["charter_broadcast_invalid"] += 1
            return False
        if type(event) is not CharterUpdated:
            self.counters["charter_broadcast_invalid"] += 1
            return False
        if event.event_id in self._charters_applied_here:
            self._charters_applied_here.discard(event.event_id)
            return False
        engine = Engine(self.charters, self.settings, {})  # applies to the shared CharterSet
        decision = engine.process(event)
        if decision.duplicate:  # the signed update in force already
            return False
        if _refused(decision):  # unsigned, forged, replayed, invalid: the previous one stays
            self.counters["charter_broadcast_invalid"] += 1
            (why,) = [a.clause.key for a in decision.alerts if a.detector == REJECTED]
            log.warning("charter_broadcast_refused", event_id=event.event_id, key=why)
            return False
        self.counters["charter_broadcast_applied"] += 1
        return True

    # ------------------------------------------------------------ internals
    def _records(self, decision: Decision, out: Outcome, part: _Partition) -> None:
        hold, dirty = part.states.hold, part.engine.dirty
        for a in decision.alerts:
            rec = Record(self.topics.alerts, a.agent_id.encode(), a.to_json())
            out.decisions.append(rec)
            hold(a.agent_id, rec)
            dirty.add(a.agent_id)
        for r in decision.revocations:
            rec = Record(self.topics.revocations, r.agent_id.encode(), self.encode_command(r))
            out.decisions.append(rec)
            hold(r.agent_id, rec)
            dirty.add(r.agent_id)
        self.counters["alerts"] += len(decision.alerts)
        self.counters["revocations"] += len(decision.revocations)
        if self.metrics is not None:
            m = self.metrics
            for a in decision.alerts:
                m.alerts.labels(a.detector).inc()
                m.alert_severities.labels(a.detector, a.severity).inc()
            for r in decision.revocations:
                m.revocations.labels(r.mode).inc()

    def _dead(
        self,
        out: Outcome,
        raw: bytes,
        key: bytes | None,
        reason: str,
        field_name: str | None,
        topic: str,
        partition: int | None,
        offset: int | None,
    ) -> None:
        self.counters["deadletter"] += 1
        if self.metrics is not None:
            self.metrics.deadletters.labels(deadletter.reason_class(reason)).inc()
        log.warning(
            "deadletter",
            reason=deadletter.clip(reason),
            field=None
            if field_name is None
            else deadletter.clip(field_name, deadletter.MAX_FIELD_CHARS),
            topic=topic,
            partition=partition,
            offset=offset,
            size=len(raw),
        )
        rec = deadletter.encode(
            raw, reason, field_name, topic=topic, partition=partition, offset=offset
        )
        out.notes.append(Record(self.topics.deadletter, deadletter.key(key), rec))


def _refused(decision: Decision) -> bool:
    """Was a charter update refused? (An applied one may raise alerts too: unsigned, widened.)"""
    return any(a.detector == REJECTED for a in decision.alerts)
