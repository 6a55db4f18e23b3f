"""``--format otel``: MCP tool-call spans as OTLP/JSON, one export request a line.

See ``gateway-logs/otel/FORMAT.md``. A line is an ``ExportTraceServiceRequest``
(``resourceSpans → scopeSpans → spans``); **every span is mapped on its own**,
so one line may give several events. Attributes (``[{key, value: {stringValue
| intValue | boolValue | doubleValue | arrayValue | kvlistValue}}]``) are
flattened into one view per span — resource attributes, then the span's own
over them, plus ``traceId``, ``spanId``, ``name``, ``kind`` and
``startTimeUnixNano`` — and the mapping's paths read that view (an attribute
key such as ``gen_ai.tool.name`` is one key).

A span is a tool call when ``mcp.method.name`` is ``tools/call``, or
``gen_ai.operation.name`` is ``execute_tool``, or it is Docker's
``mcp.tool.call`` or ContextForge's ``tool.invoke``; other spans are skipped.

============  ==============================================================
ours          from (preset default; ``--mapping`` replaces any of them)
============  ==============================================================
event_id      ``otel-<traceId>-<spanId>``
ts            ``startTimeUnixNano``
agent_id      ``gen_ai.agent.id``, ``agent.id``, ``jwt.act.sub``,
              ``jwt.sub``, ``user.email`` (ContextForge) — MCP semconv
              defines **no identity**: a plain SDK span without one of these
              is dead-lettered (``no agent_id``) unless the mapping gives one
agent_kind    ``agent.kind``; ``delegated`` when ``enduser.id`` (a human
              other than the agent), ``sponsor`` or ``jwt.act`` is present
sponsor       ``sponsor``, else ``enduser.id`` / ``jwt.sub`` when delegated
task_id       ``task.id`` / ``task_id`` (baggage copied to attributes)
credential_id ``credential.id`` / ``jwt.jti``
tenant        ``tenant``
session_id    ``mcp.session.id``
server        ``mcp.target`` (agentgateway), ``mcp.server.name`` (Docker),
              ``mcp.server`` (Kuadrant), ``server.address`` (client spans),
              ``service.name``
tool          ``gen_ai.tool.name`` / ``mcp.tool.name`` / ``tool.name``
args          ``gen_ai.tool.call.arguments`` (opt-in; JSON text) / ``mcp.args``
resources     ``mcp.resource.uri``, and paths/URIs in the arguments
trace_id      ``traceId``
============  ==============================================================

Outcome: ``http.status`` 401/403 → denied; ``error.type`` ``-32602`` with a
status message ``Unknown tool:`` → **denied** (how a gateway denial reaches
the client); any other ``error.type`` or status ERROR (2) → error; else ok.
"""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.errors import DecodeError
from monitor.tap.formats.preset import PresetFormat, args_of, first, preset
from monitor.tap.lines import Dead, Line, Output, Skipped
from monitor.tap.paths import MISSING, DottedPath

TOOL_SPANS = ("mcp.tool.call", "tool.invoke")
_ARGS = (
    DottedPath("gen_ai.tool.call.arguments", casefold=False),
    DottedPath("mcp.args", casefold=False),
)
#: Opt-in result payloads (gen_ai semconv; a CEL field ``mcp.result`` on agentgateway spans).
_RESULT = (
    DottedPath("gen_ai.tool.call.result", casefold=False),
    DottedPath("mcp.tool.result", casefold=False),
    DottedPath("mcp.result", casefold=False),
)
_TOOL = (
    DottedPath("gen_ai.tool.name", casefold=False),
    DottedPath("mcp.tool.name", casefold=False),
    DottedPath("tool.name", casefold=False),
)


