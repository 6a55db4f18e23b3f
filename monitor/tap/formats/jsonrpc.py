"""``--format jsonrpc``: raw MCP JSON-RPC ``tools/call`` bodies, request and response apart.

See ``gateway-logs/jsonrpc/FORMAT.md``. A request waits in a pairing window
until the response with the same JSON-RPC ``id`` (and session) arrives; the
pair becomes one ``tool_call``:

============  ==============================================================
ours          from
============  ==============================================================
event_id      hash of source label, session, ``id`` and the raw request line
ts            mapping ``ts`` path, else the tap's wall clock at the request
agent_id …    mapping paths / defaults (the body carries no identity)
server        mapping (a route field or a constant default)
tool, args    ``params.name``, ``params.arguments``
outcome       ``error`` object or ``result.isError: true`` → error; else ok;
              no response within the window → unknown
bytes_in/out  length of the request / response body
result_        digests of the entity-like values in the response's ``result``
digests       (``monitor.core.values.result_digests``; never the values)
result_       families of the secrets in the response's ``result``
secrets       (``secret_transit.result_secrets``; never the secrets)
trace_id      mapping ``trace_id``, else ``params._meta.traceparent``
============  ==============================================================

Ids are unique per session only (and stdio has no session), so the pairing
key is ``(session_id, id)`` with the session from the mapping; ``7`` and
``"7"`` are different ids. Denials cannot be told from errors in the bare
protocol (FORMAT.md); presets for gateways that say more override
:func:`outcome_of`.

Lines that are valid JSON-RPC but not tool calls (``initialize``,
``tools/list``, notifications) are *skipped*: counted in the summary,
their responses recognised and skipped too. A response whose request is not
in the window is a dead letter — unless it is in the overlap re-read after a
restart, where its request was paired before the checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import orjson

from monitor.core.detectors.secret_transit import result_secrets
from monitor.core.values import result_digests
from monitor.errors import DecodeError
from monitor.events import ToolCall
from monitor.tap.formats.base import (
    FormatContext,
    derive_event_id,
    mapped,
    parse_ts,
    tool_call,
)
from monitor.tap.lines import Dead, Line, Output, Position, Skipped
from monitor.tap.mapping import FieldMapping
from monitor.tap.pairing import PairingWindow
from monitor.tap.paths import MISSING

NO_RESPONSE = "no response within the pairing window"
NO_RESPONSE_AT_END = "no response before the end of the input"
SUPERSEDED = "its id was sent again before a response"


@dataclass(slots=True)
class _Call:
    """A mapped ``tools/call`` request waiting for its response."""

    call: ToolCall
    line: Line


@dataclass(slots=True)
class _Other:
    """A request we do not map; its response is skipped too."""

    method: str
    line: Line


@dataclass(slots=True)
class _Failed:
    """A ``tools/call`` request that was dead-lettered; its response follows it there."""

    line: Line


_Waiting = _Call | _Other | _Failed


def outcome_of(body: dict[str, Any]) -> Literal["ok", "error"]:
    if body.get("error") is not None:
        return "error"
    result = body.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        return "error"
    return "ok"


def trace_id_of(value: Any) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<trace>-<span>-<flags>``), else the text."""
    if not isinstance(value, str) or not value:
        return None
    parts = value.split("-")
    if len(parts) >= 4 and len(parts[1]) == 32:
        return parts[1]
    return value


