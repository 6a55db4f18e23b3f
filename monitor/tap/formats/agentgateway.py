"""``--format agentgateway``: agentgateway's JSON access log, one line per request.

See ``gateway-logs/agentgateway/FORMAT.md``. Only ``mcp.method.name:
tools/call`` lines become events; other MCP methods are skipped (counted).

============  ==============================================================
ours          from (preset default; ``--mapping`` replaces any of them)
============  ==============================================================
event_id      ``agw-<trace.id>-<span.id>`` (unique per request); without
              them, a hash of source label, line number and line
ts            ``time`` (written when the response finished)
agent_id      ``agent.id`` (custom CEL field), else ``jwt.act.sub``, else
              ``jwt.sub``, else ``src.identity`` (mTLS SPIFFE id)
sponsor       ``sponsor`` (custom), else ``jwt.sub`` when an ``act`` claim
              is logged (``jwt.act``) — the caller is then *delegated*
agent_kind    ``agent.kind`` (custom); ``delegated`` when a ``sponsor`` or
              ``jwt.act`` is present; else left to the charter
task_id       ``task.id`` (custom) / ``jwt.task_id``
credential_id ``credential.id`` (custom) / ``jwt.jti``
tenant        ``tenant`` (custom) / ``jwt.tenant``
session_id    ``mcp.session.id``
server        ``mcp.target``, else ``route``
tool          ``gen_ai.tool.name``
args          ``mcp.args`` (custom ``mcp.tool.arguments``); absent → ``{}``
resources     ``mcp.resource.uri``, and paths/URIs in the arguments
trace_id      ``trace.id``
============  ==============================================================

Outcome: ``http.status`` 401/403 → denied, other ≥ 400 → error;
``mcp.error.code -32602`` with ``Unknown tool:`` → **denied** (agentgateway
answers an authorization denial that way on purpose); any other
``mcp.error.*`` or a proxy ``error`` → error; ``tool.is_error: true``
(custom) → error; else ok. Without the custom ``tool.is_error`` field a tool
that ran and failed (``isError``) is logged as ok — the gateway's default
keys cannot show it.

A request refused at the HTTP layer (401/403, no MCP fields) names no tool:
it is dead-lettered with that reason rather than dropped.
"""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.tap.formats.preset import PresetFormat, args_of, first, preset
from monitor.tap.lines import Dead, Line, Output, Skipped
from monitor.tap.paths import MISSING, DottedPath

_ARGS = (DottedPath("mcp.args", casefold=False), DottedPath("mcp.tool.arguments", casefold=False))
#: A result copied into the log by a custom CEL field (``mcp.tool.result`` is a CEL variable).
_RESULT = (
    DottedPath("mcp.result", casefold=False),
    DottedPath("mcp.tool.result", casefold=False),
    DottedPath("gen_ai.tool.call.result", casefold=False),
)
_ACT = DottedPath("jwt.act", casefold=False)
_SUB = DottedPath("jwt.sub", casefold=False)


class AgentgatewayFormat(PresetFormat):
    name: ClassVar[str] = "agentgateway"
    ID_PREFIX: ClassVar[str] = "agw"
    PRESET = preset(
        agent_id=["agent.id", "jwt.act.sub", "jwt.sub", "src.identity"],
        agent_kind="agent.kind",
        sponsor="sponsor",
        task_id=["task.id", "jwt.task_id"],
        credential_id=["credential.id", "jwt.jti"],
        tenant=["tenant", "jwt.tenant"],
        session_id="mcp.session.id",
        server=["mcp.target", "route"],
        trace_id="trace.id",
        ts="time",
    )

    @staticmethod
    def recognise(doc: dict[str, Any]) -> bool:
        return (
            "scope" in doc and "time" in doc and ("mcp.method.name" in doc or "http.status" in doc)
        )

    def map_doc(self, line: Line, doc: dict[str, Any]) -> Output:
        method = doc.get("mcp.method.name")
        status = doc.get("http.status")
        if method is None:
            if isinstance(status, int) and status in (401, 403):
                why = doc.get("reason") or doc.get("error") or f"HTTP {status}"
                return Dead(
                    line, f"denied before MCP parsing ({why}): no tool to map", "http.status"
                )
            return Skipped(line, "not an MCP request")
        if method != "tools/call":
            return Skipped(line, f"method {method}")
        act = _ACT.get(doc)
        delegated = act not in (MISSING, None) or doc.get("sponsor") is not None
        human = _SUB.get(doc) if act not in (MISSING, None) else None
        trace, span = doc.get("trace.id"), doc.get("span.id")
        event_id = (
            f"agw-{trace}-{span}"
            if isinstance(trace, str) and isinstance(span, str) and trace and span
            else self.derived_id(line)
        )
        uri = doc.get("mcp.resource.uri")
        return self.emit(
            line,
            doc,
            event_id=event_id,
            tool=doc.get("gen_ai.tool.name"),
            args=args_of(first(doc, *_ARGS), "mcp.args"),
            outcome=outcome_of(doc),
            delegated=delegated,
            human=human if isinstance(human, str) else None,
            resources=[uri] if isinstance(uri, str) and uri else (),
            result=first(doc, *_RESULT),
        )


def outcome_of(doc: dict[str, Any]) -> str:
    status = doc.get("http.status")
    if isinstance(status, int) and status >= 400:
        return "denied" if status in (401, 403) else "error"
    code = doc.get("mcp.error.code")
    if code is not None:
        message = doc.get("mcp.error.message")
        if code == -32602 and isinstance(message, str) and message.startswith("Unknown tool:"):
            return "denied"
        return "error"
    if doc.get("error") is not None or doc.get("tool.is_error") is True:
        return "error"
    return "ok"
