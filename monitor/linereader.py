"""Reading lines with a bounded memory: a line longer than the limit is never held whole.

Shared by the tap (:mod:`monitor.tap.reader`) and ``mcpmon replay``. A line
over ``max_line`` bytes is consumed in 64 KiB chunks: only its head is kept,
with its full length (and, on request, the SHA-256 of the whole), so one
100 MB line costs about ``max_line`` bytes of memory, not 100 MB — and it
becomes a dead letter (:mod:`monitor.deadletter`), never an event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

__all__ = ["CHUNK_BYTES", "Oversize", "bounded_lines", "read_line"]

#: How much of an over-long line is read at a time while skipping it.
CHUNK_BYTES = 1 << 16


def read_line(
    f: BinaryIO, max_line: int, digest: Any = None
) -> tuple[bytes, int, int | None, bool]:
    """``(line without its break, bytes consumed, full size if over-long, terminated)``.

    ``digest`` (a :mod:`hashlib` object), if given, is fed the whole of an
    over-long line (without its line break) while it is skipped.
    """
    raw = f.readline(max_line + 1)
    if raw.endswith(b"\n"):
        return raw.rstrip(b"\r\n"), len(raw), None, True
    if len(raw) <= max_line:
        return raw, len(raw), None, False  # end of input, maybe an unterminated tail
    if digest is not None:
        digest.update(raw)
    return _skip_rest(f, raw, max_line, digest)


def _skip_rest(f: BinaryIO, raw: bytes, max_line: int, digest: Any) -> tuple[bytes, int, int, bool]:
    """Skip the rest of an over-long line whose first ``raw`` bytes were read (and digested)."""
    total = len(raw)
    while True:
        chunk = f.readline(CHUNK_BYTES)
        total += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            ended = bool(chunk)
            if digest is not None and chunk:
                digest.update(chunk[:-1] if ended else chunk)
            return raw[:max_line], total, total - ended, ended
        if digest is not None:
            digest.update(chunk)


@dataclass(frozen=True, slots=True)
class Oversize:
    """A line longer than the limit: its ``head``, full ``length`` and ``sha256``."""

    head: bytes
    length: int
    sha256: str


def bounded_lines(f: BinaryIO, max_line: int) -> Iterator[bytes | Oversize]:
    """Every line of ``f`` (without its break), an :class:`Oversize` for each over-long one.

    The common line costs one buffered ``readline``: the hot loop of ``mcpmon
    replay``, so no digest or tuple is made for a line that fits.
    """
    readline = f.readline
    limit = max_line + 1
    while True:
        raw = readline(limit)
        if raw.endswith(b"\n"):
            yield raw.rstrip(b"\r\n")
        elif len(raw) <= max_line:
            if raw:
                yield raw  # an unterminated last line
            return
        else:
            digest = hashlib.sha256()
            digest.update(raw)
            head, _, length, _ = _skip_rest(f, raw, max_line, digest)
            yield Oversize(head, length, digest.hexdigest())
