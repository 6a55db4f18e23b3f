"""The Engine: one event in, a :class:`Decision` out.

Every shell (replay runner, Faust worker, revoker, tap) drives this one class.
It owns per-agent state (in any ``MutableMapping[str, AgentState]`` the shell
gives it), the charters in force, the event-time watermark and the timers that
fire from it. It never reads the wall clock: a shell that wants timers to fire
while traffic is quiet calls :meth:`Engine.advance_watermark` itself.

Event time. The watermark is the newest event time seen minus
``allowed_lateness_seconds``. An event at or after the watermark is held (in
its agent's state, so a restart keeps it) until the watermark passes it, and
held events are applied in (event time, event id) order with timers fired
between them: within the lateness, out-of-order arrival gives exactly the
alerts of the sorted stream. With lateness 0 (the default) nothing is held.
An event *behind* the watermark is late: it is applied at once — never
dropped, so lateness cannot hide a call or a revocation — counted
(``late_events``) and flagged with a ``late_event`` alert (low, one per agent
per dedup window) saying that order-dependent checks may have misjudged it.
Set the lateness to the worst pipeline delay plus the clock skew between
gateways; alerts then wait that long in event time. Per agent at most
``MAX_PENDING`` events and ``MAX_PENDING_BYTES`` are held; beyond that the
oldest is applied early (``held_overflow``). :meth:`Engine.drain` applies what is held at the end of a replay.

An event stamped more than ``max_future_seconds`` (default 300 s) ahead of
the clock of the process judging it is refused, not applied:
:meth:`Engine.process` raises :class:`~monitor.errors.DecodeError` on ``ts``
and the shell dead-letters it (``future_events`` counts them). Applied, one
event stamped 2199 would move event time to 2199: every later event of every
agent late, every timer due at once. No event can truly have happened after
the moment it is judged, so the judging process's clock is the one bound that
never refuses a real event — a bound measured from the newest event time
would refuse everything after a silence longer than itself (a quiet weekend, a
worker restarted after an outage). The core never reads a clock: the shell
sets :attr:`Engine.clock` (replay and the worker do, per event); while it is
``None`` (tests, ``evaluate``, benchmarks) no event is refused for its time,
and for any time the shell can give, the outcome of every event that is not
from the future is the same, so a replay stays deterministic.

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
from monitor.core.detectors.base import fmt_seconds
from monitor.core.detectors.lingering import LingeringAccess
from monitor.core.detectors.sponsor import AbsentSponsor
from monitor.core.detectors.static_credential import StaticCredential
from monitor.core.feedback_ranker import FeedbackRanker, RankerSettings
from monitor.core.policy import CharterSet, CompiledCharter
from monitor.core.redact import DEFAULT_REDACTION, RedactionRules, Redactor
from monitor.core.state import (
    MAX_PENDING,
    MAX_PENDING_BYTES,
    S_END_EVENT,
    S_ENDED,
    AgentState,
    held_size,
)
from monitor.errors import DecodeError
from monitor.events import (
    AlertFeedback,
    CharterUpdated,
    CredentialIssued,
    CredentialRevoked,
    SponsorActive,
    SponsorEnded,
    TaskEnded,
    TaskStarted,
    ToolCall,
)
from monitor.output_contracts import Alert, RevocationCommand, Severity
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
    charter_keys: Keyring | None = None  # charter_updated must be signed by one of them ...
    charter_allow_unsigned: bool = False  # ... unless this: unsigned applied, with an alert
    redaction: RedactionRules = DEFAULT_REDACTION  # applied to alerts before they leave
    max_future_seconds: float = 300.0  # ahead of Engine.clock: refused; 0 no bound
    #: learn analysts' alert_feedback verdicts, annotate alerts (details.feedback_score):
    #: monitor/core/feedback_ranker.py; off: no river import, outputs unchanged
    feedback_ranker: bool = False


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
        ranker: FeedbackRanker | None = None,
    ) -> None:
        self.settings = settings = settings or EngineSettings()
        #: the alert-verdict model (pass one to share it between engines, e.g. partitions)
        self.ranker = ranker
        if ranker is None and settings.feedback_ranker:
            self.ranker = FeedbackRanker(RankerSettings())
        self.charters = charters if isinstance(charters, CharterSet) else CharterSet(charters)
        self.states: MutableMapping[str, AgentState] = {} if states is None else states
        names = settings.detectors or tuple(REGISTRY)
        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown detectors {unknown}; known: {sorted(REGISTRY)}")
        skewed: dict[str, type[LingeringAccess | AbsentSponsor | StaticCredential]] = {
            LingeringAccess.name: LingeringAccess,
            AbsentSponsor.name: AbsentSponsor,
            StaticCredential.name: StaticCredential,
        }
        self.detectors: list[Detector] = [
            skewed[n](settings.clock_skew_seconds) if n in skewed else REGISTRY[n]() for n in names
        ]
        self._by_name = {d.name: d for d in self.detectors}
        self.decision = DecisionStep(
            settings.alert_dedup_seconds,
            settings.revoke_min_severity,
            settings.force_observe,
            Redactor(settings.redaction),
        )
        self.max_ts = float("-inf")
        #: the judging process's wall clock (epoch seconds), set by the shell; None: no
        #: future bound (see "An event stamped more than max_future_seconds" above)
        self.clock: float | None = None
        self._timers: list[tuple[float, str]] = []
        self.dirty: set[str] = set()  # agents whose state changed since the shell last saved
        self.stats: Counter[str] = Counter()  # see counters()
        self.n_calls = 0
        # detectors that can fire, per (charter, agent kind): see Detector.wants_calls;
        # and those of them that learn after the decision (Detector.after_call)
        self._call_plan: dict[tuple[int, str], tuple[list[Detector], list[Detector]]] = {}
        self._call_plan_version = -1
        self._after: tuple[CallContext, list[Detector]] | None = None  # the call being decided
        # events held for reordering, (ts, event_id, agent_id, seq): see "Event time" above
        self._held: list[tuple[float, str, str, int]] = []
        self._seq = 0
        self.rebuild_timers()
        if self.states:  # restored: event time resumes where the states left it ...
            # ... at the *oldest* agent clock, not the newest. A worker that crashed in the
            # middle of writing its agents left some states ahead of the committed input
            # offset and some behind; the redelivered events of those behind are not late,
            # and the newest clock would flag them so (tests/integration/test_faults_worker_
            # crash.py found it). The first event processed moves event time on from there.
            clocks = [max([st.last_ts, *(p[0] for p in st.pending)]) for st in self.states.values()]
            self.max_ts = min(clocks)

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
        t = event.ts.timestamp()
        clock = self.clock
        if clock is not None and t > clock + self.settings.max_future_seconds > clock:
            self._refuse_future(event, t, clock)
        st = self.states.get(agent_id) or self._new_state(agent_id)
        if st.seen_before(event.event_id):
            stats["duplicates"] += 1
            return DUPLICATE
        self.dirty.add(agent_id)
        lateness = self.settings.allowed_lateness_seconds
        if t < self.max_ts - lateness:
            return self._late(event, t, st)
        if lateness > 0 or self._held:
            return self._hold(event, t, st)
        out = NOTHING  # no reordering: the event is applied as it arrives
        if t > self.max_ts:
            self.max_ts = t
            if self._timers and self._timers[0][0] <= t:
                out = self._fire_timers(t)
        return out.merged(self._apply(event, t, st))

    def _apply(self, event: Any, t: float, st: AgentState) -> Decision:
        """Judge one event at its event time ``t`` and update the agent's state."""
        stats = self.stats
        agent_id = st.agent_id
        out = NOTHING
        charter = self.charters.for_agent(agent_id)
        after = None
        if type(event) is ToolCall:
            self.n_calls += 1
            due_before = st.next_due() if st.timers else None
            findings, sponsor, cred = (
                self._call(event, t, st, charter),
                event.sponsor,
                event.credential_id,
            )
            after, self._after = self._after, None
            if st.timers:  # a detector may set a timer on a call (static_credential)
                due = st.next_due()
                if due is not None and due != due_before:
                    heapq.heappush(self._timers, (due, agent_id))
        else:
            stats["events"] += 1
            stats[event.type] += 1
            if self.ranker is not None and type(event) is AlertFeedback:
                self.ranker.learn(event.alert_id, event.verdict)
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
            if self.ranker is not None and decided.alerts:
                decided = self._ranked(decided, event)
            alerts = decided.alerts
            out = decided
        if after is not None and findings:  # detectors learn from a judged call's findings
            ctx, learners = after
            for det in learners:
                det.after_call(ctx, st, findings, alerts)
        return out

    def _ranked(self, decided: Decision, event: Any) -> Decision:
        """Each alert annotated with the feedback ranker's ``P(malicious)`` (never demoted
        here: demotion lost on the held-out corpora, see results/feedback_ranker.md)."""
        ranker = self.ranker
        if ranker is None:
            return decided
        tool = f"{event.server}/{event.tool}" if type(event) is ToolCall else None
        alerts = [ranker.annotate(a, tool) for a in decided.alerts]
        return Decision(alerts, decided.revocations)

    def _refuse_future(self, event: Any, t: float, clock: float) -> None:
        """An event stamped too far ahead of the judging clock: bad input, never applied.

        The reason names no clock reading, so the same message gets the same reason
        in every process that refuses it (replay, a redelivery, another worker).
        """
        self.stats["future_events"] += 1
        bound = self.settings.max_future_seconds
        raise DecodeError(
            f"ts: {event.ts.isoformat()} is more than max_future_seconds={bound:g} ahead of the "
            "judging clock, the ceiling of the event-time watermark: a gateway clock or a "
            "forged time",
            "ts",
        )

    def _late(self, event: Any, t: float, st: AgentState) -> Decision:
        """An event older than the watermark: judged now, out of order, and flagged.

        Never dropped: a late ``credential_revoked`` or call still counts, and an
        attacker must not be able to hide a call by making it late. But the
        judgement may be wrong where order matters (a chain step, a call seen
        before its task's end), so a ``late_event`` alert (low, one per agent per
        dedup window) tells the SOC, and ``late_events`` counts every one.
        """
        behind = self.watermark - t
        self.stats["late_events"] += 1
        out = self._apply(event, t, st)
        lateness = self.settings.allowed_lateness_seconds
        finding = Finding(
            "late_event",
            "allowed_lateness_seconds",
            f"events are judged in event-time order within {fmt_seconds(lateness)} of the newest",
            "low",
            f"{event.type} {event.event_id} of {st.agent_id} arrived {fmt_seconds(behind)} behind "
            f"the event-time watermark (allowed lateness {fmt_seconds(lateness)}): judged out of "
            "order, so order-dependent checks (task end, chains, sponsor) may have missed or "
            "misjudged it; check the gateway's clock and the pipeline's delay",
            [event.event_id],
            dedup="late",
            details={
                "event_type": event.type,
                "seconds_behind_watermark": round(behind, 3),
                "allowed_lateness_seconds": lateness,
            },
        )
        sponsor, cred = getattr(event, "sponsor", None), getattr(event, "credential_id", None)
        charter = self.charters.for_agent(st.agent_id)
        return out.merged(self._decide([finding], t, st, charter, sponsor, cred))

    def _hold(self, event: Any, t: float, st: AgentState) -> Decision:
        """Hold an event until the watermark passes it, then apply held events in time order."""
        if t > self.max_ts:
            self.max_ts = t
        pending = st.pending
        pending.append([t, event.event_id, event, held_size(event)])
        self._seq += 1
        heapq.heappush(self._held, (t, event.event_id, st.agent_id, self._seq))
        out = NOTHING
        # bounded per agent, in events and bytes: beyond, its oldest is judged now
        while len(pending) > MAX_PENDING or (
            len(pending) > 1 and sum(p[3] for p in pending) > MAX_PENDING_BYTES
        ):
            self.stats["held_overflow"] += 1
            oldest = min(pending, key=lambda p: (p[0], p[1]))
            pending.remove(oldest)
            out = out.merged(self._apply(oldest[2], oldest[0], st))
        if len(pending) == 1 and pending[0][3] > MAX_PENDING_BYTES:  # too big to hold at all
            self.stats["held_overflow"] += 1
            big = pending.pop()
            out = out.merged(self._apply(big[2], big[0], st))
        return out.merged(self._release(self.watermark))

    def _release(self, watermark: float) -> Decision:
        """Apply held events up to ``watermark`` in (time, event id) order, timers between."""
        out = NOTHING
        held, timers = self._held, self._timers
        while held and held[0][0] <= watermark:
            t, event_id, agent_id, _ = heapq.heappop(held)
            st = self.states.get(agent_id)
            entry = None
            if st is not None:
                entry = next((p for p in st.pending if p[1] == event_id and p[0] == t), None)
            if st is None or entry is None:
                continue  # judged early (the agent's buffer overflowed)
            st.pending.remove(entry)
            self.dirty.add(agent_id)
            if timers and timers[0][0] <= t:  # what was due before this event fires first
                out = out.merged(self._fire_timers(t))
            out = out.merged(self._apply(entry[2], t, st))
        if timers and timers[0][0] <= watermark:
            out = out.merged(self._fire_timers(watermark))
        return out

    def judge(self, call: ToolCall) -> list[Finding]:
        """What the detectors find in ``call`` if it were applied now; nothing is applied.

        For a gateway that decides before it forwards (``mcpmon proxy --policy
        inline``): the detectors that apply to the agent's charter and kind run on
        a scratch copy of its state (:meth:`AgentState.scratch`), with no decision
        step (no dedup: a repeated violation is found every time), no timers, no
        counters, no event-id check. The shell then applies the event it emits with
        :meth:`process`, so this engine's state stays what a worker reading the same
        events computes, and the next judgement sees this call.
        """
        st = self.states.get(call.agent_id)
        scratch = st.scratch() if st is not None else AgentState(call.agent_id)
        try:
            return self._call(
                call, call.ts.timestamp(), scratch, self.charters.for_agent(call.agent_id)
            )
        finally:
            self._after = None

    def drain(self) -> Decision:
        """Apply every held event now (end of a replay: no later event will come)."""
        if not self._held:
            return NOTHING
        return self._release(max(h[0] for h in self._held))

    def counters(self) -> dict[str, int]:
        """Every counter (events, per type, duplicates, alerts per detector, …)."""
        out = dict(self.stats)
        out["events"] = out.get("events", 0) + self.n_calls
        out["tool_call"] = self.n_calls
        if self.ranker is not None:
            out.update(self.ranker.stats)
        return out

    def advance_watermark(self, ts: float) -> Decision:
        """Move event time forward without an event (a quiet stream), firing due timers."""
        target = ts + self.settings.allowed_lateness_seconds
        if target > self.max_ts:
            self.max_ts = target
        return self._release(self.watermark)

    def rebuild_timers(self) -> None:
        """Re-index pending timers from agent state (after a restore or rebalance)."""
        self._timers = [(t[0], agent_id) for agent_id, st in self.states.items() for t in st.timers]
        heapq.heapify(self._timers)
        self._held = []
        for agent_id, st in self.states.items():
            for t, event_id, *_ in st.pending:
                self._seq += 1
                self._held.append((t, event_id, agent_id, self._seq))
        heapq.heapify(self._held)

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
        applied = self.charters.signed_versions.get(pattern) if isinstance(pattern, str) else None
        settings = self.settings
        checked = check_update(
            ev,
            settings.charter_keys,
            current,
            allow_unsigned=settings.charter_allow_unsigned,
            applied=applied,
        )
        if checked is None:  # a signed update applied before, delivered again
            self.stats["duplicates"] += 1
            return DUPLICATE
        if isinstance(checked, Alert):
            if self.decision.redact is not None:  # it quotes the update: pattern, bad values
                checked = self.decision.redact.alert(checked)
            self.stats["charter_rejected"] += 1
            self.stats[f"alerts.{checked.detector}"] += 1
            return Decision([checked])
        self.charters.put(checked.charter)
        if checked.version is not None:
            self.charters.signed_applied(checked.charter.agent, ev.event_id, checked.version)
        self.stats["charter_updated"] += 1
        alerts = list(checked.alerts)  # charter_unsigned, charter_widened: they quote it too
        if alerts and self.decision.redact is not None:
            alerts = [self.decision.redact.alert(a) for a in alerts]
        for a in alerts:
            self.stats[f"alerts.{a.detector}"] += 1
        return Decision(alerts) if alerts else NOTHING
