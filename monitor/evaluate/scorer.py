"""Scoring a labelled run: the engine over the events, every alert matched to the labels.

Why a class: scoring one run keeps a dozen running tallies (calls per agent,
where each labelled event was seen, which attacks are found, behaviour-attack
windows still open, rule-scenario spans, alerts whose verdict waits for the
end). :class:`Scorer` holds them as named attributes, and each rule of the
package docstring (:mod:`monitor.evaluate`) is one method: :meth:`Scorer.feed`
takes one event line, :meth:`Scorer.score` one decision's alerts,
:meth:`Scorer.finish` settles what only the end of the stream decides.
:func:`evaluate` is the one-call form.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from monitor.charter import Baseline, Charter, load_charter_dir
from monitor.core import Engine, EngineSettings
from monitor.core.detectors import REGISTRY
from monitor.core.detectors.behaviour import baseline_of
from monitor.errors import DecodeError, MonitorError
from monitor.evaluate.report import (
    BEHAVIOUR,
    BEHAVIOUR_AGENTS,
    BEHAVIOUR_LAYER,
    BEHAVIOUR_MINUTES,
    DETECTION_WINDOW_CALLS,
    MAX_EXAMPLES,
    RULE_DETECTORS,
    TUNING_SEEDS,
    DetectorScore,
    EvalReport,
    ScenarioScore,
    behaviour_section,
)
from monitor.events import ToolCall, decode_event
from monitor.output_contracts import SEVERITY_RANK, Alert
from monitor.simulate import SCENARIO_BY_NAME, simulate

# --------------------------------------------------------------------------- inputs


def _lines(events: str | Path | Iterable[Any]) -> Iterator[bytes | str]:
    """JSON lines from a path, or from an iterable of lines (bytes/str) or event dicts."""
    if isinstance(events, str | Path):
        with Path(events).open("rb") as f:
            for line in f:
                if line.strip():
                    yield line
        return
    for item in events:
        if isinstance(item, dict):
            yield orjson.dumps(item)
        elif isinstance(item, bytes | str):
            if item.strip():
                yield item
        else:
            raise TypeError(f"events must be JSON lines or dicts, got {type(item).__name__}")


def _load_labels(labels: str | Path | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(labels, str | Path):
        return [orjson.loads(x) for x in Path(labels).read_bytes().splitlines() if x.strip()]
    return list(labels)


def _load_charters(charters: str | Path | Iterable[Charter]) -> list[Charter]:
    if isinstance(charters, str | Path):
        return load_charter_dir(charters)
    return list(charters)


# --------------------------------------------------------------------------- scoring


def _scenario_meta(name: str, label: dict[str, Any]) -> tuple[str | None, str | None]:
    """Expected detector/severity; a near-miss shows the detector it sits next to."""
    if label.get("label") == "attack":
        return label.get("detector"), label.get("severity")
    sc = SCENARIO_BY_NAME.get(name)
    return (sc.detector if sc else None), None


def _fp_example(a: Alert, kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "detector": a.detector,
        "agent_id": a.agent_id,
        "ts": a.ts.isoformat(),
        "severity": a.severity,
        "reason": a.reason,
        "evidence": list(a.evidence),
    }


def _warmup(engine: Engine, agent_id: str) -> int:
    charter = engine.charters.for_agent(agent_id)
    return (charter.baseline if charter is not None else Baseline()).warmup_events


class Scorer:
    """One run's score, built event by event: the engine's alerts matched to the labels.

    Use :func:`evaluate` unless the events arrive piecemeal: ``Scorer(engine,
    labels)``, then :meth:`feed` each JSON line, then :meth:`finish` for the
    :class:`EvalReport`.
    """

    def __init__(self, engine: Engine, labels: Iterable[Any]) -> None:
        self.engine = engine
        self.report = EvalReport(runs=1)
        self.attacks: dict[str, dict[str, Any]] = {}  # attack-labelled event id -> its label
        self.near: dict[str, dict[str, Any]] = {}  # near-miss event id -> its label
        self.calls: Counter[str] = Counter()  # tool calls seen per agent
        self.at_label: dict[str, int] = {}  # labelled event id -> the agent's calls once seen
        self.at_time: dict[str, float] = {}  # labelled event id -> its event time
        self.windows: dict[str, list[dict[str, Any]]] = {}  # agent -> behaviour attacks on it
        self.found: set[str] = set()  # attack event ids detected
        self.alerted_near: set[str] = set()  # near-miss event ids some alert pointed at
        self.warm: set[str] = set()  # agents past their baseline's warm-up
        # Rule scenarios play abnormal traffic around their labelled event (a burst, calls
        # after a task ended, ...): a behaviour alert there is collateral, decided once the
        # spans are known (at the end).
        self.spans: dict[str, list[tuple[float, float]]] = {}
        self.undecided: list[Alert] = []
        self.last_ts: float | None = None
        self._open_rows()
        for i, lab in enumerate(labels, 1):
            self._add_label(i, lab)
        self.learned = BEHAVIOUR in self.report.detectors  # it runs: track warm-up per agent

    # ------------------------------------------------------------------ labels
    def _open_rows(self) -> None:
        """A row for every detector the engine runs, rule detectors first."""
        det, only = self.report.detectors, self.engine.settings.detectors
        for name in (*RULE_DETECTORS, *sorted(REGISTRY)):
            if name in REGISTRY and (not only or name in only):
                det.setdefault(name, DetectorScore(name))

    def _add_label(self, i: int, lab: Any) -> None:
        """Index label ``i`` (1-based) by event id and count it for its scenario and detector."""
        if not isinstance(lab, dict) or not isinstance(lab.get("event_id"), str):
            raise MonitorError(f"label {i} is not an object with an event_id: {lab!r:.200}")
        eid, scen = lab["event_id"], lab.get("scenario", "?")
        (self.attacks if lab.get("label") == "attack" else self.near)[eid] = lab
        detector, severity = _scenario_meta(scen, lab)
        s = self.report.scenarios.setdefault(
            scen, ScenarioScore(scen, lab.get("label", "?"), detector, severity)
        )
        s.count += 1
        if lab.get("label") == "attack" and detector:
            self._row(detector).injected += 1

    def _row(self, detector: str) -> DetectorScore:
        return self.report.detectors.setdefault(detector, DetectorScore(detector))

    # ------------------------------------------------------------------ events
    def feed(self, raw: bytes | str) -> None:
        """Decode one event line, run the engine on it and score the alerts it raises."""
        report = self.report
        report.events += 1
        try:
            ev = decode_event(raw)
        except DecodeError:
            report.bad_events += 1
            return
        is_call = isinstance(ev, ToolCall)
        if is_call:
            self._count_call(ev.agent_id, ev.event_id)
        t = ev.ts.timestamp()
        if ev.event_id in self.attacks or ev.event_id in self.near:
            self._see_labelled(ev.event_id, ev.agent_id, t)
        self.last_ts = t if self.last_ts is None else max(self.last_ts, t)
        decision = self.engine.process(ev)
        if ev.type == "charter_updated" and any(
            a.detector == "charter_rejected" for a in decision.alerts
        ):  # refused
            report.bad_events += 1
            return
        self.score(decision.alerts)
        if self.learned and is_call and ev.agent_id not in self.warm:
            self._check_warm(ev.agent_id)

    def _count_call(self, agent_id: str, event_id: str) -> None:
        """Count a tool call: per agent, and as benign (after warm-up too) unless an attack."""
        report = self.report
        report.tool_calls += 1
        self.calls[agent_id] += 1
        if event_id not in self.attacks:
            report.benign_calls += 1
            if agent_id in self.warm:
                report.benign_calls_warm += 1

    def _see_labelled(self, eid: str, agent_id: str, t: float) -> None:
        """Note where a labelled event fell, and open its behaviour window or scenario span."""
        self.at_label[eid] = self.calls[agent_id]
        self.at_time[eid] = t
        lab = self.attacks.get(eid) or self.near[eid]
        sc = SCENARIO_BY_NAME.get(lab.get("scenario", ""))
        if lab.get("detector") == BEHAVIOUR:
            self.windows.setdefault(agent_id, []).append(lab)
        elif sc is not None:
            span = (t - sc.minutes * 60, t + sc.minutes * 60)
            self.spans.setdefault(agent_id, []).append(span)

    def _check_warm(self, agent_id: str) -> None:
        """Mark the agent warm once its baseline has learned its warm-up's worth of calls."""
        st = self.engine.states.get(agent_id)
        model = baseline_of(st) if st is not None else None
        if model is not None and model.n_learned >= _warmup(self.engine, agent_id):
            self.warm.add(agent_id)

    # ------------------------------------------------------------------ alerts
    def score(self, alerts: Sequence[Alert]) -> None:
        """Score one decision's alerts against the labels (see :mod:`monitor.evaluate`)."""
        for a in alerts:
            self._score_alert(a)

    def _score_alert(self, a: Alert) -> None:
        self.report.alerts += 1
        d = self._row(a.detector)
        d.alerts += 1
        hits = [self.attacks[e] for e in a.evidence if e in self.attacks]
        near_hits = [e for e in a.evidence if e in self.near]
        if near_hits:
            d.near_miss_fp += 1
            self.alerted_near.update(near_hits)
            self._fp(a, "near_miss")
        if not hits:
            if not near_hits:
                self._score_unlabelled(a, d)
            return
        mine = [
            h
            for h in hits
            if h.get("detector") == a.detector
            or (h.get("detector") == BEHAVIOUR and a.detector in BEHAVIOUR_LAYER)
        ]
        if not mine:
            d.collateral += 1
            return
        d.true_alerts += 1
        for h in mine:
            self._credit(self._row(h["detector"]), a, h)

    def _score_unlabelled(self, a: Alert, d: DetectorScore) -> None:
        """An alert pointing at no labelled event: a late behaviour detection, or a false
        positive (a behaviour-layer one waits for the end: it may be a rule scenario's
        collateral)."""
        late = self._window_hits(a)
        if late:  # a behaviour-layer alert, a few calls into the attack
            d.true_alerts += 1
            for h in late:
                self._credit(self.report.detectors[BEHAVIOUR], a, h)
            return
        if a.detector in BEHAVIOUR_LAYER:
            self.undecided.append(a)
            return
        d.other_fp += 1
        self._fp(a, "other")

    def _window_hits(self, a: Alert) -> list[dict[str, Any]]:
        """Behaviour attacks on the alert's agent whose detection window is still open."""
        if a.detector not in BEHAVIOUR_LAYER:
            return []
        n = self.calls[a.agent_id]
        return [
            h
            for h in self.windows.get(a.agent_id, ())
            if n - self.at_label[h["event_id"]] <= DETECTION_WINDOW_CALLS
        ]

    def _credit(self, d: DetectorScore, a: Alert, h: dict[str, Any]) -> None:
        """Count attack ``h`` detected by alert ``a`` (once): delay, and severity as expected."""
        eid = h["event_id"]
        if eid in self.found:
            return
        self.found.add(eid)
        d.detected += 1
        d.calls_to_detection_total += self.calls[h["agent_id"]] - self.at_label.get(eid, 0)
        t = a.ts.timestamp()
        d.seconds_to_detection_total += max(0.0, t - self.at_time.get(eid, t))
        s = self.report.scenarios[h.get("scenario", "?")]
        s.detected += 1
        want = str(h.get("severity"))
        if a.severity == want or (
            a.detector in BEHAVIOUR_LAYER
            and SEVERITY_RANK[a.severity] >= SEVERITY_RANK.get(want, 9)
        ):
            s.severity_ok += 1

    def _fp(self, a: Alert, kind: str) -> None:
        """Keep the false positive as an example while there is room."""
        if len(self.report.false_positive_alerts) < MAX_EXAMPLES:
            self.report.false_positive_alerts.append(_fp_example(a, kind))

    # ------------------------------------------------------------------ end of stream
    def finish(self) -> EvalReport:
        """Fire pending timers, settle the undecided alerts, list the misses; the report."""
        if self.last_ts is not None:
            # Let pending event-time timers fire, as a quiet stream eventually would.
            self.score(self.engine.advance_watermark(self.last_ts + 86_400).alerts)
        for a in self.undecided:
            d = self.report.detectors[a.detector]
            t = a.ts.timestamp()
            if any(lo <= t <= hi for lo, hi in self.spans.get(a.agent_id, ())):
                d.collateral += 1
                continue
            d.other_fp += 1
            self._fp(a, "other")
        report = self.report
        for eid in self.alerted_near:
            report.scenarios[self.near[eid].get("scenario", "?")].alerted += 1
        for eid, lab in self.attacks.items():
            if eid not in self.found and len(report.missed) < MAX_EXAMPLES:
                report.missed.append(
                    {
                        k: lab.get(k)
                        for k in ("scenario", "agent_id", "event_id", "detector", "severity")
                    }
                )
        return report


