"""behaviour_anomaly: a call unlike this agent's own past, judged by a learned baseline.

Rules catch what a charter names; this catches what nobody wrote down — a
hijacked agent using its *granted* tools in a new way: mail to a domain it
never wrote to, a chain of tools it never ran, a burst far above its own pace
(yet under the charter's limit), ten times its usual data volume.

Per call: observe the call (:mod:`monitor.core.baseline.window`), score it
against the agent's model (:class:`~monitor.core.baseline.model.AgentBaseline`),
and — only if the agent is past warm-up — compare the calibrated score with
the charter's ``baseline.alert_score`` / ``revoke_score``
(:mod:`monitor.core.baseline.calibration` says exactly what they mean: at
0.98, nominally 0.02 false alerts per 1,000 benign calls; measured on the
simulator, 0.1–0.15). Severity is ``medium`` from ``alert_score``, ``high``
from halfway (in log p) to ``revoke_score``, and only at ``revoke_score`` does
the finding suggest revoking the call's credential (the decision step
decides, as for every detector). Every alert names the features that drove
it, in its reason and in ``details`` (``top_features``, ``contribution.*``).

Learning happens once the decision step has judged the call: a call any
detector found revoke-worthy (including this one at ``revoke_score``) is never
learned, so an attacker cannot teach the baseline that the attack is normal;
and an episode (task, session) with any alert in it is held back from the
episode-level tables and from the calibration, so an attack cannot raise the
bar it is measured against. :meth:`after_call` does that for a call with
findings; a call with none (nearly all) is learned by the model itself at the
agent's next step (or before its state is read), where the learning's code
runs hot beside the scoring's.

Warm-up: scoring starts after ``warmup_events / 2`` learned calls (the
calibration collects scores from then on); alerts need ``warmup_events``
learned calls and :data:`~monitor.core.baseline.calibration.MIN_SCORES`
calibration scores.

An analyst's verdict arrives as an ``alert_feedback`` event: ``benign`` makes
the baseline learn the alerted call (weighted, its volume and its score
accepted), ``malicious`` unlearns it. The last few alerted calls per agent are
kept for that.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import sqrt
from typing import Any

from librt.vecs import vec

from monitor.charter import Baseline
from monitor.core.baseline.calibration import calibrated, p_star
from monitor.core.baseline.explain import feature_key, phrase, top_features
from monitor.core.baseline.features import FEATURES, CallFeatures
from monitor.core.baseline.model import SECTION, AgentBaseline, CallStep
from monitor.core.detectors.base import CallContext, Detector, Finding, call_target, register
from monitor.core.policy import CompiledCharter
from monitor.core.state import AgentState
from monitor.events import AlertFeedback
from monitor.output_contracts import Alert, Severity

DEFAULT_BASELINE = Baseline()  # for agents no charter covers


@register
class BehaviourAnomaly(Detector):
    name = "behaviour_anomaly"
    analytic = "statistical"
    #: the agent's learned model; absent before its first call
    section = SECTION  # (the compiled step finds the model there)

    @classmethod
    def dump_state(cls, value: AgentBaseline) -> list[Any]:
        return value.snapshot()

    @classmethod
    def load_state(cls, data: Any) -> AgentBaseline:
        return AgentBaseline.restore(data)

    def __init__(self) -> None:
        self._levels: dict[tuple[float, float], tuple[float, float, float]] = {}
        # on_call is the compiled step's (the model's module): see CallStep
        self._step = CallStep(DEFAULT_BASELINE, self._settings, self._alerting)
        self.on_call = self._step.on_call  # type: ignore[method-assign]

    def wants_calls(self, charter: CompiledCharter | None, kind: str) -> bool:
        return charter is None or charter.baseline.enabled

    def _p_levels(self, cfg: Baseline) -> tuple[float, float, float]:
        """p-values at which a call alerts, turns high, and suggests revocation."""
        key = (cfg.alert_score, cfg.revoke_score)
        got = self._levels.get(key)
        if got is None:
            p_alert, p_revoke = p_star(cfg.alert_score), p_star(cfg.revoke_score)
            got = self._levels[key] = (p_alert, sqrt(p_alert * p_revoke), p_revoke)
        return got

    def _settings(self, cfg: Baseline) -> tuple[int, float, float]:
        """What a call's step needs of its charter's baseline: warm-up, p_alert, p_high."""
        p_alert, p_high, _ = self._p_levels(cfg)
        return cfg.warmup_events, p_alert, p_high

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        """Observe, score past warm-up / 2, compare with the threshold: :meth:`CallStep.on_call`
        (each detector's own step: the instance's ``on_call`` is that method)."""
        return self._step.on_call(ctx, st)

    def _alerting(
        self, ctx: CallContext, m: AgentBaseline, cfg: Baseline, p_high: float
    ) -> Sequence[Finding]:
        """A call the step found can alert: its finding, if its calibrated score is high
        enough."""
        f, surprises, raw = m.pending()
        if f is None or surprises is None or raw is None:  # (step scored it: never)
            return ()
        p = m.p_value(raw)
        score = calibrated(p)
        if score < cfg.alert_score:
            return ()
        return [self._finding(ctx, m, f, surprises, raw, p, score, cfg, p_high)]

    def _finding(
        self,
        ctx: CallContext,
        m: AgentBaseline,
        f: CallFeatures,
        surprises: vec[float],
        raw: float,
        p: float,
        score: float,
        cfg: Baseline,
        p_high: float,
    ) -> Finding:
        c = ctx.call
        contrib = m.contributions(surprises)
        top = top_features(contrib)
        revoke = score >= cfg.revoke_score
        severity: Severity = "high" if revoke or p <= p_high else "medium"
        scope, creds = call_target(ctx) if revoke else (None, [])
        why = "; ".join(phrase(m, f, i) for i in top)
        details: dict[str, str | int | float | bool | None] = {
            "raw_score": round(raw, 3),
            "p_value": float(f"{p:.3g}"),
            "calls_learned": m.n_learned,
            "top_features": ",".join(FEATURES[i] for i in top),
            "tool": f.tool_name,
        }
        for i in top:
            details[f"contribution.{FEATURES[i]}"] = round(contrib[i], 3)
        if f.destinations:
            details["destination"] = f.destinations[0]
        lead = FEATURES[top[0]] if top else "score"
        return Finding(
            self.name,
            "baseline",
            f"behaviour baseline: alert from score {cfg.alert_score}, revoke from "
            f"{cfg.revoke_score}, after {cfg.warmup_events} calls of warm-up",
            severity,
            f"{c.agent_id} called {f.tool_name} unlike its own baseline (score {score:.4f}; "
            f"a benign call this unusual: p ≈ {p:.1e}): {why}",
            [c.event_id],
            score=min(1.0, max(0.0, score)),
            revoke=scope,
            credential_ids=creds,
            task_id=c.task_id,
            session_id=c.session_id,
            dedup=f"behaviour:{lead}:{feature_key(f, top[0]) if top else ''}",
            details=details,
        )

    def after_call(
        self,
        ctx: CallContext,
        st: AgentState,
        findings: Sequence[Finding],
        alerts: Sequence[Alert],
    ) -> None:
        step = self._step
        m = step.pending_m
        if m is None or step.pending_ctx is not ctx:
            return
        step.pending_m = None
        step.pending_ctx = None
        f, surprises, raw = m.take_pending()
        if f is None:
            return
        # revoke-worthy (by any detector, this one included): never learned as normal
        learn = not any(x.revoke is not None for x in findings)
        if learn:
            m.learn_one(f, surprises, raw)
        if not learn or any(x.detector == self.name for x in findings):
            m.window.hold()  # an episode with an alert does not move the bar
        for a in alerts:
            if a.detector == self.name:
                m.remember(a.alert_id, f, raw, learn)

    def on_lifecycle(
        self, event: Any, t: float, st: AgentState, charter: CompiledCharter | None
    ) -> Sequence[Finding]:
        if type(event) is AlertFeedback:
            m = baseline_of(st)
            if m is not None:
                m.apply_feedback(event.alert_id, event.verdict)
        return ()


def baseline_of(st: AgentState) -> AgentBaseline | None:
    """The agent's learned model, if it has made a call (for reports and benchmarks),
    its last call learned if that was judged without a finding."""
    m: AgentBaseline | None = st.sections.get(SECTION)
    if m is not None:
        m.learn_pending()
    return m
