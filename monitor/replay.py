"""The embedded replay runner: a JSONL file in, alerts and revocations out, no Kafka.

A thin shell: it decodes lines, hands events to the one :class:`Engine`, and
writes what comes out. Bad lines never stop a run and are never lost: each goes
to ``deadletter.jsonl`` with its line number, the reason, its length, digest and
head (:mod:`monitor.deadletter`), and is counted in the summary. Lines are read
with a bounded memory (:mod:`monitor.linereader`): one longer than the message
limit is skipped in chunks, never held whole, and dead-lettered.
"""

from __future__ import annotations

import gzip
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from monitor import deadletter
from monitor.core import Decision, Engine
from monitor.errors import DecodeError, MonitorError
from monitor.events import MAX_MESSAGE_BYTES, decode_event
from monitor.linereader import Oversize, bounded_lines
from monitor.output_contracts import RevocationCommand


@dataclass(slots=True)
class ReplaySummary:
    lines: int = 0
    events: int = 0
    duplicates: int = 0
    bad_lines: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    revocations: Counter[str] = field(default_factory=Counter)  # by mode
    deadletter_reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "events": self.events,
            "duplicates": self.duplicates,
            "bad_lines": self.bad_lines,
            "alerts": dict(sorted(self.alerts.items())),
            "alerts_total": sum(self.alerts.values()),
            "revocations": dict(sorted(self.revocations.items())),
            "revocations_total": sum(self.revocations.values()),
            "deadletter_reasons": dict(self.deadletter_reasons.most_common(10)),
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second),
        }

    def render(self) -> str:
        w = [
            f"events      {self.events:>10,}  ({self.lines:,} lines, {self.duplicates:,} duplicates dropped)",
            f"bad lines   {self.bad_lines:>10,}  (written to deadletter.jsonl)",
            f"alerts      {sum(self.alerts.values()):>10,}",
        ]
        w += [f"  {d:<24}{n:>8,}" for d, n in sorted(self.alerts.items())]
        w.append(f"revocations {sum(self.revocations.values()):>10,}")
        w += [f"  {m:<24}{n:>8,}" for m, n in sorted(self.revocations.items())]
        for reason, n in self.deadletter_reasons.most_common(5):
            w.append(f"  dead-letter: {n:,} × {reason}")
        w.append(f"elapsed     {self.seconds:>10.2f} s  ({self.events_per_second:,.0f} events/s)")
        return "\n".join(w)


