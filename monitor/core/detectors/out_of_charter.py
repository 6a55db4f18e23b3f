"""out_of_charter_tool: a call to a server, tool, tenant, data domain or resource
the charter does not grant, or outside the charter's hours.

A call the gateway already *denied* still raises an alert (an agent trying
ungranted tools is a hijack signal) but at ``medium`` with no revocation: the
gateway did its job. Unknown tenant or domain (the gateway did not log it) is not
judged: we cannot tell, and guessing would be noise.

An agent no charter covers raises one ``medium`` alert per dedup window
(observe: with no charter nothing is enforced), whatever it sends first: a
tool call, a task, a credential or a sponsor event. Its authority is
undefined, and an id spelled so that it matches no charter must be seen, not
silently observed. An analyst's ``alert_feedback`` is not the agent's doing
and raises nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.core.detectors.base import CallContext, Detector, Finding, call_target, register
from monitor.core.policy import CompiledCharter
from monitor.core.state import AgentState
from monitor.core.uris import canonical_resource
from monitor.events import AlertFeedback
from monitor.output_contracts import Severity

#: One breach of a charter's scope: clause key, clause text, reason, dedup key, details.
_Problem = tuple[str, str, str, str, dict[str, str | int | float | bool | None]]


@register
class OutOfCharterTool(Detector):
    name = "out_of_charter_tool"

    def _uncovered(
        self,
        what: str,
        event: Any,
        details: dict[str, str | int | float | bool | None],
        task_id: str | None,
    ) -> list[Finding]:
        """The one finding for an agent no charter covers, whatever it sent (``what``)."""
        return [
            Finding(
                self.name,
                "charter",
                "no charter covers this agent",
                "medium",
                f"{event.agent_id} {what} but no charter covers this agent: its authority "
                "is undefined",
                [event.event_id],
                task_id=task_id,
                dedup="no-charter",
                details=details,
            )
        ]

    def on_lifecycle(
        self, event: Any, t: float, st: AgentState, charter: CompiledCharter | None
    ) -> Sequence[Finding]:
        if charter is not None or type(event) is AlertFeedback:
            return ()
        what = f"sent {event.type} {event.event_id}"
        return self._uncovered(
            what, event, {"event_type": event.type}, getattr(event, "task_id", None)
        )

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        ch = ctx.charter
        c = ctx.call
        if ch is None:
            what = f"called {c.server}/{c.tool}"
            return self._uncovered(what, c, {"server": c.server, "tool": c.tool}, None)
        problems = _scope_problems(ctx, ch)
        out: list[Finding] = []
        if problems:
            self._scope_findings(ctx, problems, out)
        if ch.hours is not None:
            late = self._off_hours(ctx, ch)
            if late is not None:
                out.append(late)
        return out

    def _scope_findings(
        self, ctx: CallContext, problems: list[_Problem], out: list[Finding]
    ) -> None:
        """One finding per breach of the charter's scope, appended to ``out``.

        A call the gateway denied is ``medium`` with no revocation (the gateway did
        its job); one it let through is ``high`` and revokes the narrowest scope
        that ends the access it used.
        """
        c = ctx.call
        denied = c.outcome == "denied"
        severity: Severity = "medium" if denied else "high"
        scope, creds = call_target(ctx)
        was = " (the gateway denied it)" if denied else ""
        for key, text, reason, dedup, details in problems:
            out.append(
                Finding(
                    self.name,
                    key,
                    text,
                    severity,
                    reason + was,
                    [c.event_id],
                    revoke=None if denied else scope,
                    credential_ids=creds,
                    task_id=c.task_id,
                    session_id=c.session_id,
                    dedup=dedup,
                    details=details,
                )
            )

    def _off_hours(self, ctx: CallContext, ch: CompiledCharter) -> Finding | None:
        """The finding for a call outside the charter's hours (UTC), or None inside them."""
        minute = int(ctx.t // 60) % 1440  # UTC minute of the day
        if ch.in_hours(minute):
            return None
        c = ctx.call
        hhmm = f"{minute // 60:02d}:{minute % 60:02d}"
        return Finding(
            self.name,
            "limits.hours",
            f"hours {ch.limits.hours} UTC",
            "medium",
            f"{c.agent_id} called {c.server}/{c.tool} at {hhmm} UTC, outside its "
            f"charter's hours {ch.limits.hours} UTC",
            [c.event_id],
            task_id=c.task_id,
            session_id=c.session_id,
            dedup="hours",
            details={"time": hhmm},
        )


def _scope_problems(ctx: CallContext, ch: CompiledCharter) -> list[_Problem]:
    """What a call breaches of its charter's scope: server/tool, tenant, data domain, resources.

    An unknown tenant or domain (the gateway did not log it) breaches nothing.
    """
    c = ctx.call
    problems: list[_Problem] = []
    if ctx.grant is None:
        problems.append(
            (
                "tools",
                f"grants {len(ch.charter.tools)} tools; not {c.server}/{c.tool}",
                f"{c.agent_id} called {c.server}/{c.tool}, which its charter ({ch.pattern}) does "
                "not grant",
                f"tool:{c.server}/{c.tool}",
                {"server": c.server, "tool": c.tool},
            )
        )
    if ch.tenants is not None and c.tenant is not None and c.tenant not in ch.tenants:
        problems.append(
            (
                "tenants",
                f"tenants {sorted(ch.tenants)}",
                f"{c.agent_id} acted in tenant {c.tenant!r}, outside its charter's tenants "
                f"{sorted(ch.tenants)}",
                f"tenant:{c.tenant}",
                {"tenant": c.tenant},
            )
        )
    if (
        ch.data_domains is not None
        and c.data_domain is not None
        and c.data_domain not in ch.data_domains
    ):
        problems.append(
            (
                "data_domains",
                f"data domains {sorted(ch.data_domains)}",
                f"{c.agent_id} touched data domain {c.data_domain!r}, outside its charter's "
                f"domains {sorted(ch.data_domains)}",
                f"domain:{c.data_domain}",
                {"data_domain": c.data_domain},
            )
        )
    if ch.allowed_resources is not None and c.resources:
        bad = [r for r in c.resources if not ch.resource_allowed(r)]
        if bad:
            named = [_as_resolved(r) for r in bad[:3]]
            shown = ", ".join(named) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            problems.append(
                (
                    "resources",
                    f"resources {ch.charter.resources}",
                    f"{c.agent_id} called {c.server}/{c.tool} on {shown}, outside its charter's "
                    "resources",
                    f"resource:{bad[0]}",
                    {"resource": bad[0]},
                )
            )
    return problems


def _as_resolved(resource: str) -> str:
    """A resource as the alert names it: with what it resolves to, when that differs."""
    resolved = canonical_resource(resource)
    return resource if resolved == resource else f"{resource} (resolves to {resolved})"
