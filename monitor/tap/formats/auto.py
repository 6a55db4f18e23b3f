"""``--format auto``: recognise each line's format by its keys, then map it with that preset.

Logs get merged (a collector tailing several gateways into one file, or a
``kubectl logs`` of a mixed namespace), so the choice is made **per line**,
from cheap key checks in a fixed order — the most specific shapes first:

==============  ============================================================
format          a line is recognised by
==============  ============================================================
ours            ``type`` is one of our event types and ``event_id`` is set
jsonrpc         ``jsonrpc: "2.0"``
otel            ``resourceSpans``
toolhive        ``msg: audit_event`` (or ``audit_id`` + ``logged_at``)
teleport        ``event`` starting with ``mcp.`` and a ``uid``
mcpx            ``eventType`` and ``payload``
docker-audit    ``trigger`` and ``result``
agentgateway    ``scope`` and ``time`` with ``mcp.method.name`` or ``http.status``
==============  ============================================================

JSON-RPC wrapped in an envelope (``body:`` in the mapping) is recognised by
the body found there. A line no recogniser accepts is a dead letter (``format not recognised``,
with the line's first keys). Each format keeps its own state (the JSON-RPC
pairing window), so a mixed log pairs JSON-RPC as ``--format jsonrpc`` does.
The ``--mapping`` file applies to every format (its targets replace each
preset's defaults), so with ``auto`` it should only say what is common to all
sources — usually ``defaults:``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, ClassVar

from monitor.errors import DecodeError
from monitor.events import EVENT_TYPES
from monitor.tap.formats.agentgateway import AgentgatewayFormat
from monitor.tap.formats.base import Format, FormatContext
from monitor.tap.formats.docker_audit import DockerAuditFormat
from monitor.tap.formats.jsonrpc import JsonRpcFormat
from monitor.tap.formats.mcpx import McpxFormat
from monitor.tap.formats.otel import OtelFormat
from monitor.tap.formats.ours import OursFormat
from monitor.tap.formats.preset import PresetFormat, decode_object
from monitor.tap.formats.teleport import TeleportFormat
from monitor.tap.formats.toolhive import ToolHiveFormat
from monitor.tap.lines import Dead, Line, Output, Position


def _ours(doc: dict[str, Any]) -> bool:
    kind = doc.get("type")
    return isinstance(kind, str) and kind in EVENT_TYPES and "event_id" in doc


def _jsonrpc(doc: dict[str, Any]) -> bool:
    return doc.get("jsonrpc") == "2.0"


#: (name, recogniser, factory) in the order tried
RECOGNISERS: tuple[tuple[str, Callable[[dict[str, Any]], bool], Callable[..., Format]], ...] = (
    (OursFormat.name, _ours, OursFormat),
    (JsonRpcFormat.name, _jsonrpc, JsonRpcFormat),
    (OtelFormat.name, OtelFormat.recognise, OtelFormat),
    (ToolHiveFormat.name, ToolHiveFormat.recognise, ToolHiveFormat),
    (TeleportFormat.name, TeleportFormat.recognise, TeleportFormat),
    (McpxFormat.name, McpxFormat.recognise, McpxFormat),
    (DockerAuditFormat.name, DockerAuditFormat.recognise, DockerAuditFormat),
    (AgentgatewayFormat.name, AgentgatewayFormat.recognise, AgentgatewayFormat),
)


def detect(doc: dict[str, Any]) -> str | None:
    """The name of the first format whose recogniser accepts ``doc``, else ``None``."""
    for name, recognise, _ in RECOGNISERS:
        if recognise(doc):
            return name
    return None


class AutoFormat:
    name: ClassVar[str] = "auto"
    uses_mapping: ClassVar[bool] = True

    def __init__(self, ctx: FormatContext) -> None:
        self.ctx = ctx
        self._formats: dict[str, Format] = {}
        #: lines handed to each format (for tests and the curious)
        self.picked: Counter[str] = Counter()
        self._body = ctx.mapping.body if ctx.mapping is not None else None

    def _format(self, name: str) -> Format:
        fmt = self._formats.get(name)
        if fmt is None:
            factory = next(f for n, _, f in RECOGNISERS if n == name)
            ctx = replace(self.ctx, mapping=None) if name == OursFormat.name else self.ctx
            fmt = self._formats[name] = factory(ctx)
        return fmt

    def on_line(self, line: Line) -> Iterable[Output]:
        try:
            doc = decode_object(line.raw)
        except DecodeError as err:
            return (Dead(line, err.reason, err.field),)
        name = detect(doc)
        if name is None and self._body is not None:
            body = self._body.get(doc)
            if isinstance(body, dict) and _jsonrpc(body):
                name = JsonRpcFormat.name  # JSON-RPC wrapped where the mapping's body: says
        if name is None:
            keys = ", ".join(list(doc)[:6])
            return (Dead(line, f"format not recognised: no preset knows a line with keys {keys}"),)
        self.picked[name] += 1
        fmt = self._format(name)
        if isinstance(fmt, PresetFormat):
            return fmt.on_doc(line, doc)
        return fmt.on_line(line)

    def on_tick(self, now: float) -> Iterable[Output]:
        return [o for f in self._formats.values() for o in f.on_tick(now)]

    def on_eof(self) -> Iterable[Output]:
        return [o for f in self._formats.values() for o in f.on_eof()]

    def held_from(self) -> Position | None:
        held = [p for f in self._formats.values() if (p := f.held_from()) is not None]
        return min(held, key=lambda p: (p.generation, p.offset), default=None)
