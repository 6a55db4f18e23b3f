"""injected_destination: an egress argument that came from what the agent just read.

Why: a prompt-injected agent sends data to a destination its instructions did
not name — an address in an email body, an IBAN in a review, a link on a web
page. The destination looks ordinary (gmail.com, a normal bank), so domain
novelty misses it; what gives it away is *where it came from*. Gateways put
digests of the entity-like values each result carried in
``tool_call.result_digests`` (:mod:`monitor.core.values`); this detector
digests a high-impact call's arguments the same way and fires when one of them
matches a result of the last ``hijack.provenance_window_calls`` calls (default
8) of the same session (else task) and appeared neither in the arguments of the
session's first call (the stand-in for the user's request) nor as an argument
of the agent's earlier high-impact calls (its own history of destinations).

Example (default charter settings)::

    read_email(id=7)             -> result carries "eve@freemail.example"
    send_email(to="eve@freemail.example", body=...)   # high: injected_destination

whereas ``send_email(to="bob@corp.example")`` after the session's first call
named bob, or after the agent mailed bob last week, is quiet. Severity high: the
decision step revokes (credential, else session) under an ``enforce`` charter.

State (``AgentState.behav["injected_destination"]``), under 3 KiB:
``[session key, first-call digests, recent results, history]``; digests are
kept as their first 8 hex digits (a collision needs 2^32 tries per pair); recent
results are ``[call index, event id, digests]`` within the window, at most
:data:`MAX_RECENT` digests in all; the history keeps the newest
:data:`MAX_HISTORY` destination digests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.core.detectors.base import CallContext, Detector, Finding, register
from monitor.core.detectors.hijack import (
    arg_digests,
    enabled,
    high_impact,
    rules,
    section,
    session_key,
)
from monitor.core.detectors.hijack import target as call_scope
from monitor.core.policy import CompiledCharter
from monitor.core.state import AgentState

NAME = "injected_destination"
SHORT = 8  # hex digits of a digest kept in state
MAX_FIRST = 32
MAX_RECENT = 96
MAX_HISTORY = 96
MAX_KEYS = 16  # argument keys examined one by one (for the reason); the rest as one

_SKEY, _FIRST, _RECENT, _HIST = range(4)


def _short(digests: list[str]) -> list[str]:
    return [d[:SHORT] for d in digests]


@register
class InjectedDestination(Detector):
    name = NAME

    def wants_calls(self, charter: CompiledCharter | None, kind: str) -> bool:
        return enabled(charter, NAME)

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        c = ctx.call
        sec = section(st, NAME, ["", [], [], []], 4)
        skey = session_key(ctx)
        first_call = False
        if sec[_SKEY] != skey or not isinstance(sec[_RECENT], list):
            sec[_SKEY] = skey
            first = [d for _, ds in arg_digests(c, MAX_KEYS) for d in ds] if c.args else []
            sec[_FIRST] = list(dict.fromkeys(first))[:MAX_FIRST]
            sec[_RECENT] = []
            first_call = True
        recent: list[list[Any]] = sec[_RECENT]
        window = rules(ctx.charter).provenance_window_calls
        if recent and recent[0][0] < ctx.index - window:
            recent[:] = [r for r in recent if r[0] >= ctx.index - window]
        out: list[Finding] = []
        if c.args and not first_call and high_impact(ctx):
            per_key = arg_digests(c, MAX_KEYS)
            hist = sec[_HIST]
            known = set(sec[_FIRST]).union(hist)
            sources: dict[str, tuple[int, str]] = {}
            for idx, eid, ds in recent:
                for d in ds:
                    sources[d] = (idx, eid)
            hits = [(k, d) for k, ds in per_key for d in ds if d in sources and d not in known]
            if hits:
                out.append(self._finding(ctx, hits, sources))
            else:
                fresh = [d for _, ds in per_key for d in ds if d not in known]
                if fresh:
                    hist.extend(dict.fromkeys(fresh))
                    del hist[: max(0, len(hist) - MAX_HISTORY)]
        if c.result_digests:
            recent.append([ctx.index, c.event_id, _short(c.result_digests)])
            total = sum(len(r[2]) for r in recent)
            while total > MAX_RECENT and len(recent) > 1:
                total -= len(recent.pop(0)[2])
        return out

    def _finding(
        self,
        ctx: CallContext,
        hits: list[tuple[str, str]],
        sources: dict[str, tuple[int, str]],
    ) -> Finding:
        c = ctx.call
        keys = sorted({k for k, _ in hits})
        src = sorted({sources[d] for _, d in hits})
        src_ids = [eid for _, eid in src]
        scope, creds = call_scope(ctx)
        window = rules(ctx.charter).provenance_window_calls
        return Finding(
            NAME,
            "hijack.provenance_window_calls",
            f"an egress argument must not come from what the last {window} calls read",
            "high",
            f"{c.agent_id} called {c.server}/{c.tool} with {len(hits)} value(s) in argument(s) "
            f"{', '.join(repr(k) for k in keys)} that first appeared in the result of "
            f"{len(src_ids)} call(s) it had just made, not in its request or history: "
            "a destination taken from content it read (prompt injection)",
            [*dict.fromkeys(src_ids), c.event_id],
            score=1.0,
            revoke=scope,
            credential_ids=creds,
            task_id=c.task_id,
            session_id=c.session_id,
            dedup=f"provenance:{c.event_id}",
            details={
                "values": len(hits),
                "arguments": ",".join(keys)[:256],
                "calls_back": ctx.index - src[-1][0],
            },
        )
