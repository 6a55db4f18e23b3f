"""high_impact_first_use: an agent uses a high-impact granted tool for the first time.

Why: a hijacked agent is steered to a tool it is allowed to use but never does —
``delete_repo``, ``transfer_funds``, ``invite_user``, ``share_file``. The charter
grants it, so ``out_of_charter_tool`` is silent; the agent's own life says it is new.

A tool is high impact when a word of its name or one of its capability classes
is in the built-in list (:data:`monitor.core.detectors.hijack.HIGH_IMPACT`) or the
charter's ``hijack.high_impact``. The first ``hijack.warmup_calls`` calls of an
agent's life (default 200) only learn which such tools it uses. After that, a
new one raises one medium alert when the agent read untrusted content within
the last ``hijack.provenance_window_calls`` calls of the session — a call whose
result carried values (``result_digests``) or of class ``read_untrusted`` — the
way an injected instruction arrives; with ``hijack.first_use_needs_read: false``,
whatever came before. A first use without such a read is learned quietly:
agents do pick up rarely used tools late in life (the simulator's do). Tools
the charter does not grant are left to ``out_of_charter_tool``.

Second, once the agent's toolset has **settled**, the first use of *any* granted
tool it never used, on a server it already works with, raises an alert in its
own session, with no read and no call-count warm-up needed: medium when the tool
is high impact, low otherwise. This is the tool-novelty signal for routine agents
with short lives and few tools (20 sessions of two tools each settle long before
200 calls). The toolset is settled when ``hijack.toolset_settled_sessions``
(default 5) sessions in a row brought no new granted tool **and** it is a
routine: each of its tools was used in at least ``hijack.toolset_routine_share``
(default 0.7) of the agent's sessions so far. An agent that picks from a long
tail of tools (a coding assistant that fetches a URL once in twenty sessions)
never settles as a routine and is left to the warm-up/read rule: novelty says
nothing there. One exception, a *sparse* toolset: after at least
``hijack.toolset_sparse_sessions`` sessions (default 20), the same quiet stretch,
and **no one-off tool** (every tool it used, it used in at least two sessions),
the toolset settles too. Good-Turing's estimate of the chance that the next
session brings a never-seen tool is the share of sessions whose tool was seen
only once: zero here. An agent that uses one main tool and a second one in
every tenth session is sparse but settled; one that keeps picking up one-offs is
not. Because the evidence is thinner, a sparse toolset learns a new *read* tool
(class ``read``/``read_untrusted`` or a read word: ``fetch_url``) quietly and
alerts only on the others.
Three more things keep it honest: a *sibling* of the settled toolset (same
server, same first two name words: ``update_reservation_passengers`` beside
``update_reservation_flights``) is the same capability and is learned quietly;
the first contact with a granted server the agent never used is left to the
warm-up/read rule (an operator grants a pager server for the rare incident);
and a new tool joins the toolset only after ``hijack.new_tool_sessions``
(default 2) sessions of use, each of which alerts once, so one hijacked session
cannot teach the agent its attacker's tool. Sessions are counted when the
session (else task) id changes; an agent whose calls carry neither never
settles.

Example: a mail assistant that for 300 calls used ``send_email`` reads an email,
then calls ``delete_folder`` (granted by ``mail/*``) → medium. Its 301st
``send_email`` is quiet, and so is a ``delete_folder`` in a session that read nothing.

State (``AgentState.sections["high_impact_first_use"]``): ``[tool keys, session key,
index of the last untrusted read, sessions seen, session of the last new tool,
families, settled (false, true, or :data:`SPARSE`), pending, servers, routine]``; tool keys are the newest :data:`MAX_TOOLS`
8-hex digests of ``server/tool``, families 8-hex digests of ``server`` plus the
first two name words (at most :data:`MAX_TOOLS`), pending ``[tool key, sessions
used, last session]`` for at most :data:`MAX_PENDING` tools, servers 8-hex digests
(at most :data:`MAX_SERVERS`), routine ``[tool key, sessions used, last session]``
counted until the toolset settles, then dropped (at most :data:`MAX_ROUTINE`
tools; one more marks the agent as no routine); under 3 KiB. A
3-item section from an earlier version is extended, not reset (its tools stay
learned).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from hashlib import blake2b
from typing import Any

from monitor.core.detectors.base import CallContext, Finding, register
from monitor.core.detectors.hijack import (
    _CAMEL,
    READ_WORDS,
    HijackDetector,
    high_impact,
    rules,
    section,
    session_key,
    words,
)
from monitor.core.detectors.hijack import target as call_scope
from monitor.core.state import AgentState
from monitor.output_contracts import Severity

NAME = "high_impact_first_use"
MAX_TOOLS = 64
MAX_PENDING = 16
MAX_SERVERS = 16
MAX_ROUTINE = 24
#: ``settled`` of a toolset that settled without being a routine (``True``: a routine)
SPARSE = 2
_USED, _SKEY, _READ, _SESSIONS, _LAST_NEW, _FAMILIES, _SETTLED, _PENDING, _SERVERS, _ROUTINE = (
    range(10)
)

_SPLIT = re.compile(r"[^A-Za-z0-9]+")


@lru_cache(maxsize=4096)
def tool_key(server: str, tool: str) -> str:
    return blake2b(f"{server}\x1f{tool}".encode(), digest_size=4).hexdigest()


@lru_cache(maxsize=4096)
def family(server: str, tool: str) -> str:
    """``server`` plus the first two words of ``tool``, in order (``update_reservation_*``)."""
    parts: list[str] = []
    for chunk in _SPLIT.split(tool):
        parts.extend(w.lower() for w in _CAMEL.findall(chunk))
    return blake2b(f"{server}\x1f{' '.join(parts[:2])}".encode(), digest_size=4).hexdigest()


def _fresh() -> list[Any]:
    return [[], "", None, 0, 0, [], False, [], [], []]


def _state(st: AgentState) -> list[Any]:
    return section(st, NAME, _fresh, 10)


def _count(sec: list[Any], key: str) -> None:
    """Count the sessions each tool was used in while the toolset is not settled."""
    routine: list[list[Any]] = sec[_ROUTINE]
    for entry in routine:
        if entry[0] == key:
            if entry[2] != sec[_SESSIONS]:
                entry[1] += 1
                entry[2] = sec[_SESSIONS]
            return
    if len(routine) < MAX_ROUTINE:
        routine.append([key, 1, sec[_SESSIONS]])
    elif routine[-1][0] != "*":  # more tools than a routine has: never settles
        routine.append(["*", 0, 0])


def _no_one_offs(routine: list[list[Any]]) -> bool:
    """Every tool counted so far was used in at least two sessions (and they fit the list)."""
    return routine[-1][0] != "*" and all(n >= 2 for _, n, _ in routine)


def _read_like(ctx: CallContext) -> bool:
    """A read by its capability classes or by a word of its name (``fetch_url``)."""
    c = ctx.classes
    return "read" in c or "read_untrusted" in c or not READ_WORDS.isdisjoint(words(ctx.call.tool))


def _learn(sec: list[Any], key: str, server: str, tool: str) -> None:
    used = sec[_USED]
    used.append(key)
    del used[: max(0, len(used) - MAX_TOOLS)]
    if not sec[_SETTLED]:
        sec[_LAST_NEW] = sec[_SESSIONS]
        fams = sec[_FAMILIES]
        fam = family(server, tool)
        if fam not in fams:
            fams.append(fam)
            del fams[: max(0, len(fams) - MAX_TOOLS)]
        srv = tool_key(server, "")
        if srv not in sec[_SERVERS]:
            sec[_SERVERS].append(srv)
            del sec[_SERVERS][: max(0, len(sec[_SERVERS]) - MAX_SERVERS)]


@register
class HighImpactFirstUse(HijackDetector):
    name = NAME
    section = NAME
    size = 10

    @classmethod
    def load_state(cls, data: Any) -> list[Any]:
        if isinstance(data, list) and len(data) == 3 and isinstance(data[0], list):
            # an earlier version's layout (before settling existed): keep its tools
            data = [*data, 0, 0, [], False, [], [], []]
        return super().load_state(data)

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        c = ctx.call
        sec = _state(st)
        r = rules(ctx.charter)
        skey = session_key(ctx)
        if sec[_SKEY] != skey:
            sec[_SKEY], sec[_READ] = skey, None
            sec[_SESSIONS] += 1
            settle = r.toolset_settled_sessions
            done = sec[_SESSIONS] - 1
            if (
                not sec[_SETTLED]
                and settle is not None
                and sec[_ROUTINE]
                and done - sec[_LAST_NEW] >= settle
            ):
                if min(n for _, n, _ in sec[_ROUTINE]) >= r.toolset_routine_share * done:
                    sec[_SETTLED] = True
                elif (
                    r.toolset_sparse_sessions is not None
                    and done >= r.toolset_sparse_sessions
                    and _no_one_offs(sec[_ROUTINE])
                ):
                    sec[_SETTLED] = SPARSE
            if sec[_SETTLED]:
                sec[_ROUTINE] = []  # only needed to settle
        if not sec[_SETTLED] and ctx.grant is not None:
            _count(sec, tool_key(c.server, c.tool))
        read_at = sec[_READ]
        if c.result_digests or "read_untrusted" in ctx.classes:
            sec[_READ] = ctx.index
        if ctx.grant is None:
            return ()
        key = tool_key(c.server, c.tool)
        if key in sec[_USED]:
            return ()
        hi = high_impact(ctx)
        if (
            sec[_SETTLED]
            and r.toolset_settled_sessions is not None
            and family(c.server, c.tool) not in sec[_FAMILIES]
            and tool_key(c.server, "") in sec[_SERVERS]
            and not (sec[_SETTLED] == SPARSE and _read_like(ctx))
        ):
            return self._new_tool(ctx, sec, key, hi, r.new_tool_sessions)
        _learn(sec, key, c.server, c.tool)
        if not hi:
            return ()
        warmup = r.warmup_calls
        if ctx.index <= warmup:
            return ()
        if r.first_use_needs_read and (
            read_at is None or ctx.index - read_at > r.provenance_window_calls
        ):
            return ()
        return [
            self._finding(
                ctx,
                key,
                "medium",
                "hijack.warmup_calls",
                "a high-impact tool first used after the agent's warm-up",
                f"for the first time in {ctx.index} calls: granted, but never part of its "
                "work so far",
                {"calls_before": ctx.index - 1, "warmup_calls": warmup},
                f"first_use:{key}",
            )
        ]

    def _new_tool(
        self, ctx: CallContext, sec: list[Any], key: str, hi: bool, learn_after: int
    ) -> Sequence[Finding]:
        """A tool outside a settled toolset: alert once per session until it is learned."""
        pending: list[list[Any]] = sec[_PENDING]
        entry = next((p for p in pending if p[0] == key), None)
        if entry is None:
            entry = [key, 0, -1]
            pending.append(entry)
            del pending[: max(0, len(pending) - MAX_PENDING)]
        if entry[2] == sec[_SESSIONS]:
            return ()  # already alerted in this session
        entry[1] += 1
        entry[2] = sec[_SESSIONS]
        nth = entry[1]
        if nth >= learn_after:
            pending.remove(entry)
            _learn(sec, key, ctx.call.server, ctx.call.tool)
        c = ctx.call
        return [
            self._finding(
                ctx,
                key,
                "medium" if hi else "low",
                "hijack.toolset_settled_sessions",
                "a tool outside the agent's settled toolset",
                f"outside its settled toolset ({sec[_SESSIONS] - 1} sessions, the last "
                f"{sec[_SESSIONS] - 1 - sec[_LAST_NEW]} of them without a new tool; use "
                f"{nth} of {learn_after} before it is learned)"
                + (", a high-impact tool" if hi else ""),
                {
                    "sessions_before": sec[_SESSIONS] - 1,
                    "settled_toolset": len(sec[_FAMILIES]),
                    "use": nth,
                },
                f"first_use:{key}:{c.session_id or c.task_id or ''}",
            )
        ]

    def _finding(
        self,
        ctx: CallContext,
        key: str,
        severity: Severity,
        rule: str,
        expected: str,
        what: str,
        details: dict[str, Any],
        dedup: str,
    ) -> Finding:
        c = ctx.call
        scope, creds = call_scope(ctx)
        return Finding(
            NAME,
            rule,
            expected,
            severity,
            f"{c.agent_id} used the {'high-impact ' if severity != 'low' else ''}tool "
            f"{c.server}/{c.tool} {what}",
            [c.event_id],
            score=0.7 if severity != "low" else 0.5,
            revoke=scope,
            credential_ids=creds,
            task_id=c.task_id,
            session_id=c.session_id,
            dedup=dedup,
            details=details,
        )
