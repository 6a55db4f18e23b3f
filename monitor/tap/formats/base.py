"""The one interface every log format implements, and the context it is built with.

A format is a plain object with four methods (bytewax-style: item, notify,
end, and what it still holds)::

    on_line(line)  -> outputs     # one line of the source
    on_tick(now)   -> outputs     # time passes (evict what waited too long)
    on_eof()       -> outputs     # no more input: flush whatever waits
    held_from()    -> Position | None   # oldest line it still holds

Formats that map each line on its own (most gateway logs) subclass
:class:`LineFormat` and write only ``map_line``. Formats that pair lines
(raw JSON-RPC) keep a :class:`~monitor.tap.pairing.PairingWindow` and report
its oldest position from ``held_from`` so the checkpoint never passes a line
whose event has not been emitted yet.

A format only maps: it never reads files, talks to Kafka or decides anything
about behaviour. Time comes in: ``Line.seen`` (monotonic, for windows) and
``FormatContext.clock`` (wall clock, only to stamp ``ts`` on events whose log
line has no time of its own).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

import orjson
from pydantic import ValidationError

from monitor.errors import DecodeError
from monitor.events import MAX_MESSAGE_BYTES, ToolCall, encode_event
from monitor.tap.lines import Dead, Line, Mapped, Output, Position
from monitor.tap.mapping import FieldMapping


def utc_now() -> datetime:
    """The tap's wall clock: used only to stamp ``ts`` when a log line carries none."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FormatContext:
    """Everything a format is built with; plain values from the settings object."""

    source: str = "stdin"  # label that goes into derived event ids
    mapping: FieldMapping | None = None  # the user's --mapping (laid over the preset's)
    clock: Callable[[], datetime] = utc_now
    window_requests: int = 10_000
    window_seconds: float = 60.0


class Format(Protocol):
    """One gateway log format. See the module docstring."""

    name: ClassVar[str]
    #: whether ``--mapping`` means anything to this format
    uses_mapping: ClassVar[bool]

    def on_line(self, line: Line) -> Iterable[Output]: ...

    def on_tick(self, now: float) -> Iterable[Output]: ...

    def on_eof(self) -> Iterable[Output]: ...

    def held_from(self) -> Position | None: ...


class LineFormat:
    """Base for formats that map every line on its own (nothing held, no timers)."""

    name: ClassVar[str] = ""
    uses_mapping: ClassVar[bool] = True

    def __init__(self, ctx: FormatContext) -> None:
        self.ctx = ctx

    def on_line(self, line: Line) -> Iterable[Output]:
        try:
            return (self.map_line(line),)
        except DecodeError as err:
            return (Dead(line, err.reason, err.field),)

    def map_line(self, line: Line) -> Output:
        raise NotImplementedError

    def on_tick(self, now: float) -> Iterable[Output]:
        return ()

    def on_eof(self) -> Iterable[Output]:
        return ()

    def held_from(self) -> Position | None:
        return None


# ---------------------------------------------------------------- helpers for formats
def derive_event_id(prefix: str, *parts: bytes | str) -> str:
    """A deterministic event id: the same source line gives the same id on every run.

    Downstream dedups by ``event_id``, so re-tapping a file (or resuming after
    a crash) never counts a call twice.
    """
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        b = part.encode() if isinstance(part, str) else part
        h.update(len(b).to_bytes(8, "big"))
        h.update(b)
    return f"{prefix}-{h.hexdigest()}"


def tool_call(fields: dict[str, Any]) -> ToolCall:
    """Validate mapped fields as a ``tool_call`` (pydantic at the edge); DecodeError names the field."""
    try:
        return ToolCall.model_validate(fields)
    except ValidationError as err:
        e = err.errors(include_url=False)[0]
        name = ".".join(str(p) for p in e["loc"]) or None
        more = len(err.errors()) - 1
        suffix = f" (and {more} more)" if more > 0 else ""
        raise DecodeError(f"{name}: {e['msg']}{suffix}" if name else e["msg"], name) from None


def mapped(
    call: ToolCall,
    lines: tuple[int, ...],
    note: str | None = None,
    update: dict[str, Any] | None = None,
) -> Mapped:
    """Encode ``call`` (with ``update`` applied: values the format computed itself, not input).

    Same bytes as :func:`~monitor.events.encode_event`, without copying the model.
    """
    if update:
        doc = call.model_dump(mode="json", exclude_none=True)
        doc.update(update)
        value = orjson.dumps(doc)
    else:
        value = encode_event(call)
    if len(value) > MAX_MESSAGE_BYTES:
        raise DecodeError(
            f"event of {len(value)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}", "args"
        )
    return Mapped(call.event_id, call.agent_id, value, lines, note)


def parse_ts(value: Any) -> datetime | str:
    """A logged time: ISO 8601 text with an offset, or an epoch number.

    Epoch units are told apart by size: seconds, milliseconds, microseconds or
    nanoseconds (``1.7e9``, ``1.7e12``, ``1.7e15``, ``1.7e18``). Text a gateway
    writes in another ISO 8601 spelling (``+0000``, no seconds) is read here,
    so the event leaves in the contract's RFC 3339; text without an offset, or
    digits, is passed on as is and refused by the contract (the event model).
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return parsed if parsed.tzinfo is not None else value
    if isinstance(value, int | float) and not isinstance(value, bool):
        v = float(value)
        for scale in (1e9, 1e6, 1e3):
            if abs(v) >= scale * 1e8:  # beyond year 5138 in the smaller unit
                v /= scale
                break
        try:
            return datetime.fromtimestamp(v, UTC)
        except (OverflowError, OSError, ValueError):
            raise DecodeError(f"ts: epoch value {value!r} is out of range", "ts") from None
    raise DecodeError(f"ts: expected RFC 3339 text or an epoch number, got {value!r}", "ts")
