"""Detection quality on labelled traffic: recall, precision and false positives per detector.

Why: "the engine works" is a claim about two numbers at once — it finds what
it should (every injected violation) and stays quiet where it should (benign
traffic, and above all the near-misses that sit right next to a rule's
boundary). This module runs the one :class:`~monitor.core.Engine` over a
labelled event stream (normally from :mod:`monitor.simulate`) and scores it.

Scoring, per detector:

- **injected** — attack labels naming this detector;
- **detected** — of those, the ones for which an alert *of this detector*
  has the labelled ``event_id`` in its ``evidence``; **missed** is the rest;
- **near-miss FP** — alerts whose evidence contains a near-miss event id;
- **other FP** — alerts whose evidence contains neither an attack nor a
  near-miss event id (raised on benign background);
- **collateral** — alerts on an attack event by a detector other than the
  labelled one (not counted as false positives, but reported: a scenario is
  meant to trip exactly one detector);
- **FP / 1k benign calls** — (near-miss FP + other FP) per 1,000 tool calls
  that are not attack-labelled;
- **precision** — alerts pointing at an attack labelled for this detector,
  over all its alerts; **recall** — detected / injected;
- **calls to detection** — tool calls by the same agent between the labelled
  event and the first matching alert (0 when the alert fires on that event, as
  every rule detector does; a learned detector may need a few).

>>> from monitor.simulate import simulate
>>> sim = simulate(agents=20, minutes=20, seed=3)
>>> report = evaluate(sim.events, sim.labels, sim.charters)
>>> report.all_found(), report.false_positives()
(True, 0)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from monitor.charter import Charter, load_charter_dir
from monitor.core import Engine, EngineSettings
from monitor.core.detectors import REGISTRY
from monitor.errors import DecodeError, MonitorError
from monitor.events import ToolCall, decode_event
from monitor.outputs import Alert
from monitor.simulate import SCENARIO_BY_NAME, simulate

#: The rule detectors, in the order reports list them; others follow alphabetically.
RULE_DETECTORS: tuple[str, ...] = (
    "out_of_charter_tool",
    "forbidden_chain",
    "lingering_access",
    "absent_sponsor",
    "rate_limit",
)

#: Alert details kept in the report for each false positive or miss (enough to debug one).
MAX_EXAMPLES = 25


@dataclass(slots=True)
class DetectorScore:
    """Counts for one detector; additive, so runs over several seeds merge by summing."""

    detector: str
    injected: int = 0
    detected: int = 0
    alerts: int = 0
    true_alerts: int = 0
    near_miss_fp: int = 0
    other_fp: int = 0
    collateral: int = 0
    calls_to_detection_total: int = 0

    @property
    def missed(self) -> int:
        return self.injected - self.detected

    @property
    def recall(self) -> float | None:
        return self.detected / self.injected if self.injected else None

    @property
    def precision(self) -> float | None:
        return self.true_alerts / self.alerts if self.alerts else None

    @property
    def mean_calls_to_detection(self) -> float | None:
        return self.calls_to_detection_total / self.detected if self.detected else None

    def add(self, other: DetectorScore) -> None:
        for name in (
            "injected",
            "detected",
            "alerts",
            "true_alerts",
            "near_miss_fp",
            "other_fp",
            "collateral",
            "calls_to_detection_total",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True)
class ScenarioScore:
    """Counts for one scenario: how often it was planted, found, and at the right severity."""

    scenario: str
    label: str
    detector: str | None
    severity: str | None
    count: int = 0
    detected: int = 0  # attacks: found by the labelled detector
    severity_ok: int = 0  # attacks: the first matching alert had the expected severity
    alerted: int = 0  # near-misses: labels that drew any alert (must stay 0)

    def add(self, other: ScenarioScore) -> None:
        self.count += other.count
        self.detected += other.detected
        self.severity_ok += other.severity_ok
        self.alerted += other.alerted


@dataclass(slots=True)
class EvalReport:
    """The score of one run (or the sum of several); render with :meth:`to_markdown`."""

    events: int = 0
    tool_calls: int = 0
    benign_calls: int = 0
    bad_events: int = 0
    alerts: int = 0
    runs: int = 0
    detectors: dict[str, DetectorScore] = field(default_factory=dict)
    scenarios: dict[str, ScenarioScore] = field(default_factory=dict)
    missed: list[dict[str, Any]] = field(default_factory=list)
    false_positive_alerts: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ verdicts
    def all_found(self) -> bool:
        """Every injected violation was detected by its detector."""
        return all(d.missed == 0 for d in self.detectors.values())

    def false_positives(self) -> int:
        return sum(d.near_miss_fp + d.other_fp for d in self.detectors.values())

    def collateral(self) -> int:
        return sum(d.collateral for d in self.detectors.values())

    def totals(self) -> DetectorScore:
        total = DetectorScore("all")
        for d in self.detectors.values():
            total.add(d)
        return total

    # ------------------------------------------------------------------ combining
    def merge(self, other: EvalReport) -> EvalReport:
        """Add another run's counts into this report (returns ``self``)."""
        self.events += other.events
        self.tool_calls += other.tool_calls
        self.benign_calls += other.benign_calls
        self.bad_events += other.bad_events
        self.alerts += other.alerts
        self.runs += other.runs
        for name, d in other.detectors.items():
            self.detectors.setdefault(name, DetectorScore(name)).add(d)
        for name, s in other.scenarios.items():
            mine = self.scenarios.setdefault(
                name, ScenarioScore(name, s.label, s.detector, s.severity)
            )
            mine.add(s)
        room = MAX_EXAMPLES - len(self.missed)
        self.missed.extend(other.missed[: max(room, 0)])
        room = MAX_EXAMPLES - len(self.false_positive_alerts)
        self.false_positive_alerts.extend(other.false_positive_alerts[: max(room, 0)])
        return self

    # ------------------------------------------------------------------ rendering
    def _ordered(self) -> list[DetectorScore]:
        known = [self.detectors[n] for n in RULE_DETECTORS if n in self.detectors]
        rest = [self.detectors[n] for n in sorted(self.detectors) if n not in RULE_DETECTORS]
        return known + rest

    def _scenario_rows(self) -> list[ScenarioScore]:
        order = {name: i for i, name in enumerate(SCENARIO_BY_NAME)}
        return sorted(
            self.scenarios.values(), key=lambda s: (order.get(s.scenario, len(order)), s.scenario)
        )

    def fp_per_1k(self, d: DetectorScore) -> float:
        return (
            1000 * (d.near_miss_fp + d.other_fp) / self.benign_calls if self.benign_calls else 0.0
        )

    def to_dict(self) -> dict[str, Any]:
        def row(d: DetectorScore) -> dict[str, Any]:
            out = asdict(d)
            out.update(
                missed=d.missed,
                recall=d.recall,
                precision=d.precision,
                fp_per_1k_benign_calls=round(self.fp_per_1k(d), 4),
                mean_calls_to_detection=d.mean_calls_to_detection,
            )
            return out

        return {
            "meta": self.meta,
            "runs": self.runs,
            "events": self.events,
            "tool_calls": self.tool_calls,
            "benign_calls": self.benign_calls,
            "bad_events": self.bad_events,
            "alerts": self.alerts,
            "all_found": self.all_found(),
            "false_positives": self.false_positives(),
            "detectors": [row(d) for d in self._ordered()],
            "total": row(self.totals()),
            "scenarios": [asdict(s) for s in self._scenario_rows()],
            "missed": self.missed,
            "false_positive_alerts": self.false_positive_alerts,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2)

    def to_markdown(self) -> str:
        def ratio(x: float | None) -> str:
            return "–" if x is None else f"{x:.3f}"

        def mean(x: float | None) -> str:
            return "–" if x is None else f"{x:.1f}"

        lines = ["## Detection quality", ""]
        m = self.meta
        facts = []
        if m.get("seeds") is not None:
            facts.append(f"seeds {', '.join(str(s) for s in m['seeds'])}")
        if m.get("agents") is not None:
            facts.append(f"{m['agents']} agents × {m['minutes']:g} min")
        facts += [
            f"{self.events:,} events",
            f"{self.tool_calls:,} tool calls",
            f"{self.benign_calls:,} benign calls",
            f"{self.alerts:,} alerts",
        ]
        if self.bad_events:
            facts.append(f"{self.bad_events:,} undecodable events")
        lines += [" · ".join(facts), ""]
        lines += [
            "| detector | injected | detected | missed | recall | precision | near-miss FP "
            "| other FP | FP / 1k benign calls | collateral | calls to detection |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for d in [*self._ordered(), self.totals()]:
            name = "**all**" if d.detector == "all" else f"`{d.detector}`"
            lines.append(
                f"| {name} | {d.injected} | {d.detected} | {d.missed} | {ratio(d.recall)} "
                f"| {ratio(d.precision)} | {d.near_miss_fp} | {d.other_fp} "
                f"| {self.fp_per_1k(d):.3f} | {d.collateral} | {mean(d.mean_calls_to_detection)} |"
            )
        lines += [
            "",
            "### Per scenario",
            "",
            "| scenario | label | detector | expected severity | planted | detected "
            "| severity as expected | alerted (near-miss) |",
            "|---|---|---|---|---:|---:|---:|---:|",
        ]
        for s in self._scenario_rows():
            attack = s.label == "attack"
            lines.append(
                f"| {s.scenario} | {s.label} | {s.detector or '–'} | {s.severity or '–'} "
                f"| {s.count} | {s.detected if attack else '–'} "
                f"| {s.severity_ok if attack else '–'} | {'–' if attack else s.alerted} |"
            )
        if self.missed:
            lines += ["", "### Missed", ""]
            lines += [
                f"- {x['scenario']} on `{x['agent_id']}` (event `{x['event_id']}`)"
                for x in self.missed
            ]
        if self.false_positive_alerts:
            lines += ["", "### False positives (first ones)", ""]
            lines += [
                f"- `{x['detector']}` on `{x['agent_id']}` at {x['ts']}: {x['reason']}"
                for x in self.false_positive_alerts
            ]
        return "\n".join(lines) + "\n"


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
    engine = Engine(_load_charters(charters), settings)
    attacks: dict[str, dict[str, Any]] = {}
    near: dict[str, dict[str, Any]] = {}
    report = EvalReport(runs=1)
    det = report.detectors
    for name in (*RULE_DETECTORS, *sorted(REGISTRY)):
        if name in REGISTRY and (
            not engine.settings.detectors or name in engine.settings.detectors
        ):
            det.setdefault(name, DetectorScore(name))
    for i, lab in enumerate(label_list, 1):
        if not isinstance(lab, dict) or not isinstance(lab.get("event_id"), str):
            raise MonitorError(f"label {i} is not an object with an event_id: {lab!r:.200}")
        eid, scen = lab["event_id"], lab.get("scenario", "?")
        (attacks if lab.get("label") == "attack" else near)[eid] = lab
        detector, severity = _scenario_meta(scen, lab)
        s = report.scenarios.setdefault(
            scen, ScenarioScore(scen, lab.get("label", "?"), detector, severity)
        )
        s.count += 1
        if lab.get("label") == "attack" and detector:
            det.setdefault(detector, DetectorScore(detector)).injected += 1

    calls: Counter[str] = Counter()  # tool calls seen per agent
    at_label: dict[str, int] = {}  # labelled event id -> the agent's call count once it was seen
    found: set[str] = set()
    alerted_near: set[str] = set()

    def score(alerts: Sequence[Alert]) -> None:
        for a in alerts:
            report.alerts += 1
            d = det.setdefault(a.detector, DetectorScore(a.detector))
            d.alerts += 1
            hits = [attacks[e] for e in a.evidence if e in attacks]
            near_hits = [e for e in a.evidence if e in near]
            if near_hits:
                d.near_miss_fp += 1
                alerted_near.update(near_hits)
                if len(report.false_positive_alerts) < MAX_EXAMPLES:
                    report.false_positive_alerts.append(_fp_example(a, "near_miss"))
            if not hits:
                if not near_hits:
                    d.other_fp += 1
                    if len(report.false_positive_alerts) < MAX_EXAMPLES:
                        report.false_positive_alerts.append(_fp_example(a, "other"))
                continue
            mine = [h for h in hits if h.get("detector") == a.detector]
            if not mine:
                d.collateral += 1
                continue
            d.true_alerts += 1
            for h in mine:
                eid = h["event_id"]
                if eid in found:
                    continue
                found.add(eid)
                d.detected += 1
                d.calls_to_detection_total += calls[h["agent_id"]] - at_label.get(eid, 0)
                s = report.scenarios[h.get("scenario", "?")]
                s.detected += 1
                if a.severity == h.get("severity"):
                    s.severity_ok += 1

    last_ts: float | None = None
    for raw in _lines(events):
        report.events += 1
        try:
            ev = decode_event(raw)
        except DecodeError:
            report.bad_events += 1
            continue
        if isinstance(ev, ToolCall):
            report.tool_calls += 1
            calls[ev.agent_id] += 1
            if ev.event_id not in attacks:
                report.benign_calls += 1
        if ev.event_id in attacks or ev.event_id in near:
            at_label[ev.event_id] = calls[ev.agent_id]
        t = ev.ts.timestamp()
        last_ts = t if last_ts is None else max(last_ts, t)
        try:
            decision = engine.process(ev)
        except DecodeError:  # a charter_updated carrying an invalid charter
            report.bad_events += 1
            continue
        score(decision.alerts)
    if last_ts is not None:
        # Let pending event-time timers fire, as a quiet stream eventually would.
        score(engine.advance_watermark(last_ts + 86_400).alerts)

    for eid in alerted_near:
        report.scenarios[near[eid].get("scenario", "?")].alerted += 1
    for eid, lab in attacks.items():
        if eid not in found and len(report.missed) < MAX_EXAMPLES:
            report.missed.append(
                {
                    k: lab.get(k)
                    for k in ("scenario", "agent_id", "event_id", "detector", "severity")
                }
            )
    return report


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
    total.meta = {"agents": agents, "minutes": minutes, "seeds": list(seeds), "attacks": attacks}
    return total


__all__ = [
    "RULE_DETECTORS",
    "DetectorScore",
    "EvalReport",
    "ScenarioScore",
    "evaluate",
    "evaluate_seeds",
]
