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
  meant to trip exactly one detector); for ``behaviour_anomaly`` also its
  alerts on a rule scenario's carrier within the scenario's length of the
  labelled event (a rate-limit burst is abnormal behaviour too);
- **FP / 1k benign calls** — (near-miss FP + other FP) per 1,000 tool calls
  that are not attack-labelled;
- **precision** — alerts pointing at an attack labelled for this detector,
  over all its alerts; **recall** — detected / injected;
- **calls to detection** — tool calls by the same agent between the labelled
  event and the first matching alert (0 when the alert fires on that event, as
  every rule detector does; a learned detector may need a few); **seconds to
  detection** likewise in event time.

``behaviour_anomaly`` is learned, so two things differ for it. A behaviour
attack (a hijack inside a normal task, a climb up the file tree, a fan-out) is
*detected* by an alert of any **behaviour-layer** detector
(:data:`BEHAVIOUR_LAYER`: ``behaviour_anomaly`` and the hijack detectors of
``monitor/core/detectors/hijack_*.py``) that has the labelled call in its
evidence or fires on the same agent within :data:`DETECTION_WINDOW_CALLS` of
its calls after it; such alerts count as true for the detector that raised
them, and the detection is credited to the ``behaviour_anomaly`` row, which
therefore reads as the whole layer's recall (labels keep
``detector="behaviour_anomaly"``; which detector each attack is built for is
in :data:`monitor.sim.scenarios.EXPECTED`). A behaviour-layer alert on a
rule scenario's carrier around its labelled event is collateral. And its false positives are also reported per 1,000 benign calls made
*after the agent's warm-up* (``baseline.warmup_events`` learned calls): before
it the detector cannot alert, and counting those calls would flatter it. Its
thresholds were tuned on :data:`TUNING_SEEDS`; reports say whether the seeds
they ran on are held out.

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

from monitor.charter import Baseline, Charter, load_charter_dir
from monitor.core import Engine, EngineSettings
from monitor.core.detectors import REGISTRY
from monitor.errors import DecodeError, MonitorError
from monitor.events import ToolCall, decode_event
from monitor.output_contracts import SEVERITY_RANK, Alert
from monitor.simulate import (
    BEHAVIOUR_MIN_MINUTES,
    BEHAVIOUR_SCENARIOS,
    SCENARIO_BY_NAME,
    simulate,
)

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

