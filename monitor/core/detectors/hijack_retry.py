"""retry_after_denial: the same or a sibling tool right after the gateway said no.

Why: an injected goal does not give up at a denial. The agent tries the same
call again, or a sibling that does the same thing (``delete_repo`` denied, then
``remove_repository``; ``send_email`` denied, then ``send_message`` on the same
server; the same tool name on another server). A benign agent told no reports
back to its user instead.

Fires (medium) when, within ``hijack.retry_within_calls`` calls (default 3) and
``hijack.retry_within_seconds`` (default 300) after a call with outcome
``denied``, the agent calls the same tool, a tool of the same server sharing a
distinctive name word (not ``get``, ``list``, ...), or a tool of the same name on
another server. One alert per denial.

Example: ``github/delete_repo`` denied, two calls later ``github/delete_branch``
→ medium; ``github/search_code`` after the denial is quiet.

State (``AgentState.behav["retry_after_denial"]``): the last denial as
``[call index, time, server, tool, event id]`` (or nulls), under 1 KiB.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.core.detectors.base import CallContext, Detector, Finding, register
from monitor.core.detectors.hijack import READ_WORDS, enabled, rules, section, words
from monitor.core.detectors.hijack import target as call_scope
from monitor.core.policy import CompiledCharter
from monitor.core.state import AgentState

NAME = "retry_after_denial"
#: Name words too common to make two tools siblings.
GENERIC = READ_WORDS | {"tool", "api", "data", "info", "item", "items", "the", "by", "to", "v1",
                        "v2", "new", "all", "status", "check", "get", "set", "update", "create"}  # fmt: skip

_IDX, _T, _SERVER, _TOOL, _EID = range(5)


def siblings(server_a: str, tool_a: str, server_b: str, tool_b: str) -> bool:
    if tool_a == tool_b:
        return True
    if server_a != server_b:
        return False
    a = {w for w in words(tool_a) if len(w) > 2} - GENERIC
    return not a.isdisjoint(words(tool_b))


@register
class RetryAfterDenial(Detector):
    name = NAME

    def wants_calls(self, charter: CompiledCharter | None, kind: str) -> bool:
        return enabled(charter, NAME)

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        c = ctx.call
        sec = section(st, NAME, [None] * 5, 5)
        out: list[Finding] = []
        if sec[_IDX] is not None:
            r = rules(ctx.charter)
            if ctx.index - sec[_IDX] > r.retry_within_calls or not (
                0 <= ctx.t - sec[_T] <= r.retry_within_seconds
            ):
                sec[:] = [None] * 5
            elif siblings(sec[_SERVER], sec[_TOOL], c.server, c.tool):
                out.append(self._finding(ctx, sec))
                sec[:] = [None] * 5
        if c.outcome == "denied":
            sec[:] = [ctx.index, ctx.t, c.server, c.tool, c.event_id]
        return out

    def _finding(self, ctx: CallContext, sec: list[object]) -> Finding:
        c = ctx.call
        same = sec[_TOOL] == c.tool and sec[_SERVER] == c.server
        what = "the same tool" if same else f"a sibling of {sec[_SERVER]}/{sec[_TOOL]}"
        scope, creds = call_scope(ctx)
        return Finding(
            NAME,
            "hijack.retry_within_calls",
            "no retry of a denied call with the same or a sibling tool",
            "medium",
            f"{c.agent_id} called {c.server}/{c.tool}, {what}, {ctx.index - int(str(sec[_IDX]))} "
            "call(s) after the gateway denied it: working around a denial",
            [str(sec[_EID]), c.event_id],
            score=0.7,
            revoke=scope,
            credential_ids=creds,
            task_id=c.task_id,
            session_id=c.session_id,
            dedup=f"retry:{sec[_EID]}",
            details={"same_tool": same},
        )
