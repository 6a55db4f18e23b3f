"""forbidden_chain: a charter-forbidden sequence of capability classes.

Compiled, per agent, into a tiny automaton over the chain's steps: for every
prefix length j it keeps only the partial match with the *latest* first step.
That is enough because both windows are measured from the first step, so a
later start dominates an earlier one with the same progress. Each call costs
O(steps) per chain, never a rescan of history, and state is O(steps).

Steps must be distinct calls, in order (one call that is both ``read_secret``
and ``egress`` is one step, not two). Calls the gateway *denied* do not advance
a chain (they did not happen) but do count towards ``within_calls``; a denied
call that *would have completed* one is reported as the attempt (``medium``, no
revocation: the gateway did its job), as an ungranted tool the gateway denied is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.charter import ForbiddenChain
from monitor.core.detectors.base import CallContext, Detector, Finding, fmt_seconds, register
from monitor.core.policy import CompiledCharter
from monitor.core.state import AgentState

_START, _T0, _IDS, _CREDS = range(4)


def _prefix_ok(p: Any) -> bool:
    return p is None or (
        isinstance(p, list)
        and len(p) == 4
        and type(p[_START]) is int
        and isinstance(p[_T0], int | float)
        and isinstance(p[_IDS], list)
        and isinstance(p[_CREDS], list)
    )


def _alive(
    p: list[Any], index: int, t: float, within_calls: int | None, within_s: float | None
) -> bool:
    if within_calls is not None and index - p[_START] + 1 > within_calls:
        return False
    return within_s is None or t - p[_T0] <= within_s


@register
class ForbiddenChainDetector(Detector):
    name = "forbidden_chain"
    #: chain name -> [signature, prefixes]; prefix j = [start call, start ts, ids, creds] | None
    section = "forbidden_chain"

    @classmethod
    def load_state(cls, data: Any) -> dict[str, list[Any]]:
        if not isinstance(data, dict) or not all(
            isinstance(slot, list)
            and len(slot) == 2
            and isinstance(slot[0], str)
            and isinstance(slot[1], list)
            and all(map(_prefix_ok, slot[1]))
            for slot in data.values()
        ):
            raise ValueError("not {chain: [signature, [prefix | null, ...]]}")
        return data

    def wants_calls(self, charter: CompiledCharter | None, kind: str) -> bool:
        return charter is not None and bool(charter.chains)

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        ch = ctx.charter
        if ch is None or not ch.chains:
            return ()
        classes = ctx.classes
        if not classes:
            return ()
        if ctx.call.outcome == "denied":
            return self._attempted(ctx, st)
        out: list[Finding] = []
        c = ctx.call
        chains: dict[str, list[Any]] | None = st.sections.get("forbidden_chain")
        for chain in ch.chains:
            seq = chain.sequence
            if not classes.intersection(seq):
                continue
            if chains is None:
                chains = st.sections["forbidden_chain"] = {}
            sig = "/".join(seq)
            slot = chains.get(chain.name)
            if slot is None or slot[0] != sig:
                slot = chains[chain.name] = [sig, [None] * (len(seq) - 1)]
            prefixes: list[Any] = slot[1]
            k = len(seq)
            # Highest progress first, so one call advances a partial match by one step only.
            for j in range(k - 1, 0, -1):
                p = prefixes[j - 1]
                if p is None or seq[j] not in classes:
                    continue
                if not _alive(p, ctx.index, ctx.t, chain.within_calls, chain.within_seconds):
                    prefixes[j - 1] = None
                    continue
                ids = [*p[_IDS], c.event_id]
                creds = p[_CREDS] + ([c.credential_id] if c.credential_id else [])
                if j == k - 1:
                    out.append(
                        self._finding(
                            ctx, chain, ids, creds, ctx.t - p[_T0], ctx.index - p[_START] + 1
                        )
                    )
                    prefixes = slot[1] = [None] * (k - 1)
                    break
                nxt = prefixes[j]
                if nxt is None or nxt[_START] <= p[_START]:
                    prefixes[j] = [p[_START], p[_T0], ids, creds]
            # The call may also open a new partial match (even the one that just completed).
            if seq[0] in classes:
                prefixes[0] = [
                    ctx.index,
                    ctx.t,
                    [c.event_id],
                    [c.credential_id] if c.credential_id else [],
                ]
        return out

    def _attempted(self, ctx: CallContext, st: AgentState) -> list[Finding]:
        """A denied call that would have completed a chain: the attempt, nothing advanced.

        As for an ungranted tool the gateway denied: ``medium``, no revocation (the
        gateway did its job), but seen — an agent reaching for the last step of an
        exfiltration is a hijack signal. This is also how the worker agrees with a
        proxy that refused the call inline for completing the chain.
        """
        ch = ctx.charter
        assert ch is not None
        c = ctx.call
        out: list[Finding] = []
        chains = st.sections.get("forbidden_chain") or {}
        for chain in ch.chains:
            seq = chain.sequence
            slot = chains.get(chain.name)
            if seq[-1] not in ctx.classes or slot is None or slot[0] != "/".join(seq):
                continue
            p = slot[1][-1]
            if p is None or not _alive(
                p, ctx.index, ctx.t, chain.within_calls, chain.within_seconds
            ):
                continue
            creds = p[_CREDS] + ([c.credential_id] if c.credential_id else [])
            f = self._finding(
                ctx,
                chain,
                [*p[_IDS], c.event_id],
                creds,
                ctx.t - p[_T0],
                ctx.index - p[_START] + 1,
            )
            f.severity, f.revoke = "medium", None
            f.reason = f.reason.replace("performed", "attempted", 1) + " (the gateway denied it)"
            f.dedup = f"chain-denied:{chain.name}:{p[_IDS][0]}"
            f.details["denied"] = True
            out.append(f)
        return out

    def _finding(
        self,
        ctx: CallContext,
        chain: ForbiddenChain,
        ids: list[str],
        creds: list[str],
        span_s: float,
        span_calls: int,
    ) -> Finding:
        c = ctx.call
        name, seq = chain.name, chain.sequence
        limits = []
        if chain.within_calls is not None:
            limits.append(f"{chain.within_calls} calls")
        if chain.within_seconds is not None:
            limits.append(fmt_seconds(chain.within_seconds))
        creds = sorted(set(creds))
        return Finding(
            self.name,
            f"forbidden_chains.{name}",
            f"{' → '.join(seq)} within {' and '.join(limits) or 'any window'}",
            "critical",
            f"{c.agent_id} performed the forbidden chain '{name}' ({' → '.join(seq)}) in "
            f"{span_calls} calls over {fmt_seconds(span_s)}, ending with {c.server}/{c.tool}",
            ids,
            revoke="credential" if creds else ("session" if c.session_id else "agent"),
            credential_ids=creds,
            task_id=c.task_id,
            session_id=c.session_id,
            dedup=f"chain:{name}:{ids[0]}",
            details={"chain": name, "span_calls": span_calls, "span_seconds": round(span_s, 3)},
        )
