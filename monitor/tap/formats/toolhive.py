"""``--format toolhive``: Stacklok ToolHive / vMCP audit log (slog JSON, ``msg: audit_event``).

See ``gateway-logs/toolhive/FORMAT.md``. Only ``type: mcp_tool_call`` lines
become events; other audit types are skipped (counted), except a request
*denied* before MCP parsing (``http_request`` + ``denied``, e.g. no token),
which names no tool and is dead-lettered with that reason — a denial is never
dropped silently.

============  ==============================================================
ours          from (preset default; ``--mapping`` replaces any of them)
============  ==============================================================
event_id      ``audit_id``
ts            ``logged_at`` (end of the request)
agent_id      ``delegation.chain.0.sub`` (the acting agent of an RFC 8693
              token), else ``subjects.user_id`` (token ``sub``)
agent_kind    ``delegated`` when a delegation chain is logged, else charter
sponsor       ``subjects.user_id`` when delegated (the human who delegated)
task_id       ``_meta`` key ``io.mcpmon/task_id`` or baggage ``task_id`` of
              the logged request (needs ``includeRequestData``)
credential_id —  (ToolHive does not log ``jti``)
tenant        —
session_id    —  (never set by the audit middleware)
server        ``metadata.extra.backend_name`` (vMCP), else ``component``
tool, args    ``target.name``; ``data.request.params.arguments``
bytes_in/out  length of ``data.request``; ``metadata.extra.response_size_bytes``
trace_id      ``traceparent`` in the logged request's ``_meta``
============  ==============================================================

Outcome: ``success`` → ok (error when a captured ``data.response`` has
``result.isError: true``; without ``includeResponseData`` a tool that ran and
failed is logged as success), ``denied`` → denied, ``application_error``
with JSON-RPC ``-32602 Unknown tool:`` → denied, ``failure`` / ``error`` /
``application_error`` → error.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from monitor.tap.formats.preset import PresetFormat, args_of, preset, with_baggage
from monitor.tap.lines import Dead, Line, Output, Skipped

_OUTCOMES = {"success": "ok", "denied": "denied", "failure": "error", "error": "error"}


class ToolHiveFormat(PresetFormat):
    name: ClassVar[str] = "toolhive"
    ID_PREFIX: ClassVar[str] = "thv"
    PRESET = preset(
        agent_id=["delegation.chain.0.sub", "subjects.user_id"],
        task_id=["data.request.params._meta.io.mcpmon/task_id", "baggage.task_id"],
        server=["metadata.extra.backend_name", "component"],
        trace_id="data.request.params._meta.traceparent",
        ts="logged_at",
    )

    @staticmethod
    def recognise(doc: dict[str, Any]) -> bool:
        return doc.get("msg") == "audit_event" or ("audit_id" in doc and "logged_at" in doc)

    def map_doc(self, line: Line, doc: dict[str, Any]) -> Output:
        kind = doc.get("type")
        outcome = doc.get("outcome")
        if kind != "mcp_tool_call":
            if outcome == "denied" and kind in ("http_request", "mcp_request"):
                who = _dig(doc, "subjects", "user") or "unknown subject"
                return Dead(
                    line, f"denied before MCP parsing ({kind}, {who}): no tool to map", "type"
                )
            return Skipped(line, f"audit type {kind}")
        extra = _dig(doc, "metadata", "extra") or {}
        request = _dig(doc, "data", "request")
        params = request.get("params") if isinstance(request, dict) else None
        params = params if isinstance(params, dict) else {}
        view = with_baggage(doc, params.get("_meta"))
        chain = _dig(doc, "delegation", "chain")
        delegated = isinstance(chain, list) and len(chain) > 0
        human = _dig(doc, "subjects", "user_id")
        audit_id = doc.get("audit_id")
        size = extra.get("response_size_bytes") if isinstance(extra, dict) else None
        return self.emit(
            line,
            view,
            event_id=audit_id if isinstance(audit_id, str) and audit_id else self.derived_id(line),
            tool=_dig(doc, "target", "name"),
            args=args_of(params.get("arguments"), "data.request.params.arguments"),
            outcome=outcome_of(outcome, extra, _dig(doc, "data", "response")),
            delegated=delegated,
            human=human if isinstance(human, str) else None,
            bytes_in=len(orjson.dumps(request)) if isinstance(request, dict) else 0,
            bytes_out=size if isinstance(size, int) and size >= 0 else 0,
            result=_response_result(_dig(doc, "data", "response")),
        )


def _response_result(response: Any) -> Any:
    """The captured response's ``result`` (with ``includeResponseData``), else None."""
    return response.get("result") if isinstance(response, dict) else None


def outcome_of(outcome: Any, extra: Any, response: Any) -> str:
    if outcome == "application_error":
        code = extra.get("jsonrpc_error_code") if isinstance(extra, dict) else None
        msg = extra.get("jsonrpc_error_message") if isinstance(extra, dict) else None
        if code == -32602 and isinstance(msg, str) and msg.startswith("Unknown tool:"):
            return "denied"
        return "error"
    if outcome == "success" and isinstance(response, dict):
        result = response.get("result")
        if isinstance(result, dict) and result.get("isError") is True:
            return "error"
    return _OUTCOMES.get(outcome, "unknown") if isinstance(outcome, str) else "unknown"


def _dig(doc: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(k)
    return doc
