"""absent_sponsor: a delegated agent acting when its human sponsor is gone.

Delegated authority is borrowed from a person. It fires when a delegated call
comes after the sponsor's ``sponsor_ended`` (plus the task grace), or more than
``limits.sponsor_quiet_seconds`` after the sponsor was last seen
(``sponsor_active``, or starting the task). With no sponsor activity on record
at all the quiet rule cannot judge and stays silent.

Proactively, an event-time timer fires ``task_grace_seconds`` after
``sponsor_ended``: tasks of that sponsor still open then are revoked, so
authority ends even if the agent never calls again (a routine command).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.core.detectors.base import CallContext, Detector, Finding, fmt_seconds, register
from monitor.core.policy import CompiledCharter
from monitor.core.state import S_ACTIVE, S_END_EVENT, S_ENDED, T_ENDED, T_SPONSOR, AgentState
from monitor.events import SponsorEnded


def _grace(charter: CompiledCharter | None) -> float:
    return charter.limits.task_grace_seconds if charter is not None else 30.0


@register
class AbsentSponsor(Detector):
    name = "absent_sponsor"

    def __init__(self, skew: float = 5.0) -> None:
        # clock difference between the sponsor's IdP and the gateways: a call stamped
        # within max(grace, skew) of sponsor_ended is forgiven (see lingering.py)
        self.skew = skew

    def wants_calls(self, charter: CompiledCharter | None, kind: str) -> bool:
        return kind == "delegated"

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        if ctx.kind != "delegated":
            return ()
        c = ctx.call
        sponsor = c.sponsor
        if sponsor is None and c.task_id is not None:
            task = st.task(c.task_id)
            sponsor = task[T_SPONSOR] if task is not None else None
        if sponsor is None:
            return [
                Finding(
                    self.name,
                    "kind",
                    "a delegated agent acts for a named human",
                    "medium",
                    f"delegated agent {c.agent_id} called {c.server}/{c.tool} with no sponsor on "
                    "record",
                    [c.event_id],
                    task_id=c.task_id,
                    session_id=c.session_id,
                    dedup="no-sponsor",
                )
            ]
        rec = st.sponsors.get(sponsor)
        if rec is None:
            return ()
        grace = max(_grace(ctx.charter), self.skew)
        ended = rec[S_ENDED]
        if ended is not None and ctx.t > ended + grace:
            return [
                self._finding(
                    ctx,
                    sponsor,
                    "sponsor_ended",
                    f"{fmt_seconds(ctx.t - ended)} after sponsor {sponsor}'s session ended",
                    [rec[S_END_EVENT], c.event_id] if rec[S_END_EVENT] else [c.event_id],
                )
            ]
        quiet = ctx.charter.limits.sponsor_quiet_seconds if ctx.charter is not None else None
        last = rec[S_ACTIVE]
        if quiet is not None and last is not None and ctx.t - last > quiet:
            return [
                self._finding(
                    ctx,
                    sponsor,
                    "limits.sponsor_quiet_seconds",
                    f"while sponsor {sponsor} has been quiet for {fmt_seconds(ctx.t - last)} "
                    f"(limit {fmt_seconds(quiet)})",
                    [c.event_id],
                )
            ]
        return ()

    def _finding(
        self, ctx: CallContext, sponsor: str, key: str, when: str, ev: list[str]
    ) -> Finding:
        c = ctx.call
        creds = [c.credential_id] if c.credential_id else []
        return Finding(
            self.name,
            key,
            "delegated authority ends when its sponsor is gone",
            "high",
            f"delegated agent {c.agent_id} called {c.server}/{c.tool} {when}: it is acting "
            "autonomously on borrowed authority",
            ev,
            revoke="task" if c.task_id else ("credential" if creds else "agent"),
            credential_ids=creds,
            task_id=c.task_id,
            session_id=c.session_id,
            dedup=f"{key}:{sponsor}",
            details={"sponsor": sponsor},
        )

    def on_lifecycle(
        self, event: Any, t: float, st: AgentState, charter: CompiledCharter | None
    ) -> Sequence[Finding]:
        if isinstance(event, SponsorEnded):
            st.set_timer(t + _grace(charter), self.name, event.sponsor)
        return ()

    def on_timer(
        self, key: str, t: float, st: AgentState, charter: CompiledCharter | None
    ) -> Sequence[Finding]:
        rec = st.sponsors.get(key)
        if rec is None or rec[S_ENDED] is None:
            return ()  # the sponsor came back
        out = []
        for task_id, task in st.tasks.items():
            if task[T_SPONSOR] != key or task[T_ENDED] is not None:
                continue
            creds = st.live_credentials(task_id, t)
            out.append(
                Finding(
                    self.name,
                    "sponsor_ended",
                    "delegated authority ends when its sponsor is gone",
                    "info",
                    f"task {task_id} of {st.agent_id} is still open {fmt_seconds(t - rec[S_ENDED])} "
                    f"after its sponsor {key} left: revoking it and its {len(creds)} live "
                    "credential(s) proactively",
                    [rec[S_END_EVENT]] if rec[S_END_EVENT] else [],
                    revoke="task",
                    credential_ids=creds,
                    task_id=task_id,
                    notify=False,
                    dedup=f"orphan:{task_id}",
                )
            )
        return out