class JsonRpcFormat:
    name: ClassVar[str] = "jsonrpc"
    uses_mapping: ClassVar[bool] = True
    #: The bare protocol carries no identity: everything comes from ``--mapping``.
    PRESET: ClassVar[FieldMapping] = FieldMapping()

    def __init__(self, ctx: FormatContext) -> None:
        self.ctx = ctx
        self.mapping = ctx.mapping.over(self.PRESET) if ctx.mapping else self.PRESET
        self.window: PairingWindow[_Waiting, Position] = PairingWindow(
            ctx.window_requests, ctx.window_seconds
        )

    # ------------------------------------------------------------ Format interface
    def on_line(self, line: Line) -> Iterable[Output]:
        try:
            doc = orjson.loads(line.raw)
        except orjson.JSONDecodeError as err:
            return (Dead(line, f"not JSON: {err}"),)
        if isinstance(doc, list):
            return (
                Dead(line, "JSON-RPC batch (an array) is not supported: log one message a line"),
            )
        if not isinstance(doc, dict):
            return (Dead(line, "not a JSON object"),)
        body = doc if self.mapping.body is None else self.mapping.body.get(doc)
        if not isinstance(body, dict):
            where = self.mapping.body.text if self.mapping.body else "."
            return (Dead(line, f"no JSON-RPC body at {where!r}", "body"),)
        try:
            if body.get("jsonrpc") != "2.0":
                raise DecodeError("jsonrpc: not a JSON-RPC 2.0 message", "jsonrpc")
            if "method" in body:
                return self._request(line, doc, body)
            if "result" in body or "error" in body:
                return self._response(line, doc, body)
            raise DecodeError("neither a request (method) nor a response (result, error)")
        except DecodeError as err:
            return (Dead(line, err.reason, err.field),)

    def on_tick(self, now: float) -> Iterable[Output]:
        return [o for w in self.window.expire(now) for o in self._unpaired(w, NO_RESPONSE)]

    def on_eof(self) -> Iterable[Output]:
        return [o for w in self.window.drain() for o in self._unpaired(w, NO_RESPONSE_AT_END)]

    def held_from(self) -> Position | None:
        return self.window.oldest()

    # ------------------------------------------------------------ requests
    def _request(self, line: Line, doc: dict[str, Any], body: dict[str, Any]) -> list[Output]:
        method = body["method"]
        if not isinstance(method, str):
            raise DecodeError("method: expected a string", "method")
        rid = body.get("id")
        if rid is None:
            if method == "tools/call":
                raise DecodeError("id: a tools/call without an id cannot be paired", "id")
            return [Skipped(line, f"notification {method}")]
        key = self._key(doc, rid)
        out: list[Output] = []
        if method != "tools/call":
            out.append(Skipped(line, f"method {method}"))
            out += self._wait(key, _Other(method, line), line)
            return out
        try:
            call = self._prepare(line, doc, body, key)
        except DecodeError as err:
            out.append(Dead(line, err.reason, err.field))
            out += self._wait(key, _Failed(line), line)
            return out
        out += self._wait(key, _Call(call, line), line)
        return out

    def _prepare(
        self, line: Line, doc: dict[str, Any], body: dict[str, Any], key: tuple[str, bytes]
    ) -> ToolCall:
        params = body.get("params")
        if not isinstance(params, dict):
            raise DecodeError("params: a tools/call needs an object", "params")
        tool = params.get("name")
        if not isinstance(tool, str) or not tool:
            raise DecodeError("params.name: expected the tool name", "params.name")
        args = params.get("arguments")
        if args is None:
            args = {}
        elif not isinstance(args, dict):
            raise DecodeError("params.arguments: expected an object", "params.arguments")
        fields: dict[str, Any] = self.mapping.ids(doc)
        trace = trace_id_of(fields.pop("trace_id", None))
        if trace is None:
            meta = params.get("_meta")
            trace = trace_id_of(meta.get("traceparent")) if isinstance(meta, dict) else None
        ts = self.mapping.raw(doc, "ts")
        session, rid = key
        fields.update(
            type="tool_call",
            event_id=derive_event_id("jrpc", self.ctx.source, session, rid, line.raw),
            ts=self.ctx.clock() if ts is MISSING else parse_ts(ts),
            tool=tool,
            args=args,
            resources=self.mapping.resources(doc),
            outcome="unknown",
            bytes_in=self._size(line, doc, body),
            trace_id=trace,
        )
        return tool_call(fields)

    def _wait(self, key: tuple[str, bytes], item: _Waiting, line: Line) -> list[Output]:
        out: list[Output] = []
        again = self.window.pop(key)
        if again is not None:
            out += self._unpaired(again, SUPERSEDED)
        for evicted in self.window.add(key, item, line.start, line.seen):
            out += self._unpaired(evicted, NO_RESPONSE)
        return out

    # ------------------------------------------------------------ responses
    def _response(self, line: Line, doc: dict[str, Any], body: dict[str, Any]) -> list[Output]:
        rid = body.get("id")
        if rid is None:
            raise DecodeError("id: null — the reply to a request the server could not read", "id")
        waiting = self.window.pop(self._key(doc, rid))
        if waiting is None:
            if line.replayed:
                return [Skipped(line, "response paired before the restart")]
            return [Dead(line, "response without a request in the pairing window", "id")]
        if isinstance(waiting, _Other):
            return [Skipped(line, f"response to {waiting.method}")]
        if isinstance(waiting, _Failed):
            n = waiting.line.number
            return [
                Dead(line, f"response to a dead-lettered request: line {n}", "id", {"request": n})
            ]
        update: dict[str, Any] = {
            "outcome": outcome_of(body),
            "bytes_out": self._size(line, doc, body),
        }
        digests = result_digests(body.get("result"))
        if digests:
            update["result_digests"] = digests
        secrets = result_secrets(body.get("result"))
        if secrets:
            update["result_secrets"] = secrets
        try:
            return [mapped(waiting.call, (waiting.line.number, line.number), None, update)]
        except DecodeError as err:
            extra = {"response_line": line.number, "response_raw": line.raw.decode("utf-8")}
            return [Dead(waiting.line, err.reason, err.field, extra)]

    # ------------------------------------------------------------ helpers
    def _unpaired(self, waiting: _Waiting, note: str) -> list[Output]:
        if not isinstance(waiting, _Call):
            return []  # skipped or dead-lettered when it arrived
        try:
            return [mapped(waiting.call, (waiting.line.number,), note)]
        except DecodeError as err:
            return [Dead(waiting.line, err.reason, err.field)]

    def _key(self, doc: dict[str, Any], rid: Any) -> tuple[str, bytes]:
        if isinstance(rid, bool) or not isinstance(rid, str | int):
            raise DecodeError("id: expected a string or an integer", "id")
        return (self.mapping.first(doc, "session_id") or "", orjson.dumps(rid))

    def _size(self, line: Line, doc: dict[str, Any], body: dict[str, Any]) -> int:
        return len(line.raw.strip()) if body is doc else len(orjson.dumps(body))
