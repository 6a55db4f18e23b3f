"""The tap's loop: read lines, let the format map them, deliver in batches, checkpoint.

A thin shell: all mapping is in the format, all I/O in the source and writer.
What this module owns is the order of things that makes delivery
at-least-once without loss:

1. every output of a line is queued before the next line is read;
2. a batch is cut when it is full, when the oldest record in it has waited
   ``linger_seconds``, when the source has nothing more for now, or at the end;
3. when a batch is cut, the *mark* is taken: the position before the oldest
   line the format still holds (a request awaiting its response) or else
   after the last line read — everything before the mark is in this batch
   or an earlier one;
4. the checkpoint is written with that mark only after the writer confirmed
   the batch (and every batch before it). One batch stays in flight while
   the next is mapped.

A stop request (SIGTERM, SIGINT) ends the loop at the next line: the batch so
far is delivered and checkpointed, requests still waiting for a response are
not emitted (the checkpoint stays before them; the next run re-reads them).
At the end of input without ``--follow`` they are emitted with
``outcome: unknown``.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import structlog

from monitor import deadletter
from monitor.heartbeat import Heartbeat
from monitor.tap.checkpoint import Checkpoint, CheckpointFile
from monitor.tap.exceptions import DeliveryError
from monitor.tap.formats import Format
from monitor.tap.lines import Dead, Line, Mapped, Output, Position, Skipped
from monitor.tap.reader import MAX_LINE_BYTES, LineSource
from monitor.tap.writers import Record, Writer

log = structlog.get_logger("monitor.tap")

#: Dead letters carry at most this much of the raw line (plus its size and hash).
DEADLETTER_MAX_RAW = MAX_LINE_BYTES


@dataclass(frozen=True, slots=True)
class TapOptions:
    source: str  # label in derived event ids and dead letters
    format: str
    follow: bool = False
    batch_records: int = 500
    linger_seconds: float = 0.2
    poll_seconds: float = 0.25
    heartbeat_file: str = ""  # MCPMON_HEARTBEAT_FILE: rewritten while the loop turns


@dataclass(slots=True)
class TapSummary:
    """What a run did; every line read is in exactly one of mapped / dead-lettered / skipped."""

    lines: int = 0
    events: int = 0
    unpaired: Counter[str] = field(default_factory=Counter)  # events with outcome unknown, why
    deadletters: Counter[str] = field(default_factory=Counter)  # by reason class
    skipped: Counter[str] = field(default_factory=Counter)
    delivered_events: int = 0
    delivered_deadletters: int = 0
    checkpoints: int = 0
    resumed_at_line: int | None = None
    target: str = ""
    seconds: float = 0.0

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "events": self.events,
            "events_unpaired": dict(self.unpaired.most_common()),
            "deadletters": sum(self.deadletters.values()),
            "deadletter_reasons": dict(self.deadletters.most_common()),
            "skipped": dict(self.skipped.most_common()),
            "delivered": {
                "events": self.delivered_events,
                "deadletters": self.delivered_deadletters,
            },
            "checkpoints": self.checkpoints,
            "resumed_at_line": self.resumed_at_line,
            "target": self.target,
            "seconds": round(self.seconds, 3),
            "lines_per_second": round(self.lines_per_second),
        }

    def render(self) -> str:
        w = [
            f"lines read  {self.lines:>10,}"
            + (f"  (resumed at line {self.resumed_at_line:,})" if self.resumed_at_line else "")
        ]
        w.append(f"events      {self.events:>10,}")
        w += [f"  outcome unknown: {n:,} × {why}" for why, n in self.unpaired.most_common()]
        w.append(f"dead letters{sum(self.deadletters.values()):>10,}")
        w += [f"  {n:,} × {why}" for why, n in self.deadletters.most_common()]
        w.append(f"skipped     {sum(self.skipped.values()):>10,}")
        w += [f"  {n:,} × {why}" for why, n in self.skipped.most_common(8)]
        w.append(
            f"delivered   {self.delivered_events:>10,} events, {self.delivered_deadletters:,} "
            f"dead letters to {self.target}"
        )
        w.append(f"elapsed     {self.seconds:>10.2f} s  ({self.lines_per_second:,.0f} lines/s)")
        return "\n".join(w)


@dataclass(frozen=True, slots=True)
class _Mark:
    safe: Position  # the checkpoint: resume here
    delivered: int  # end offset of the last line read
    generation: int
    events: int
    deadletters: int


class _Progress:
    """A one-line progress display on stderr, only when it is a terminal."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream if stream is not None and stream.isatty() else None
        self.next = 0.0

    def tick(self, s: TapSummary, elapsed: float) -> None:
        now = time.monotonic()
        if self.stream is None or now < self.next:
            return
        self.next = now + 0.5
        rate = s.lines / elapsed if elapsed > 0 else 0
        self.stream.write(
            f"\r{s.lines:,} lines  {s.events:,} events  {sum(s.deadletters.values()):,} dead  "
            f"{s.delivered_events:,} delivered  {rate:,.0f} lines/s "
        )
        self.stream.flush()

    def done(self) -> None:
        if self.stream is not None and self.next:
            self.stream.write("\n")