def any_value(v: Any) -> Any:
    """An OTLP/JSON ``AnyValue`` as a plain value (64-bit ints arrive as text)."""
    if not isinstance(v, dict):
        return None
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        try:
            return int(v["intValue"])
        except (TypeError, ValueError):
            return v["intValue"]
    if "boolValue" in v:
        return v["boolValue"]
    if "doubleValue" in v:
        return v["doubleValue"]
    if "arrayValue" in v:
        values = v["arrayValue"].get("values") if isinstance(v["arrayValue"], dict) else None
        return [any_value(x) for x in values or ()]
    if "kvlistValue" in v:
        kv = v["kvlistValue"].get("values") if isinstance(v["kvlistValue"], dict) else None
        return attributes(kv)
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def attributes(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(items, list):
        for kv in items:
            if isinstance(kv, dict) and isinstance(kv.get("key"), str):
                out[kv["key"]] = any_value(kv.get("value"))
    return out


class OtelFormat(PresetFormat):
    name: ClassVar[str] = "otel"
    ID_PREFIX: ClassVar[str] = "otel"
    PRESET = preset(
        agent_id=["gen_ai.agent.id", "agent.id", "jwt.act.sub", "jwt.sub", "user.email"],
        agent_kind="agent.kind",
        sponsor="sponsor",
        task_id=["task.id", "task_id"],
        credential_id=["credential.id", "jwt.jti"],
        tenant="tenant",
        session_id="mcp.session.id",
        server=["mcp.target", "mcp.server.name", "mcp.server", "server.address", "service.name"],
        trace_id="traceId",
        ts="startTimeUnixNano",
    )

    @staticmethod
    def recognise(doc: dict[str, Any]) -> bool:
        return "resourceSpans" in doc

    def on_doc(self, line: Line, doc: dict[str, Any]) -> list[Output]:
        try:
            return self.map_spans(line, doc)
        except DecodeError as err:
            return [Dead(line, err.reason, err.field)]

    def map_spans(self, line: Line, doc: dict[str, Any]) -> list[Output]:
        rs = doc.get("resourceSpans")
        if not isinstance(rs, list):
            raise DecodeError("resourceSpans: expected a list", "resourceSpans")
        out: list[Output] = []
        for r in rs:
            if not isinstance(r, dict):
                continue
            res = r.get("resource")
            res_attrs = attributes(res.get("attributes")) if isinstance(res, dict) else {}
            for ss in _list(r.get("scopeSpans")):
                for span in _list(ss.get("spans") if isinstance(ss, dict) else None):
                    try:
                        out.append(self.map_span(line, res_attrs, span))
                    except DecodeError as err:
                        out.append(Dead(line, err.reason, err.field, _where(span)))
        if not out:
            out.append(Skipped(line, "no spans"))
        return out

    def map_span(self, line: Line, res_attrs: dict[str, Any], span: Any) -> Output:
        if not isinstance(span, dict):
            raise DecodeError("span: expected an object", "spans")
        view = {**res_attrs, **attributes(span.get("attributes"))}
        for k in ("traceId", "spanId", "name", "kind", "startTimeUnixNano"):
            if k in span:
                view[k] = span[k]
        name = span.get("name")
        if not (
            view.get("mcp.method.name") == "tools/call"
            or view.get("gen_ai.operation.name") == "execute_tool"
            or name in TOOL_SPANS
        ):
            return Skipped(line, f"span {view.get('mcp.method.name') or name}")
        trace, span_id = span.get("traceId"), span.get("spanId")
        if not (isinstance(span_id, str) and span_id):
            raise DecodeError("spanId: a span without an id cannot be deduplicated", "spanId")
        raw_status = span.get("status")
        status: dict[str, Any] = raw_status if isinstance(raw_status, dict) else {}
        act = view.get("jwt.act")
        enduser = view.get("enduser.id")
        agent = first(view, *self.mapping.fields.get("agent_id", ()))
        human: Any = None
        if act not in (None, MISSING):
            human = view.get("jwt.sub")
        elif isinstance(enduser, str) and enduser and enduser != agent:
            human = enduser
        uri = view.get("mcp.resource.uri")
        return self.emit(
            line,
            view,
            event_id=f"otel-{trace or ''}-{span_id}",
            tool=first(view, *_TOOL),
            args=args_of(first(view, *_ARGS), "gen_ai.tool.call.arguments"),
            outcome=outcome_of(view, status),
            delegated=human is not None or view.get("sponsor") is not None,
            human=human if isinstance(human, str) else None,
            resources=[uri] if isinstance(uri, str) and uri else (),
            result=first(view, *_RESULT),
        )


def outcome_of(view: dict[str, Any], status: dict[str, Any]) -> str:
    http = view.get("http.status") or view.get("http.response.status_code")
    if http in (401, 403):
        return "denied"
    error_type = view.get("error.type")
    message = status.get("message")
    if error_type is not None:
        unknown_tool = isinstance(message, str) and message.startswith("Unknown tool:")
        if str(error_type) == "-32602" and unknown_tool:
            return "denied"
        return "error"
    if status.get("code") == 2 or (isinstance(http, int) and http >= 400):
        return "error"
    return "ok"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _where(span: Any) -> dict[str, Any] | None:
    if isinstance(span, dict) and isinstance(span.get("spanId"), str):
        return {"spanId": span["spanId"]}
    return None