class _Progress:
    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream if stream is not None and stream.isatty() else None
        self.next = 0.0

    def tick(self, s: ReplaySummary, start: float) -> None:
        now = time.monotonic()
        if self.stream is None or now < self.next:
            return
        self.next = now + 0.5
        rate = s.events / (now - start) if now > start else 0
        self.stream.write(
            f"\r{s.lines:,} lines  {sum(s.alerts.values()):,} alerts  "
            f"{sum(s.revocations.values()):,} revocations  {s.bad_lines:,} bad  {rate:,.0f}/s "
        )
        self.stream.flush()

    def done(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")


def replay_lines(
    lines: Iterable[bytes | Oversize],
    engine: Engine,
    alerts_out: IO[bytes],
    revocations_out: IO[bytes],
    deadletter_out: IO[bytes],
    progress: IO[str] | None = None,
    encode_command: Callable[[RevocationCommand], bytes] = RevocationCommand.to_json,
) -> ReplaySummary:
    """``lines``: raw lines, or :class:`~monitor.linereader.Oversize` for one too long to hold.

    ``encode_command``: e.g. :meth:`monitor.signing.CommandSigner.encode` to sign commands.
    """
    s = ReplaySummary()
    bar = _Progress(progress)
    start = time.monotonic()

    def emit(decision: Decision) -> None:
        for a in decision.alerts:
            alerts_out.write(a.to_json() + b"\n")
            s.alerts[a.detector] += 1
        for r in decision.revocations:
            revocations_out.write(encode_command(r) + b"\n")
            s.revocations[r.mode] += 1

    for n, line in enumerate(lines, 1):
        s.lines = n
        if isinstance(line, Oversize):
            too_long = f"message of {line.length} bytes exceeds the limit of {MAX_MESSAGE_BYTES}"
            _dead(s, deadletter_out, line.head, too_long, None, n, line.length, line.sha256)
            continue
        raw = line.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            event = decode_event(raw)
            engine.clock = time.time()  # the ceiling of event time (max_future_seconds)
            decision: Decision = engine.process(event)
        except DecodeError as err:
            _dead(s, deadletter_out, raw, err.reason, err.field, n)
            continue
        except Exception as err:
            _dead(s, deadletter_out, raw, f"engine error: {type(err).__name__}: {err}", None, n)
            continue
        if decision.duplicate:
            s.duplicates += 1
            continue
        s.events += 1
        emit(decision)
        if n & 0x3FF == 0:
            bar.tick(s, start)
    emit(engine.drain())  # events held for reordering (--lateness): no later event will come
    s.seconds = time.monotonic() - start
    bar.done()
    return s


def _dead(
    s: ReplaySummary,
    out: IO[bytes],
    raw: bytes,
    reason: str,
    fld: str | None,
    n: int,
    length: int | None = None,
    sha256: str | None = None,
) -> None:
    s.bad_lines += 1
    s.deadletter_reasons[deadletter.reason_head(reason)] += 1
    rec = deadletter.encode(raw, reason, fld, length=length, sha256=sha256, line=n)
    out.write(rec + b"\n")


def read_lines(path: str, max_line: int = MAX_MESSAGE_BYTES) -> Iterator[bytes | Oversize]:
    """The lines of ``path`` (``-``: stdin); one over ``max_line`` bytes as :class:`Oversize`."""
    name = "stdin" if path == "-" else path
    with open(path, "rb") if path != "-" else _no_close(sys.stdin.buffer) as f:
        n = 0
        try:
            for n, line in enumerate(bounded_lines(_maybe_gunzip(f), max_line), 1):  # noqa: B007
                yield line
        except (EOFError, gzip.BadGzipFile, zlib.error) as err:
            raise MonitorError(f"{name}: gzip stream broken after line {n}: {err}") from None


@contextmanager
def _no_close(f: BinaryIO) -> Iterator[BinaryIO]:
    yield f


def _maybe_gunzip(f: BinaryIO) -> BinaryIO:
    """``f`` itself, or its decompressed stream when it starts with gzip's magic bytes.

    By content, not by name: ``events.jsonl.gz``, ``<(zcat ...)`` and a
    gzip'd stdin all work (a ``.gz`` file was once read as nine lines of
    "not JSON"). Lines stay bounded by :func:`bounded_lines` after
    decompression, so a bomb is just a long file.
    """
    peek = getattr(f, "peek", None)
    head = peek(2)[:2] if peek is not None else b""
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f


def replay_file(
    events: str,
    engine: Engine,
    out_dir: str | Path,
    progress: IO[str] | None = None,
    encode_command: Callable[[RevocationCommand], bytes] = RevocationCommand.to_json,
    revocations: str | Path | None = None,
    deadletter: str | Path | None = None,
) -> ReplaySummary:
    """Replay ``events`` (a path or ``-``) and write the three outputs.

    ``out_dir`` is a directory (``alerts.jsonl``, ``revocations.jsonl``,
    ``deadletter.jsonl`` in it), or ``-``: alerts on stdout, for a pipe into
    ``mcpmon sink --from-file -``; the other two then need their own paths
    (``revocations``, ``deadletter``), since nothing replay finds is dropped.
    ``revocations`` / ``deadletter`` also override the directory's files.
    """
    if str(out_dir) == "-":
        if revocations is None or deadletter is None:
            raise MonitorError(
                "--out - writes the alerts to stdout: give --revocations FILE and "
                "--deadletter FILE for the other two outputs"
            )
        with open(revocations, "wb") as r, open(deadletter, "wb") as d:
            a = sys.stdout.buffer
            return replay_lines(read_lines(events), engine, a, r, d, progress, encode_command)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (
        open(out / "alerts.jsonl", "wb") as a,
        open(revocations or out / "revocations.jsonl", "wb") as r,
        open(deadletter or out / "deadletter.jsonl", "wb") as d,
    ):
        return replay_lines(read_lines(events), engine, a, r, d, progress, encode_command)
