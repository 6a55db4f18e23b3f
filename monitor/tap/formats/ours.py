"""``--format ours``: lines already in our event contract (``mcp.events`` v1).

Validated with :func:`monitor.events.decode_event` and passed through as
they are — same bytes, same ``event_id`` — keyed by ``agent_id``. Every
event type of the contract passes (tool calls and lifecycle), so a log
written by our own tooling (``mcpmon simulate``, a gateway plugin) can be
tapped unchanged.
"""

from __future__ import annotations

from typing import ClassVar

from monitor.events import decode_event
from monitor.tap.formats.base import LineFormat
from monitor.tap.lines import Line, Mapped, Output


class OursFormat(LineFormat):
    name: ClassVar[str] = "ours"
    uses_mapping: ClassVar[bool] = False

    def map_line(self, line: Line) -> Output:
        raw = line.raw.strip()
        event = decode_event(raw)  # raises DecodeError naming the field
        return Mapped(event.event_id, event.agent_id, raw, (line.number,))
