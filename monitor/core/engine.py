"""The Engine: one event in, a :class:`Decision` out.

Every shell (replay runner, Faust worker, revoker, tap) drives this one class.
It owns per-agent state (in any ``MutableMapping[str, AgentState]`` the shell
gives it), the charters in force, the event-time watermark and the timers that
fire from it. It never reads the wall clock: a shell that wants timers to fire
while traffic is quiet calls :meth:`Engine.advance_watermark` itself.

>>> from monitor.charter import Charter
>>> eng = Engine([Charter(agent="a", kind="autonomous", mode="enforce")])
>>> from monitor.events import decode_event
>>> d = eng.process(decode_event(b'{"type":"tool_call","event_id":"e1","ts":"2026-01-01T10:00:00Z",'
...     b'"agent_id":"a","server":"s","tool":"t","outcome":"ok","credential_id":"c1"}'))
>>> [(a.detector, a.severity) for a in d.alerts], [r.scope for r in d.revocations]
([('out_of_charter_tool', 'high')], ['credential'])
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.charter import Charter
from monitor.core.charter_update import check_update
from monitor.core.decision import DecisionStep
from monitor.core.detectors import REGISTRY, CallContext, Detector, Finding
from monitor.core.detectors.lingering import LingeringAccess
from monitor.core.policy import CharterSet, CompiledCharter
from monitor.core.redact import DEFAULT_REDACTION, RedactionRules, Redactor
from monitor.core.state import S_END_EVENT, S_ENDED, AgentState
from monitor.events import (
    CharterUpdated,
    CredentialIssued,
    CredentialRevoked,
    SponsorActive,
    SponsorEnded,
    TaskEnded,
    TaskStarted,
    ToolCall,
)
from monitor.outputs import Alert, RevocationCommand, Severity
from monitor.signing import Keyring


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Plain values; the shell builds them from its one settings object."""

    alert_dedup_seconds: float = 300.0
    revoke_min_severity: Severity = "high"
    force_observe: bool = False  # shadow mode for every charter
    clock_skew_seconds: float = 5.0
    allowed_lateness_seconds: float = 0.0
    detectors: tuple[str, ...] = ()  # empty: every registered detector
    charter_keys: Keyring | None = None  # charter_updated must be signed by one; None: unsigned ok
    redaction: RedactionRules = DEFAULT_REDACTION  # applied to alerts before they leave


@dataclass(slots=True)
class Decision:
    """What the engine decided for one event (or one watermark advance). Read-only for shells."""

    alerts: Sequence[Alert] = ()
    revocations: Sequence[RevocationCommand] = ()
    duplicate: bool = False

    def __bool__(self) -> bool:
        return bool(self.alerts or self.revocations)

    def merged(self, other: Decision) -> Decision:
        if not other:
            return self
        if not self:
            return other
        return Decision([*self.alerts, *other.alerts], [*self.revocations, *other.revocations])


NOTHING = Decision()
DUPLICATE = Decision(duplicate=True)


