"""``--format teleport``: Teleport MCP access audit events (``mcp.session.*``).

See ``gateway-logs/teleport/FORMAT.md``. Only ``mcp.session.request`` events
whose ``message.method`` is ``tools/call`` become events; session start/end,
notifications and other methods are skipped (counted).

Teleport records **requests only**: ``TMCP003I`` means "forwarded", not "the
tool succeeded", so a forwarded call has outcome **unknown**.
``success: false`` with ``error: "access denied"`` (RBAC ``mcp.tools``) →
**denied**; any other ``success: false`` (transport errors such as
``HTTP 502``) → error.

============  ==============================================================
ours          from (preset default; ``--mapping`` replaces any of them)
============  ==============================================================
event_id      ``uid``
ts            ``time``
agent_id      ``user`` (``bot-<name>`` for Machine ID bots)
agent_kind    ``user_kind`` 2 (bot) → autonomous; 1 (human) → delegated: a
              human's AI client acts for that human
sponsor       ``impersonator`` if present, else ``user`` when a human
task_id       ``_meta`` key ``io.mcpmon/task_id`` or baggage ``task_id`` of
              the request (Teleport has no task; ``access_requests`` is the
              nearest notion and can be mapped)
credential_id —  (certificates are per session)
tenant        ``cluster_name``
session_id    ``sid``
server        ``app_name``
tool, args    ``message.params.name``, ``message.params.arguments``
trace_id      ``message.params._meta.traceparent``
============  ==============================================================
"""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.tap.formats.preset import PresetFormat, args_of, preset, with_baggage
from monitor.tap.lines import Line, Output, Skipped

HUMAN = (1, "1", "USER_KIND_HUMAN")
BOT = (2, "2", "USER_KIND_BOT")


class TeleportFormat(PresetFormat):
    name: ClassVar[str] = "teleport"
    ID_PREFIX: ClassVar[str] = "tp"
    PRESET = preset(
        agent_id="user",
        task_id=["message.params._meta.io.mcpmon/task_id", "baggage.task_id"],
        tenant="cluster_name",
        session_id="sid",
        server="app_name",
        trace_id="message.params._meta.traceparent",
        ts="time",
    )

    @staticmethod
    def recognise(doc: dict[str, Any]) -> bool:
        event = doc.get("event")
        return isinstance(event, str) and event.startswith("mcp.") and "uid" in doc

    def map_doc(self, line: Line, doc: dict[str, Any]) -> Output:
        event = doc.get("event")
        if event != "mcp.session.request":
            return Skipped(line, f"event {event}")
        message = doc.get("message")
        message = message if isinstance(message, dict) else {}
        method = message.get("method")
        if method != "tools/call":
            return Skipped(line, f"method {method}")
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        user_kind = doc.get("user_kind")
        impersonator = doc.get("impersonator")
        human = impersonator if isinstance(impersonator, str) and impersonator else None
        if human is None and user_kind in HUMAN and isinstance(doc.get("user"), str):
            human = doc["user"]
        uid = doc.get("uid")
        return self.emit(
            line,
            with_baggage(doc, params.get("_meta")),
            event_id=uid if isinstance(uid, str) and uid else self.derived_id(line),
            tool=params.get("name"),
            args=args_of(params.get("arguments"), "message.params.arguments"),
            outcome=outcome_of(doc),
            delegated=human is not None,
            human=human,
            kind="autonomous" if user_kind in BOT else None,
        )


def outcome_of(doc: dict[str, Any]) -> str:
    success = doc.get("success")
    code = doc.get("code")
    failed = success is False or (success is None and isinstance(code, str) and code.endswith("E"))
    if not failed:
        return "unknown"  # forwarded; Teleport logs no result
    error = doc.get("error")
    if isinstance(error, str) and "access denied" in error.lower():
        return "denied"
    return "error"
