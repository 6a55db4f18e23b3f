"""The score of a labelled run: counts per detector and per scenario, verdicts, rendering.

Why a module of its own: the counting rules live in :mod:`monitor.evaluate.scorer`
(which alert detects which attack); what a score *is* — additive counts that
merge over seeds, the verdicts :meth:`EvalReport.passed` and
:meth:`EvalReport.all_found`, and the JSON and Markdown a report is rendered
to — is here, so a change of either reads on its own. The scoring rules are in
the package docstring (:mod:`monitor.evaluate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from monitor.core.detectors import REGISTRY
from monitor.simulate import BEHAVIOUR_MIN_MINUTES, BEHAVIOUR_SCENARIOS, SCENARIO_BY_NAME

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
                f"| {name} | {d.injected} | {d.detected} | {d.missed} | {_ratio(d.recall)} "
                f"| {_ratio(d.precision)} | {d.near_miss_fp} | {d.other_fp} "
                f"| {self.fp_per_1k(d):.3f} | {d.collateral} | {_mean(d.mean_calls_to_detection)} |"
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


__all__ = [
    "BEHAVIOUR",
    "BEHAVIOUR_AGENTS",
    "BEHAVIOUR_LAYER",
    "BEHAVIOUR_MAX_FP_PER_1K",
    "BEHAVIOUR_MINUTES",
    "BEHAVIOUR_MIN_RECALL",
    "DETECTION_WINDOW_CALLS",
    "MAX_EXAMPLES",
    "RULE_DETECTORS",
    "TUNING_SEEDS",
    "DetectorScore",
    "EvalReport",
    "ScenarioScore",
    "behaviour_row",
    "behaviour_section",
    "seeds_role",
]