class Engine:
    def __init__(
        self,
        charters: CharterSet | Iterable[Charter] = (),
        settings: EngineSettings | None = None,
        states: MutableMapping[str, AgentState] | None = None,
    ) -> None:
        self.settings = settings = settings or EngineSettings()
        self.charters = charters if isinstance(charters, CharterSet) else CharterSet(charters)
        self.states: MutableMapping[str, AgentState] = {} if states is None else states
        names = settings.detectors or tuple(REGISTRY)
        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown detectors {unknown}; known: {sorted(REGISTRY)}")
        self.detectors: list[Detector] = [
            LingeringAccess(settings.clock_skew_seconds)
            if n == LingeringAccess.name
            else REGISTRY[n]()
            for n in names
        ]
        self._by_name = {d.name: d for d in self.detectors}
        self.decision = DecisionStep(
            settings.alert_dedup_seconds,
            settings.revoke_min_severity,
            settings.force_observe,
            Redactor(settings.redaction),
        )
        self.max_ts = float("-inf")
        self._timers: list[tuple[float, str]] = []
        self.dirty: set[str] = set()  # agents whose state changed since the shell last saved
        self.stats: Counter[str] = Counter()  # see counters()
        self.n_calls = 0
        # detectors that can fire, per (charter, agent kind): see Detector.wants_calls;
        # and those of them that learn after the decision (Detector.after_call)
        self._call_plan: dict[tuple[int, str], tuple[list[Detector], list[Detector]]] = {}
        self._call_plan_version = -1
        self._after: tuple[CallContext, list[Detector]] | None = None  # the call being decided
        self.rebuild_timers()

    # ------------------------------------------------------------------ public API
    @property
    def watermark(self) -> float:
        return self.max_ts - self.settings.allowed_lateness_seconds

    def process(self, event: Any) -> Decision:
        """Apply one decoded event (a refused charter update is a ``charter_rejected`` alert)."""
        stats = self.stats
        if isinstance(event, CharterUpdated):
            stats["events"] += 1
            return self._charter_updated(event)
        agent_id = event.agent_id
        st = self.states.get(agent_id) or self._new_state(agent_id)
        if st.seen_before(event.event_id):
            stats["duplicates"] += 1
            return DUPLICATE
        self.dirty.add(agent_id)
        t = event.ts.timestamp()
        out = NOTHING
        if t > self.max_ts:
            self.max_ts = t
            if self._timers and self._timers[0][0] <= self.watermark:
                out = self._fire_timers(self.watermark)
        charter = self.charters.for_agent(agent_id)
        after = None
        if type(event) is ToolCall:
            self.n_calls += 1
            findings, sponsor, cred = (
                self._call(event, t, st, charter),
                event.sponsor,
                event.credential_id,
            )
            after, self._after = self._after, None
        else:
            stats["events"] += 1
            stats[event.type] += 1
            findings = self._lifecycle(event, t, st, charter)
            sponsor, cred = getattr(event, "sponsor", None), getattr(event, "credential_id", None)
            due = st.next_due()
            if due is not None:
                heapq.heappush(self._timers, (due, agent_id))
        if t > st.last_ts:
            st.last_ts = t
        alerts: Sequence[Alert] = ()
        if findings:
            decided = self._decide(findings, t, st, charter, sponsor, cred)
            alerts = decided.alerts
            out = out.merged(decided)
        if after is not None:  # detectors that learn do so once the call has been judged
            ctx, learners = after
            for det in learners:
                det.after_call(ctx, st, findings, alerts)
        return out

    def counters(self) -> dict[str, int]:
        """Every counter (events, per type, duplicates, alerts per detector, …)."""
        out = dict(self.stats)
        out["events"] = out.get("events", 0) + self.n_calls
        out["tool_call"] = self.n_calls
        return out

    def advance_watermark(self, ts: float) -> Decision:
        """Move event time forward without an event (a quiet stream), firing due timers."""
        target = ts + self.settings.allowed_lateness_seconds
        if target > self.max_ts:
            self.max_ts = target
        if self._timers and self._timers[0][0] <= self.watermark:
            return self._fire_timers(self.watermark)
        return NOTHING

    def rebuild_timers(self) -> None:
        """Re-index pending timers from agent state (after a restore or rebalance)."""
        self._timers = [(t[0], agent_id) for agent_id, st in self.states.items() for t in st.timers]
        heapq.heapify(self._timers)

    def put_charter(self, charter: Charter) -> CompiledCharter:
        return self.charters.put(charter)

    # ------------------------------------------------------------------ internals
    def _new_state(self, agent_id: str) -> AgentState:
        st = self.states[agent_id] = AgentState(agent_id)
        return st

    def _call(
        self, call: ToolCall, t: float, st: AgentState, charter: CompiledCharter | None
    ) -> list[Finding]:
        st.n_calls += 1
        kind = call.agent_kind or (charter.kind if charter else None) or st.kind
        if kind is None:
            kind = "delegated" if call.sponsor else "autonomous"
        st.kind = kind
        if charter is not None:
            grant = charter.grant(call.server, call.tool)
            classes = charter.call_classes(grant, call.resources)
        else:
            grant, classes = None, frozenset()
        ctx = CallContext(call, t, kind, charter, grant, classes, st.n_calls)
        findings: list[Finding] = []
        if self._call_plan_version != self.charters.version:
            self._call_plan.clear()  # charters changed: object ids may be reused
            self._call_plan_version = self.charters.version
        plan_key = (id(charter), kind)
        planned = self._call_plan.get(plan_key)
        if planned is None:
            plan = [d for d in self.detectors if d.wants_calls(charter, kind)]
            learners = [d for d in plan if type(d).after_call is not Detector.after_call]
            planned = self._call_plan[plan_key] = (plan, learners)
        plan, learners = planned
        self._after = (ctx, learners) if learners else None
        for det in plan:
            found = det.on_call(ctx, st)
            if found:
                findings.extend(found)
        if call.task_id is not None and call.task_id not in st.tasks:
            st.start_task(call.task_id, t, call.sponsor)
        return findings

    def _lifecycle(
        self, ev: Any, t: float, st: AgentState, charter: CompiledCharter | None
    ) -> list[Finding]:
        if isinstance(ev, TaskStarted):
            st.start_task(ev.task_id, t, ev.sponsor)
            if ev.sponsor:
                st.sponsor_seen(ev.sponsor, t)
            if ev.agent_kind:
                st.kind = ev.agent_kind
        elif isinstance(ev, TaskEnded):
            st.end_task(ev.task_id, t, ev.event_id, ev.sponsor)
        elif isinstance(ev, CredentialIssued):
            st.issue_credential(ev.credential_id, ev.task_id, t, ev.expires_at.timestamp())
        elif isinstance(ev, CredentialRevoked):
            st.revoke_credential(ev.credential_id, t)
        elif isinstance(ev, SponsorActive):
            st.sponsor_seen(ev.sponsor, t)
        elif isinstance(ev, SponsorEnded):
            rec = st.sponsor(ev.sponsor)
            if rec[S_ENDED] is None or t < rec[S_ENDED]:
                rec[S_ENDED], rec[S_END_EVENT] = t, ev.event_id
        findings: list[Finding] = []
        for det in self.detectors:
            found = det.on_lifecycle(ev, t, st, charter)
            if found:
                findings.extend(found)
        return findings

    def _fire_timers(self, watermark: float) -> Decision:
        out = NOTHING
        heap = self._timers
        while heap and heap[0][0] <= watermark:
            _, agent_id = heapq.heappop(heap)
            st = self.states.get(agent_id)
            if st is None:
                continue
            due = st.pop_due(watermark)
            if not due:
                continue
            self.dirty.add(agent_id)
            charter = self.charters.for_agent(agent_id)
            for when, name, key in due:
                det = self._by_name.get(name)
                if det is None:
                    continue
                self.stats["timers_fired"] += 1
                findings = list(det.on_timer(key, when, st, charter))
                if findings:
                    out = out.merged(self._decide(findings, when, st, charter, None, None))
            # The heap holds one entry per agent and due time; the agent's next timer
            # (possibly set long ago, behind the one that just fired) needs its own.
            nxt = st.next_due()
            if nxt is not None:
                heapq.heappush(heap, (nxt, agent_id))
        return out

    def _decide(
        self,
        findings: list[Finding],
        t: float,
        st: AgentState,
        charter: CompiledCharter | None,
        sponsor: str | None,
        cred: str | None,
    ) -> Decision:
        alerts, commands, suppressed = self.decision.decide(findings, t, st, charter, sponsor, cred)
        stats = self.stats
        if suppressed:
            stats["alerts_suppressed"] += suppressed
        for a in alerts:
            stats[f"alerts.{a.detector}"] += 1
        if commands:
            stats["revocations"] += len(commands)
        return Decision(alerts, commands)

    def _charter_updated(self, ev: CharterUpdated) -> Decision:
        """Applied whole, or refused whole with an alert: see :mod:`monitor.core.charter_update`."""
        pattern = ev.charter.get("agent")
        current = self.charters.get(pattern) if isinstance(pattern, str) else None
        checked = check_update(ev, self.settings.charter_keys, current)
        if isinstance(checked, Alert):
            self.stats["charter_rejected"] += 1
            self.stats[f"alerts.{checked.detector}"] += 1
            return Decision([checked])
        self.charters.put(checked)
        self.stats["charter_updated"] += 1
        return NOTHING