class Tap:
    def __init__(
        self,
        source: LineSource,
        fmt: Format,
        writer: Writer,
        options: TapOptions,
        *,
        checkpoints: CheckpointFile | None = None,
        progress: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        resumed_after: int | None = None,
    ) -> None:
        """``resumed_after``: lines before the checkpoint this run resumed from, if any."""
        self.source = source
        self.fmt = fmt
        self.writer = writer
        self.opts = options
        self.checkpoints = checkpoints
        self.clock = clock
        self.summary = TapSummary(target=writer.target)
        self._progress = _Progress(progress)
        self._records: list[Record] = []
        self._first_at = 0.0
        self._last: Line | None = None
        self._last_mark: Position | None = None
        self._inflight: tuple[Awaitable[None], _Mark] | None = None
        self._stopping = False
        self._n_events = 0  # records queued so far, by kind (delivered counts follow marks)
        self._n_dead = 0
        self._saved = resumed_after or 0  # lines before the last checkpoint (for messages)
        if resumed_after is not None:
            self.summary.resumed_at_line = resumed_after + 1

    def stop(self) -> None:
        """Ask the loop to finish: deliver and checkpoint what was read, then return."""
        self._stopping = True

    async def run(self) -> TapSummary:
        start = self.clock()
        await self.writer.start()
        try:
            await self._loop(start)
            await self._flush()
            await self._settle()
        finally:
            self.summary.seconds = self.clock() - start
            self._progress.done()
            await self.writer.stop()
            self.source.close()
        return self.summary

    async def _loop(self, start: float) -> None:
        opts, source, fmt = self.opts, self.source, self.fmt
        heartbeat = Heartbeat(opts.heartbeat_file)
        while not self._stopping:
            heartbeat.beat()  # the loop turns: health checks see the file's age
            line = source.read()
            if line is not None:
                self._line(line)
                if len(self._records) >= opts.batch_records or (
                    self._records and self.clock() - self._first_at >= opts.linger_seconds
                ):
                    await self._flush()
                if self.summary.lines & 0x3FF == 0:
                    now = self.clock()
                    self._emit(fmt.on_tick(now))
                    self._progress.tick(self.summary, now - start)
                continue
            self._emit(fmt.on_tick(self.clock()))
            if source.finished:
                self._emit(fmt.on_eof())
                return
            await self._flush()
            await self._settle()  # idle: confirm and checkpoint before waiting
            self._progress.tick(self.summary, self.clock() - start)
            await source.wait(opts.poll_seconds)

    # ------------------------------------------------------------ lines and outputs
    def _line(self, line: Line) -> None:
        self.summary.lines += 1
        self._last = line
        if line.oversize is not None:
            too_long = f"line of {line.oversize} bytes exceeds the limit of {MAX_LINE_BYTES}"
            self._emit([Dead(line, too_long)])
        elif not line.raw.strip():
            self.summary.skipped["blank line"] += 1
        else:
            self._emit(self.fmt.on_line(line))

    def _emit(self, outputs: Iterable[Output]) -> None:
        for o in outputs:
            if isinstance(o, Mapped):
                self._queue(Record("event", o.agent_id.encode(), o.value))
                self.summary.events += 1
                self._n_events += 1
                if o.note:
                    self.summary.unpaired[o.note] += 1
            elif isinstance(o, Dead):
                self._queue(Record("deadletter", self.opts.source.encode(), self._dead(o)))
                self.summary.deadletters[deadletter.reason_head(o.reason)] += 1
                self._n_dead += 1
                log.debug("deadletter", line=o.line.number, reason=o.reason, field=o.field)
            elif isinstance(o, Skipped):
                self.summary.skipped[o.reason] += 1

    def _queue(self, record: Record) -> None:
        if not self._records:
            self._first_at = self.clock()
        self._records.append(record)

    def _dead(self, d: Dead) -> bytes:
        raw = d.line.raw
        where: dict[str, Any] = {
            "source": self.opts.source,
            "format": self.opts.format,
            "line": d.line.number,
            "offset": d.line.offset,
        }
        if d.line.generation:
            where["generation"] = d.line.generation
        length = sha256 = None
        if d.line.oversize is not None or len(raw) > DEADLETTER_MAX_RAW:
            length = d.line.oversize or len(raw)
            if d.line.oversize is None:
                sha256 = hashlib.sha256(raw).hexdigest()
            raw = raw[:DEADLETTER_MAX_RAW]
        if d.extra:
            where.update(d.extra)
        return deadletter.encode(raw, d.reason, d.field, length=length, sha256=sha256, **where)

    # ------------------------------------------------------------ delivery and checkpoints
    def _mark(self) -> _Mark | None:
        last = self._last
        if last is None:
            return None
        held = self.fmt.held_from()
        safe = held if held is not None else last.after
        return _Mark(safe, last.end, last.generation, self._n_events, self._n_dead)

    async def _flush(self) -> None:
        """Cut a batch: queue it on the writer; confirm (and checkpoint) the one before it."""
        mark = self._mark()  # None: no line read yet, so nothing to send either
        if mark is None or (not self._records and mark.safe == self._last_mark):
            return
        records, self._records = self._records, []
        done = await self.writer.send(records)
        await self._settle()
        self._inflight = (done, mark)
        self._last_mark = mark.safe

    async def _settle(self) -> None:
        """Wait until the batch in flight is durable; then, and only then, checkpoint it."""
        if self._inflight is None:
            return
        done, mark = self._inflight
        self._inflight = None
        try:
            await done
        except DeliveryError as err:
            where = (
                f"the checkpoint stays before line {self._saved + 1}"
                if self.checkpoints is not None
                else "nothing was checkpointed"
            )
            raise DeliveryError(f"{err}; {where}, where a restart resumes") from None
        self.summary.delivered_events = mark.events
        self.summary.delivered_deadletters = mark.deadletters
        self._checkpoint(mark)

    def _checkpoint(self, mark: _Mark) -> None:
        if self.checkpoints is None:
            return
        if (
            mark.safe.generation != self.source.generation
            or mark.generation != mark.safe.generation
        ):
            return  # still holding lines of a rotated-away file: keep the older checkpoint
        ident = self.source.identity()
        if ident is None:
            return
        self.checkpoints.save(
            Checkpoint(
                source=self.opts.source,
                target=self.writer.target,
                file=ident,
                offset=mark.safe.offset,
                lines_before=mark.safe.lines_before,
                delivered=mark.delivered,
            )
        )
        self.summary.checkpoints += 1
        self._saved = mark.safe.lines_before
