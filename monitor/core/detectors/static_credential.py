"""static_credential: a call with no credential, or one never seen issued.

The lingering-access family (:mod:`monitor.core.detectors.lingering`): it reads
the same credential ledger (``AgentState.creds``, filled from
``credential_issued``), so it keeps no state of its own beyond one timer.

Under ``limits.require_jit_credentials`` (absent: true for delegated agents,
false for autonomous ones) every call must carry a credential that an issuer
announced with ``credential_issued``: a just-in-time, short-lived token. A
call with none, or with a credential id no issuer ever announced (a static API
key, a long-lived service token pasted into a config), is ``static_credential``
(high: the decision step revokes it in ``enforce`` mode, alerts only in
``observe``).

Timing. A call with no credential at all is judged at once: nothing that can
arrive later makes it carry one. A call whose credential is not (yet) in the
ledger is not judged at once, because the ``credential_issued`` event may come
from another issuer whose clock runs a little behind or whose pipeline is
slower: the detector sets a timer ``skew`` seconds (engine setting
``clock_skew_seconds``) after the call, and when the event-time watermark
passes it, the credential must have been issued no later than ``skew``
seconds after the call. With ``allowed_lateness_seconds`` the watermark itself
trails the newest event by the lateness, so an issue event that arrives that
much later is still in time. One timer per credential (the first call's);
at most :data:`MAX_WAITING` per agent, beyond which a call is judged at once,
so a flood of unknown keys cannot push other detectors' timers out.

Known limit: the ledger keeps the newest 32 credentials per agent
(``state.MAX_CREDS``); an agent holding more than 32 live credentials at once
could see its oldest judged never issued.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from monitor.core.detectors.base import CallContext, Detector, Finding, call_target, register
from monitor.core.policy import CompiledCharter
from monitor.core.state import C_ISSUED, AgentState

#: The timer fires this long after ``call + skew`` (see :meth:`StaticCredential.on_call`).
DEADLINE_SLACK = 0.001
#: timers this detector may hold per agent at once (state.MAX_TIMERS is shared)
MAX_WAITING = 4

CLAUSE = "limits.require_jit_credentials"
CLAUSE_TEXT = "every call carries a just-in-time credential seen issued; no static keys"


def _required(charter: CompiledCharter | None, kind: str) -> bool:
    return charter is not None and charter.limits.jit_required(kind)


@register
class StaticCredential(Detector):
    name = "static_credential"

    def __init__(self, skew: float = 5.0) -> None:
        self.skew = skew

    def wants_calls(self, charter: CompiledCharter | None, kind: str) -> bool:
        return _required(charter, kind)

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        if not _required(ctx.charter, ctx.kind):
            return ()
        c = ctx.call
        cid = c.credential_id
        if cid is None:
            scope, creds = call_target(ctx)
            return [
                Finding(
                    self.name,
                    CLAUSE,
                    CLAUSE_TEXT,
                    "high",
                    f"{c.agent_id} ({ctx.kind}) called {c.server}/{c.tool} without any "
                    "credential, yet its charter requires a just-in-time one on every call",
                    [c.event_id],
                    revoke=scope,
                    credential_ids=creds,
                    task_id=c.task_id,
                    session_id=c.session_id,
                    dedup="no-credential",
                    details={"credential": "none"},
                )
            ]
        rec = st.creds.get(cid)
        if rec is not None and rec[C_ISSUED] is not None:
            return ()
        waiting = [t for t in st.timers if t[1] == self.name]
        if any(orjson.loads(t[2])[0] == cid for t in waiting):
            return ()  # the first call with this credential is already waiting
        key = orjson.dumps([cid, c.event_id, ctx.t, c.task_id, c.session_id, ctx.kind]).decode()
        if len(waiting) >= MAX_WAITING:
            return self._judge(key, ctx.t, st, ctx.charter)
        # a millisecond after the deadline: the engine fires a timer before it applies an
        # event stamped at the same instant, and an issue stamped exactly call + skew is in time
        st.set_timer(ctx.t + self.skew + DEADLINE_SLACK, self.name, key)
        return ()

    def on_timer(
        self, key: str, t: float, st: AgentState, charter: CompiledCharter | None
    ) -> Sequence[Finding]:
        return self._judge(key, t, st, charter)

    def _judge(
        self, key: str, t: float, st: AgentState, charter: CompiledCharter | None
    ) -> list[Finding]:
        cid, event_id, call_t, task_id, session_id, kind = orjson.loads(key)
        if not _required(charter, kind):
            return []  # the charter changed meanwhile
        rec: list[Any] | None = st.creds.get(cid)
        issued = rec[C_ISSUED] if rec is not None else None
        if issued is not None and issued <= call_t + self.skew:
            return []
        when = (
            "was never seen issued"
            if issued is None
            else f"was issued only {issued - call_t:.0f} s after it was used"
        )
        return [
            Finding(
                self.name,
                CLAUSE,
                CLAUSE_TEXT,
                "high",
                f"{st.agent_id} ({kind}) called a tool with credential {cid}, which {when} "
                "(a static or long-lived key): its charter requires just-in-time credentials",
                [event_id],
                revoke="credential",
                credential_ids=[cid],
                task_id=task_id,
                session_id=session_id,
                dedup=f"static:{cid}",
                details={"credential_id": cid, "issued": issued is not None},
            )
        ]
