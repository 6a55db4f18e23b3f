"""What flows through the tap: lines in, outputs out.

A format (:mod:`monitor.tap.formats`) turns each :class:`Line` into zero or
more outputs: :class:`Mapped` (an event for ``mcp.events``), :class:`Dead`
(a dead letter with the reason) or :class:`Skipped` (a line that is valid but
not a tool call, e.g. a JSON-RPC ``initialize``; counted, never produced).
Every line read ends up in exactly one of them, so a run's summary accounts
for every line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Position:
    """A point in the source: byte ``offset`` with ``lines_before`` complete lines before it.

    ``generation`` counts rotations/truncations seen by this run (offsets of
    different generations belong to different files and are not comparable).
    """

    generation: int
    offset: int
    lines_before: int


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the source, without its line break.

    ``seen`` is the tap's monotonic clock when the line was read (pairing
    windows age by it). ``replayed`` marks lines that a previous run already
    read and delivered outputs for (the overlap re-read after a restart).
    ``oversize`` is the full length of a line longer than the limit; ``raw``
    then holds only its head.
    """

    raw: bytes
    number: int
    offset: int
    end: int
    seen: float = 0.0
    generation: int = 0
    replayed: bool = False
    oversize: int | None = None

    @property
    def start(self) -> Position:
        return Position(self.generation, self.offset, self.number - 1)

    @property
    def after(self) -> Position:
        return Position(self.generation, self.end, self.number)


@dataclass(frozen=True, slots=True)
class Mapped:
    """An event ready for ``mcp.events``: encoded JSON keyed by ``agent_id``.

    ``lines`` are the line numbers it was made from (request and response);
    ``note`` says why it is incomplete, e.g. no response within the window.
    """

    event_id: str
    agent_id: str
    value: bytes
    lines: tuple[int, ...]
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Dead:
    """A line that could not be mapped, with the reason and the offending field."""

    line: Line
    reason: str
    field: str | None = None
    extra: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A valid line that is not a tool call (counted by ``reason``, not produced)."""

    line: Line
    reason: str


Output = Mapped | Dead | Skipped