def evaluate(
    events: str | Path | Iterable[Any],
    labels: str | Path | Iterable[dict[str, Any]],
    charters: str | Path | Iterable[Charter],
    settings: EngineSettings | None = None,
) -> EvalReport:
    """Run the engine over ``events`` and score its alerts against ``labels``.

    ``events``: a JSONL path, or an iterable of JSON lines or event dicts (as
    :func:`monitor.simulate.simulate` gives), streamed — never held in memory.
    ``labels``: a ``labels.jsonl`` path or label dicts. ``charters``: a charter
    directory/file or :class:`Charter` objects. Each line is decoded with
    :func:`monitor.events.decode_event`; undecodable lines are counted, not fatal.
    """
    label_list = _load_labels(labels)
    scorer = Scorer(Engine(_load_charters(charters), settings), label_list)
    for raw in _lines(events):
        scorer.feed(raw)
    return scorer.finish()


def evaluate_seeds(
    agents: int,
    minutes: float,
    seeds: Sequence[int],
    settings: EngineSettings | None = None,
    attacks: bool = True,
) -> EvalReport:
    """Simulate and evaluate each seed, and sum the scores (what ``mcpmon evaluate`` runs)."""
    total = EvalReport()
    for seed in seeds:
        sim = simulate(agents, minutes, seed, attacks=attacks)
        total.merge(evaluate(sim.events, sim.labels, sim.charters, settings))
    total.meta = {
        "agents": agents,
        "minutes": minutes,
        "seeds": list(seeds),
        "attacks": attacks,
        "tuning_seeds": list(TUNING_SEEDS),
    }
    return total


def behaviour_comparison(
    held_out: Sequence[int] = (11, 12, 13),
    tuning: Sequence[int] = TUNING_SEEDS,
    agents: int = BEHAVIOUR_AGENTS,
    minutes: float = BEHAVIOUR_MINUTES,
) -> tuple[str, EvalReport, EvalReport]:
    """Evaluate the tuning and held-out seeds; markdown with both rows, and both reports."""
    tune = evaluate_seeds(agents, minutes, tuning)
    held = evaluate_seeds(agents, minutes, held_out)
    head = f"{agents} agents × {minutes:g} min per seed; every detector on."
    return "\n".join([*behaviour_section(tune, held), "", head]) + "\n", tune, held


__all__ = ["Scorer", "behaviour_comparison", "evaluate", "evaluate_seeds"]
