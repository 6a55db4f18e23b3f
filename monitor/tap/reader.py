"""Where lines come from: a file (optionally followed like ``tail -F``) or stdin.

:class:`FileSource` tracks the byte offset of every line so a checkpoint can
say exactly where to resume. In follow mode it never returns half a line:
an unterminated tail waits for its line break. At end of file it checks
whether the path now names another file (rotation: drain the old one, then
open the new one from its start) or whether the file shrank (truncation,
e.g. ``copytruncate``: start again at 0). Each such switch starts a new
*generation*: offsets of different generations are not comparable.

A line longer than the limit is not kept in memory: its head is returned
with ``oversize`` set to its full length (it becomes a dead letter).

:class:`StdinSource` reads stdin on a thread, so a slow pipe never blocks the
event loop that delivers batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import structlog

from monitor.events import MAX_MESSAGE_BYTES
from monitor.linereader import read_line as _next_line
from monitor.tap.exceptions import TapError
from monitor.tap.lines import Line

log = structlog.get_logger("monitor.tap")

#: Longest line kept whole; longer ones are dead-lettered with their head.
MAX_LINE_BYTES = MAX_MESSAGE_BYTES
#: How many leading bytes identify a file beside its inode (truncated and rewritten files).
HEAD_BYTES = 256


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """Which file an offset belongs to: device, inode and a hash of its first bytes."""

    dev: int
    ino: int
    head_len: int
    head_sha: str

    @classmethod
    def of(cls, fd: int, head_len: int = HEAD_BYTES) -> FileIdentity:
        st = os.fstat(fd)
        head = os.pread(fd, head_len, 0)
        return cls(st.st_dev, st.st_ino, len(head), hashlib.sha256(head).hexdigest())

    def matches(self, fd: int) -> bool:
        return FileIdentity.of(fd, self.head_len) == self


class LineSource(Protocol):
    """What the tap reads from. ``read`` never blocks for long."""

    generation: int

    @property
    def finished(self) -> bool:
        """No line will ever come again (end of input, not following)."""
        ...

    def read(self) -> Line | None:
        """The next complete line, or ``None`` when none is available now."""
        ...

    async def wait(self, seconds: float) -> None:
        """Until a line may be available, at most ``seconds``."""
        ...

    def identity(self) -> FileIdentity | None:
        """The current file's identity (``None``: not a file, no checkpoint)."""
        ...

    def close(self) -> None: ...


class FileSource:
    """Lines of the file at ``path``, from ``offset``; ``follow`` keeps reading as it grows."""

    def __init__(
        self,
        path: str,
        *,
        follow: bool = False,
        offset: int = 0,
        lines_before: int = 0,
        replay_until: int = 0,
        clock: Callable[[], float] = time.monotonic,
        max_line: int = MAX_LINE_BYTES,
    ) -> None:
        self.path = path
        self.follow = follow
        self.clock = clock
        self.max_line = max_line
        self.generation = 0
        self.replay_until = replay_until
        self._finished = False
        self._rotating = False
        self._f: BinaryIO | None = None
        self._ident: tuple[int, int] | None = None
        self._pos = offset
        self._lines = lines_before
        self._head: FileIdentity | None = None
        if not self._open(offset) and not follow:
            raise TapError(f"source file not found: {path}")

    @property
    def finished(self) -> bool:
        return self._finished

    def _open(self, offset: int) -> bool:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed in _switch/close
        except FileNotFoundError:
            return False
        except OSError as err:
            raise TapError(f"cannot read {self.path}: {err.strerror or err}") from None
        st = os.fstat(f.fileno())
        self._f, self._ident, self._head = f, (st.st_dev, st.st_ino), None
        f.seek(offset)
        self._pos = offset
        return True

    def read(self) -> Line | None:
        while True:
            f = self._f
            if f is None:
                if not self._open(0) or self._f is None:
                    return None  # following a path that does not exist (yet)
                f = self._f
                log.info("source_opened", path=self.path, generation=self.generation)
            start = self._pos
            raw, used, oversize, terminated = _next_line(f, self.max_line)
            if terminated or oversize is not None:
                return self._line(raw, start, used, oversize)
            # end of file; ``raw`` may be an unterminated tail
            if not self.follow or self._rotating:
                if raw:
                    return self._line(raw, start, used, None)  # the last line has no break
                if not self.follow:
                    self._finished = True
                    return None
                self._switch("rotated")
                continue
            if raw:
                f.seek(start)  # wait for the rest of the line
            if self._check_rotation():
                continue
            return None

    def _check_rotation(self) -> bool:
        """At end of file: has the path been rotated or the file truncated? (``True``: read on.)"""
        f = self._f
        if f is None:
            return False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False  # moved away, the new one not created yet: keep the old one open
        if (st.st_dev, st.st_ino) != self._ident:
            self._rotating = True  # drain what was appended to the old file, then switch
            return True
        if os.fstat(f.fileno()).st_size < self._pos:
            log.info("source_truncated", path=self.path, offset=self._pos)
            f.seek(0)
            self._new_generation(0)
            return True
        return False

    def _switch(self, why: str) -> None:
        if self._f is not None:
            self._f.close()
        log.info("source_" + why, path=self.path, offset=self._pos, lines=self._lines)
        self._f = None
        self._rotating = False
        self._new_generation(0)

    def _new_generation(self, offset: int) -> None:
        self.generation += 1
        self._pos, self._lines, self._head = offset, 0, None
        self.replay_until = 0

    def _line(self, raw: bytes, start: int, used: int, oversize: int | None) -> Line:
        self._pos = start + used
        self._lines += 1
        return Line(
            raw,
            self._lines,
            start,
            self._pos,
            self.clock(),
            self.generation,
            self._pos <= self.replay_until,
            oversize,
        )

    async def wait(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def identity(self) -> FileIdentity | None:
        if self._f is None:
            return None
        if self._head is None or self._head.head_len < HEAD_BYTES:
            self._head = FileIdentity.of(self._f.fileno())
        return self._head

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class StdinSource:
    """Lines of a binary stream (stdin) read on a daemon thread into a bounded queue."""

    generation = 0

    def __init__(
        self,
        stream: BinaryIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_line: int = MAX_LINE_BYTES,
        buffer_lines: int = 10_000,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdin.buffer
        self.clock = clock
        self.max_line = max_line
        # (line, bytes consumed, full size if over-long); None marks the end of input
        self._q: queue.Queue[tuple[bytes, int, int | None] | None] = queue.Queue(buffer_lines)
        self._finished = False
        self._pos = 0
        self._lines = 0
        threading.Thread(target=self._pump, name="mcpmon-tap-stdin", daemon=True).start()

    def _pump(self) -> None:
        try:
            while True:
                raw, used, oversize, _ = _next_line(self.stream, self.max_line)
                if used == 0:
                    break
                self._q.put((raw, used, oversize))
        except (OSError, ValueError) as err:  # closed or broken pipe: end of input
            log.warning("stdin_error", error=str(err))
        finally:
            self._q.put(None)

    @property
    def finished(self) -> bool:
        return self._finished

    def read(self) -> Line | None:
        if self._finished:
            return None
        try:
            item = self._q.get_nowait()
        except queue.Empty:
            return None
        if item is None:
            self._finished = True
            return None
        raw, used, oversize = item
        start = self._pos
        self._pos += used
        self._lines += 1
        return Line(raw, self._lines, start, self._pos, self.clock(), 0, False, oversize)

    async def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._q.empty() and time.monotonic() < deadline:
            await asyncio.sleep(min(0.01, seconds))

    def identity(self) -> FileIdentity | None:
        return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stream.close()
