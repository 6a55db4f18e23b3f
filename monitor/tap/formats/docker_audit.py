"""``--format docker-audit``: Docker MCP Gateway policy audit events (JSON).

See ``gateway-logs/docker-mcp-gateway/FORMAT.md``. The event is a *decision*
record written before the call runs (only with Docker Desktop's MCP
governance on). ``trigger: invoke`` on a tool becomes an event; prompt gets
and server loads are skipped (counted).

Outcome: ``result: denied`` → **denied** (also for ``outcome_reason:
policy_error``, as Docker records it); ``allowed`` → **unknown** — nothing
says how the call then went. The ``--log-calls`` text and the interceptor
payloads are not taps: no time, server or identity (FORMAT.md §1, §3).

============  ==============================================================
ours          from (preset default; ``--mapping`` replaces any of them)
============  ==============================================================
event_id      hash of source label, line number and line (timestamps are
              whole seconds, so the line alone could repeat)
ts            ``timestamp``
agent_id      ``actor_id`` (if the Desktop backend adds it), else
              ``client_name`` — the MCP client's *self-reported* name
tenant        ``org_id``, else ``working_set``
server        ``server_name``
tool          ``tool_name``; args are never logged (``{}``)
agent_kind, sponsor, task_id, credential_id, session_id, trace_id
              — not logged (``session_id``/``trace_id`` exist but are never set)
============  ==============================================================
"""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.tap.formats.preset import PresetFormat, preset
from monitor.tap.lines import Line, Output, Skipped


class DockerAuditFormat(PresetFormat):
    name: ClassVar[str] = "docker-audit"
    ID_PREFIX: ClassVar[str] = "dkr"
    PRESET = preset(
        agent_id=["actor_id", "client_name"],
        tenant=["org_id", "working_set"],
        server="server_name",
        session_id="session_id",
        trace_id="trace_id",
        ts="timestamp",
    )

    @staticmethod
    def recognise(doc: dict[str, Any]) -> bool:
        return "trigger" in doc and "result" in doc

    def map_doc(self, line: Line, doc: dict[str, Any]) -> Output:
        trigger, target = doc.get("trigger"), doc.get("target_type")
        if trigger != "invoke" or target not in (None, "tool"):
            return Skipped(line, f"trigger {trigger} of a {target}")
        return self.emit(
            line,
            doc,
            event_id=self.derived_id(line),
            tool=doc.get("tool_name"),
            args={},
            outcome="denied" if doc.get("result") == "denied" else "unknown",
        )
