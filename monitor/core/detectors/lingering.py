"""lingering_access: authority that outlives its purpose.

- a call more than ``task_grace_seconds`` after its task ended;
- a call with a credential after it expired or was revoked;
- a credential issued with a TTL above ``limits.credential_max_ttl``, or for a
  task that already ended;
- a delegated agent acting with no task at all (delegated authority is bound to
  one task);
- and, proactively, at ``task_ended``: a revocation of every live credential of
  the task, without waiting for misuse (a routine command, not an alert).

``skew`` (engine setting ``clock_skew_seconds``) is the clock difference
between gateways and issuers we forgive before calling a credential expired or
revoked, or a call lingering after its task: a call stamped by one gateway a
few seconds after another gateway stamped ``task_ended`` may well have come
first. After a task ends, a call is forgiven for ``max(task_grace_seconds,
skew)`` — not their sum: the grace is the charter's tolerance, which already
absorbs clock disagreement whenever it is at least the skew, and adding both
would widen what an attacker gets; a charter with grace 0 still gets the skew.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.core.detectors.base import CallContext, Detector, Finding, fmt_seconds, register
from monitor.core.policy import CompiledCharter
from monitor.core.state import C_EXPIRES, C_REVOKED, C_TASK, T_END_EVENT, T_ENDED, AgentState
from monitor.events import CredentialIssued, TaskEnded


@register
class LingeringAccess(Detector):
    name = "lingering_access"

    def __init__(self, skew: float = 5.0) -> None:
        self.skew = skew

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        c = ctx.call
        t = ctx.t
        out: list[Finding] = []
        ch = ctx.charter
        task_id = c.task_id
        if task_id is None and c.credential_id is not None:
            # Gateways often log the token id (jti) but not the task: the credential
            # was issued for a task, so the call acts under that task's authority.
            cred = st.creds.get(c.credential_id)
            task_id = cred[C_TASK] if cred is not None else None
        if task_id is not None:
            task = st.task(task_id)
            if task is not None and task[T_ENDED] is not None:
                grace = ch.limits.task_grace_seconds if ch is not None else 30.0
                late = t - task[T_ENDED]
                if late > max(grace, self.skew):
                    creds = st.live_credentials(task_id, float("-inf"))
                    if c.credential_id and c.credential_id not in creds:
                        creds.append(c.credential_id)
                    ev = [task[T_END_EVENT], c.event_id] if task[T_END_EVENT] else [c.event_id]
                    out.append(
                        Finding(
                            self.name,
                            "limits.task_grace_seconds",
                            f"authority ends with the task (+{fmt_seconds(grace)} grace)",
                            "high",
                            f"{c.agent_id} called {c.server}/{c.tool} {fmt_seconds(late)} after its "
                            f"task {task_id} ended (grace {fmt_seconds(grace)})",
                            ev,
                            revoke="task",
                            credential_ids=creds,
                            task_id=task_id,
                            session_id=c.session_id,
                            dedup=f"task:{task_id}",
                            details={"seconds_after_end": round(late, 3)},
                        )
                    )
        elif ctx.kind == "delegated":
            out.append(
                Finding(
                    self.name,
                    "kind",
                    "delegated authority is bound to one task",
                    "medium",
                    f"delegated agent {c.agent_id} called {c.server}/{c.tool} outside any task",
                    [c.event_id],
                    session_id=c.session_id,
                    dedup="no-task",
                )
            )
        if c.credential_id is not None:
            cred = st.creds.get(c.credential_id)
            if cred is not None:
                out.extend(self._credential_use(ctx, cred))
        return out

    def _credential_use(self, ctx: CallContext, cred: list[Any]) -> list[Finding]:
        c = ctx.call
        cid = c.credential_id
        assert cid is not None
        revoked, expires = cred[C_REVOKED], cred[C_EXPIRES]
        if revoked is not None and ctx.t > revoked + self.skew:
            return [
                Finding(
                    self.name,
                    "credential_revoked",
                    "a revoked credential grants nothing",
                    "critical",
                    f"{c.agent_id} called {c.server}/{c.tool} with credential {cid} "
                    f"{fmt_seconds(ctx.t - revoked)} after it was revoked: revocation is not "
                    "being enforced",
                    [c.event_id],
                    revoke="credential",
                    credential_ids=[cid],
                    task_id=c.task_id,
                    session_id=c.session_id,
                    dedup=f"revoked:{cid}",
                )
            ]
        if expires is not None and ctx.t > expires + self.skew:
            return [
                Finding(
                    self.name,
                    "credential_expired",
                    "an expired credential grants nothing",
                    "high",
                    f"{c.agent_id} called {c.server}/{c.tool} with credential {cid} "
                    f"{fmt_seconds(ctx.t - expires)} after it expired",
                    [c.event_id],
                    revoke="credential",
                    credential_ids=[cid],
                    task_id=c.task_id,
                    session_id=c.session_id,
                    dedup=f"expired:{cid}",
                )
            ]
        return []

    def on_lifecycle(
        self, event: Any, t: float, st: AgentState, charter: CompiledCharter | None
    ) -> Sequence[Finding]:
        if isinstance(event, TaskEnded):
            creds = st.live_credentials(event.task_id, t)
            return [
                Finding(
                    self.name,
                    "task",
                    "authority ends when the task ends",
                    "info",
                    f"task {event.task_id} of {event.agent_id} ended: revoking its "
                    f"{len(creds)} live credential(s) proactively",
                    [event.event_id],
                    revoke="task",
                    credential_ids=creds,
                    task_id=event.task_id,
                    notify=False,
                    dedup=f"task-end:{event.task_id}",
                )
            ]
        if isinstance(event, CredentialIssued):
            return self._issued(event, t, st, charter)
        return ()

    def _issued(
        self, ev: CredentialIssued, t: float, st: AgentState, charter: CompiledCharter | None
    ) -> list[Finding]:
        out = []
        ttl = ev.expires_at.timestamp() - t
        max_ttl = charter.limits.credential_max_ttl if charter is not None else None
        if max_ttl is not None and ttl > max_ttl + self.skew:
            out.append(
                Finding(
                    self.name,
                    "limits.credential_max_ttl",
                    f"credentials live at most {fmt_seconds(max_ttl)}",
                    "high",
                    f"credential {ev.credential_id} for {ev.agent_id} was issued with a TTL of "
                    f"{fmt_seconds(ttl)}, above the charter maximum of {fmt_seconds(max_ttl)}",
                    [ev.event_id],
                    revoke="credential",
                    credential_ids=[ev.credential_id],
                    task_id=ev.task_id,
                    dedup=f"ttl:{ev.credential_id}",
                    details={"ttl_seconds": round(ttl, 3), "max_ttl_seconds": max_ttl},
                )
            )
        if ev.task_id is not None:
            task = st.task(ev.task_id)
            if task is not None and task[T_ENDED] is not None and t > task[T_ENDED] + self.skew:
                out.append(
                    Finding(
                        self.name,
                        "task",
                        "authority ends when the task ends",
                        "high",
                        f"credential {ev.credential_id} was issued to {ev.agent_id} for task "
                        f"{ev.task_id} {fmt_seconds(t - task[T_ENDED])} after the task ended",
                        [e for e in (task[T_END_EVENT], ev.event_id) if e],
                        revoke="credential",
                        credential_ids=[ev.credential_id],
                        task_id=ev.task_id,
                        dedup=f"issued-after-end:{ev.credential_id}",
                    )
                )
        return out
