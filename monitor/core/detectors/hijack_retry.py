"""retry_after_denial: a sibling tool right after the gateway said no, or a third try.

Why: an injected goal does not give up at a denial. The agent reaches for a
sibling that does the same thing (``delete_repo`` denied, then ``delete_branch``
or ``deleteRepository``; ``send_email`` denied, then ``send_message`` on the same
server; the same tool name on another server), or keeps hammering the same call.
A benign agent may retry a denied call once (a transient error, a stale token:
the simulator's background traffic does so) and then reports back to its user.

Fires (medium), within ``hijack.retry_within_calls`` calls (default 3) and
``hijack.retry_within_seconds`` (default 300) of a call with outcome ``denied``,
when the agent calls

- a *sibling*: another tool of the same server whose name starts with the same
  distinctive verb (not ``get``, ``list``, ``read``, ``update``, ...), or a tool of
  the same name on another server; or
- the same high-impact tool (see :mod:`monitor.core.detectors.hijack`) again after
  it was denied twice in a row.

One alert per denial run.

Example: ``github/delete_repo`` denied, two calls later ``github/delete_branch``
→ medium. Near misses, quiet: ``github/search_code`` after the denial; the same
``delete_repo`` retried once (and allowed or denied).

State (``AgentState.sections["retry_after_denial"]``): the pending denial as
``[call index, time, server, tool, event id, denials in a row]`` (or nulls), under 1 KiB.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from monitor.core.detectors.base import CallContext, Finding, register
from monitor.core.detectors.hijack import (
    READ_WORDS,
    HijackDetector,
    high_impact,
    rules,
    section,
)
from monitor.core.detectors.hijack import target as call_scope
from monitor.core.state import AgentState

NAME = "retry_after_denial"
#: Name words too common to make two tools siblings.
GENERIC = READ_WORDS | {"tool", "api", "data", "info", "item", "items", "the", "by", "to", "v1",
                        "v2", "new", "all", "status", "check", "get", "set", "update", "create"}  # fmt: skip

_IDX, _T, _SERVER, _TOOL, _EID, _N = range(6)
_NONE: list[object] = [None] * 6
_FIRST = re.compile(r"[A-Za-z][a-z]*|[0-9]+")


def verb(tool: str) -> str:
    """The first word of a tool name, lower case: ``deleteRepo`` → ``delete``."""
    m = _FIRST.search(tool)
    return m.group(0).lower() if m else ""


def siblings(server_a: str, tool_a: str, server_b: str, tool_b: str) -> bool:
    """Another tool doing the same thing: same distinctive verb, or same name elsewhere."""
    if tool_a == tool_b:
        return server_a != server_b
    if server_a != server_b:
        return False
    v = verb(tool_a)
    return len(v) > 2 and v not in GENERIC and v == verb(tool_b)


def _fresh() -> list[Any]:
    return list(_NONE)


@register
class RetryAfterDenial(HijackDetector):
    name = NAME
    section = NAME
    size = 6

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        c = ctx.call
        sec = section(st, NAME, _fresh, 6)
        denied = c.outcome == "denied"
        if sec[_IDX] is not None:
            r = rules(ctx.charter)
            if ctx.index - sec[_IDX] > r.retry_within_calls or not (
                0 <= ctx.t - sec[_T] <= r.retry_within_seconds
            ):
                sec[:] = _NONE
            elif c.server == sec[_SERVER] and c.tool == sec[_TOOL]:
                if sec[_N] >= 2 and high_impact(ctx):
                    found = self._finding(ctx, sec)
                    sec[:] = _NONE
                    return [found]
                if not denied:
                    sec[:] = _NONE  # one retry that went through: not a pattern
                    return ()
                sec[_IDX], sec[_T], sec[_N] = ctx.index, ctx.t, sec[_N] + 1
                return ()
            elif siblings(sec[_SERVER], sec[_TOOL], c.server, c.tool):
                found = self._finding(ctx, sec)
                sec[:] = _NONE
                return [found]
        if denied and sec[_IDX] is None:
            sec[:] = [ctx.index, ctx.t, c.server, c.tool, c.event_id, 1]
        return ()

    def _finding(self, ctx: CallContext, sec: list[object]) -> Finding:
        c = ctx.call
        same = sec[_TOOL] == c.tool and sec[_SERVER] == c.server
        what = (
            f"the same tool, denied {sec[_N]} times in a row"
            if same
            else f"a sibling of {sec[_SERVER]}/{sec[_TOOL]}"
        )
        scope, creds = call_scope(ctx)
        return Finding(
            NAME,
            "hijack.retry_within_calls",
            "no working around a denial with a sibling tool or repeated tries",
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