BEHAVIOUR = "behaviour_anomaly"
#: The behaviour layer: the learned baseline and every hijack detector. Any of them detects a
#: behaviour-only attack (a hijack uses granted tools, so the rules cannot see it).
BEHAVIOUR_LAYER: frozenset[str] = frozenset(
    {BEHAVIOUR}
    | {n for n, c in REGISTRY.items() if c.__module__.startswith("monitor.core.detectors.hijack")}
)
#: A behaviour alert this many of the agent's calls after a labelled behaviour attack detects it.
DETECTION_WINDOW_CALLS = 45
#: Seeds the behaviour baseline's design and constants were tuned on (never report on these).
TUNING_SEEDS: tuple[int, ...] = (1, 2, 3, 4, 5)
#: What the behaviour baseline must show on held-out seeds (issue 5).
BEHAVIOUR_MIN_RECALL = 0.9
BEHAVIOUR_MAX_FP_PER_1K = 1.0
#: Where behaviour attacks are planted: long enough for warm-up (see monitor.simulate).
BEHAVIOUR_AGENTS, BEHAVIOUR_MINUTES = 60, 360


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
    seconds_to_detection_total: float = 0.0

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

    @property
    def mean_seconds_to_detection(self) -> float | None:
        return self.seconds_to_detection_total / self.detected if self.detected else None

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
            "seconds_to_detection_total",
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
    benign_calls_warm: int = 0  # benign calls by agents past their baseline's warm-up
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

    def passed(self) -> bool:
        """Rule detectors found every injected violation, and ``behaviour_anomaly`` (if it
        ran) met its targets: recall ≥ :data:`BEHAVIOUR_MIN_RECALL` at ≤
        :data:`BEHAVIOUR_MAX_FP_PER_1K` false positives per 1,000 benign calls after warm-up."""
        rules = all(d.missed == 0 for name, d in self.detectors.items() if name != BEHAVIOUR)
        b = self.layer() if BEHAVIOUR in self.detectors else None
        if b is None or (b.injected == 0 and b.alerts == 0):
            return rules
        recall_ok = b.injected == 0 or (b.recall or 0.0) >= BEHAVIOUR_MIN_RECALL
        return rules and recall_ok and self.fp_per_1k_warm(b) <= BEHAVIOUR_MAX_FP_PER_1K

    def layer(self) -> DetectorScore:
        """The behaviour layer as one row: attacks injected and detected (credited to
        ``behaviour_anomaly``), alerts and false positives summed over :data:`BEHAVIOUR_LAYER`."""
        b = self.detectors.get(BEHAVIOUR) or DetectorScore(BEHAVIOUR)
        out = DetectorScore("behaviour layer", b.injected, b.detected)
        out.calls_to_detection_total = b.calls_to_detection_total
        out.seconds_to_detection_total = b.seconds_to_detection_total
        for name in sorted(BEHAVIOUR_LAYER & set(self.detectors)):
            d = self.detectors[name]
            out.alerts += d.alerts
            out.true_alerts += d.true_alerts
            out.near_miss_fp += d.near_miss_fp
            out.other_fp += d.other_fp
            out.collateral += d.collateral
        return out

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
        self.benign_calls_warm += other.benign_calls_warm
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

    def fp_per_1k_warm(self, d: DetectorScore) -> float:
        """False positives per 1,000 benign calls made after warm-up (for learned detectors)."""
        fp = d.near_miss_fp + d.other_fp
        return 1000 * fp / self.benign_calls_warm if self.benign_calls_warm else 0.0

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
                mean_seconds_to_detection=d.mean_seconds_to_detection,
            )
            if d.detector == BEHAVIOUR:
                out["fp_per_1k_benign_calls_after_warmup"] = round(self.fp_per_1k_warm(d), 4)
            return out

        return {
            "meta": self.meta,
            "runs": self.runs,
            "events": self.events,
            "tool_calls": self.tool_calls,
            "benign_calls": self.benign_calls,
            "benign_calls_after_warmup": self.benign_calls_warm,
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
        if BEHAVIOUR in self.detectors:
            lines += ["", *behaviour_section(self)]
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


# --------------------------------------------------------------------------- behaviour


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _mean(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


BEHAVIOUR_HEADER = (
    "| seeds | role | injected | detected | recall | precision | false positives "
    "| benign calls after warm-up | FP / 1k benign calls after warm-up "
    "| calls to detection | seconds to detection |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
)


def seeds_role(seeds: Sequence[int] | None) -> str:
    """``held out`` when none of the seeds was used for tuning."""
    if seeds is None:
        return "–"
    if set(seeds) <= set(TUNING_SEEDS):
        return "tuning"
    return "includes tuning seeds" if set(seeds) & set(TUNING_SEEDS) else "held out"


def behaviour_row(r: EvalReport) -> str:
    d = r.layer()
    seeds = r.meta.get("seeds")
    return (
        f"| {', '.join(map(str, seeds)) if seeds else '–'} | {seeds_role(seeds)} "
        f"| {d.injected} | {d.detected} | {_ratio(d.recall)} | {_ratio(d.precision)} "
        f"| {d.near_miss_fp + d.other_fp} | {r.benign_calls_warm:,} | {r.fp_per_1k_warm(d):.3f} "
        f"| {_mean(d.mean_calls_to_detection)} | {_mean(d.mean_seconds_to_detection)} |"
    )


def behaviour_section(*reports: EvalReport) -> list[str]:
    """Markdown lines: the behaviour baseline's row per report, tuning seeds named."""
    tuned = ", ".join(map(str, TUNING_SEEDS))
    return [
        "### Behaviour baseline (`behaviour_anomaly`)",
        "",
        f"Behaviour-only attacks (granted tools, inside the charter; {len(BEHAVIOUR_SCENARIOS)} "
        f"kinds, planted in runs of ≥ {BEHAVIOUR_MIN_MINUTES} min after the carrier's warm-up). "
        f"Thresholds and constants were tuned on seeds {tuned}. A detection is an alert on "
        f"the attack's first call or within {DETECTION_WINDOW_CALLS} calls of it by any "
        "behaviour-layer detector (`behaviour_anomaly` or a hijack detector); alerts, precision "
        "and false positives are the whole layer's, false positives counted per 1,000 benign "
        "calls made after the agent's warm-up.",
        "",
        *BEHAVIOUR_HEADER,
        *(behaviour_row(r) for r in reports),
    ]


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
    at_time: dict[str, float] = {}  # labelled event id -> its event time
    windows: dict[str, list[dict[str, Any]]] = {}  # agent -> behaviour attacks seen on it
    found: set[str] = set()
    alerted_near: set[str] = set()
    learned = BEHAVIOUR in det  # the behaviour detector runs: track warm-up per agent
    warm: set[str] = set()
    # Rule scenarios play abnormal traffic around their labelled event (a burst, calls after
    # a task ended, ...): a behaviour alert there is collateral, decided once spans are known.
    spans: dict[str, list[tuple[float, float]]] = {}
    undecided: list[Alert] = []

    def credit(d: DetectorScore, a: Alert, h: dict[str, Any]) -> None:
        eid = h["event_id"]
        if eid in found:
            return
        found.add(eid)
        d.detected += 1
        d.calls_to_detection_total += calls[h["agent_id"]] - at_label.get(eid, 0)
        t = a.ts.timestamp()
        d.seconds_to_detection_total += max(0.0, t - at_time.get(eid, t))
        s = report.scenarios[h.get("scenario", "?")]
        s.detected += 1
        want = str(h.get("severity"))
        if a.severity == want or (
            a.detector in BEHAVIOUR_LAYER
            and SEVERITY_RANK[a.severity] >= SEVERITY_RANK.get(want, 9)
        ):
            s.severity_ok += 1

    def window_hits(a: Alert) -> list[dict[str, Any]]:
        """Behaviour attacks on the alert's agent whose detection window is still open."""
        if a.detector not in BEHAVIOUR_LAYER:
            return []
        n = calls[a.agent_id]
        return [
            h
            for h in windows.get(a.agent_id, ())
            if n - at_label[h["event_id"]] <= DETECTION_WINDOW_CALLS
        ]

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
                late = window_hits(a)
                if late and not near_hits:  # a behaviour-layer alert, a few calls into the attack
                    d.true_alerts += 1
                    for h in late:
                        credit(det[BEHAVIOUR], a, h)
                    continue
                if not near_hits:
                    if a.detector in BEHAVIOUR_LAYER:
                        undecided.append(a)
                        continue
                    d.other_fp += 1
                    if len(report.false_positive_alerts) < MAX_EXAMPLES:
                        report.false_positive_alerts.append(_fp_example(a, "other"))
                continue
            mine = [
                h
                for h in hits
                if h.get("detector") == a.detector
                or (h.get("detector") == BEHAVIOUR and a.detector in BEHAVIOUR_LAYER)
            ]
            if not mine:
                d.collateral += 1
                continue
            d.true_alerts += 1
            for h in mine:
                credit(det.setdefault(h["detector"], DetectorScore(h["detector"])), a, h)

    last_ts: float | None = None
    for raw in _lines(events):
        report.events += 1
        try:
            ev = decode_event(raw)
        except DecodeError:
            report.bad_events += 1
            continue
        is_call = isinstance(ev, ToolCall)
        if is_call:
            report.tool_calls += 1
            calls[ev.agent_id] += 1
            if ev.event_id not in attacks:
                report.benign_calls += 1
                if ev.agent_id in warm:
                    report.benign_calls_warm += 1
        t = ev.ts.timestamp()
        if ev.event_id in attacks or ev.event_id in near:
            at_label[ev.event_id] = calls[ev.agent_id]
            at_time[ev.event_id] = t
            lab = attacks.get(ev.event_id) or near[ev.event_id]
            sc = SCENARIO_BY_NAME.get(lab.get("scenario", ""))
            if lab.get("detector") == BEHAVIOUR:
                windows.setdefault(ev.agent_id, []).append(lab)
            elif sc is not None:
                spans.setdefault(ev.agent_id, []).append((t - sc.minutes * 60, t + sc.minutes * 60))
        last_ts = t if last_ts is None else max(last_ts, t)
        decision = engine.process(ev)
        if ev.type == "charter_updated" and any(
            a.detector == "charter_rejected" for a in decision.alerts
        ):  # refused
            report.bad_events += 1
            continue
        score(decision.alerts)
        if learned and is_call and ev.agent_id not in warm:
            st = engine.states.get(ev.agent_id)
            model = st.baseline if st is not None else None
            if model is not None and model.n_learned >= _warmup(engine, ev.agent_id):
                warm.add(ev.agent_id)
    if last_ts is not None:
        # Let pending event-time timers fire, as a quiet stream eventually would.
        score(engine.advance_watermark(last_ts + 86_400).alerts)
    for a in undecided:
        d = det[a.detector]
        t = a.ts.timestamp()
        if any(lo <= t <= hi for lo, hi in spans.get(a.agent_id, ())):
            d.collateral += 1
            continue
        d.other_fp += 1
        if len(report.false_positive_alerts) < MAX_EXAMPLES:
            report.false_positive_alerts.append(_fp_example(a, "other"))

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
    total.meta = {
        "agents": agents,
        "minutes": minutes,
        "seeds": list(seeds),
        "attacks": attacks,
        "tuning_seeds": list(TUNING_SEEDS),
    }
    return total


__all__ = [
    "BEHAVIOUR",
    "BEHAVIOUR_LAYER",
    "DETECTION_WINDOW_CALLS",
    "RULE_DETECTORS",
    "TUNING_SEEDS",
    "DetectorScore",
    "EvalReport",
    "ScenarioScore",
    "behaviour_comparison",
    "behaviour_row",
    "behaviour_section",
    "evaluate",
    "evaluate_seeds",
    "seeds_role",
]
