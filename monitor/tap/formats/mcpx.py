"""``--format mcpx``: Lunar MCPX audit files (hourly ``audit-YYYY-MM-DDTHH.jsonl``).

See ``gateway-logs/mcpx/FORMAT.md``. Only ``eventType: tool_used`` becomes an
event; ``prompt_used``, ``resource_read``, ``agent_permission_updated`` and
the catalog events are skipped (counted).

MCPX writes ``tool_used`` after the upstream call returned, whether or not
the result had ``isError``, and logs neither denials nor failed calls: the
outcome is always **unknown**, and a denied call leaves no line at all.

============  ==============================================================
ours          from (preset default; ``--mapping`` replaces any of them)
============  ==============================================================
event_id      hash of source label, line number and line (MCPX has no id)
ts            ``timestamp``
agent_id      ``payload.consumerTag`` (the ``x-lunar-consumer-tag`` header:
              self-declared, not authenticated)
server        ``payload.targetServerName``
tool, args    ``payload.toolName``, ``payload.args``
agent_kind, sponsor, task_id, credential_id, tenant, session_id, trace_id
              — not logged; give constants with ``defaults:`` in ``--mapping``
============  ==============================================================
"""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.tap.formats.preset import PresetFormat, args_of, preset
from monitor.tap.lines import Line, Output, Skipped


class McpxFormat(PresetFormat):
    name: ClassVar[str] = "mcpx"
    ID_PREFIX: ClassVar[str] = "mcpx"
    PRESET = preset(
        agent_id="payload.consumerTag",
        server="payload.targetServerName",
        ts="timestamp",
    )

    @staticmethod
    def recognise(doc: dict[str, Any]) -> bool:
        return "eventType" in doc and "payload" in doc

    def map_doc(self, line: Line, doc: dict[str, Any]) -> Output:
        kind = doc.get("eventType")
        if kind != "tool_used":
            return Skipped(line, f"event {kind}")
        payload = doc.get("payload")
        payload = payload if isinstance(payload, dict) else {}
        return self.emit(
            line,
            doc,
            event_id=self.derived_id(line),
            tool=payload.get("toolName"),
            args=args_of(payload.get("args"), "payload.args"),
            outcome="unknown",
        )
