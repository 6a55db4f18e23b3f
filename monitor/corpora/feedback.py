"""A simulated analyst on a labelled corpus: does the feedback ranker lower false positives?

``mcpmon evaluate --corpus NAME --feedback-analyst`` runs the full configuration
(hijack detectors and learned baseline on) three ways over the same events:

- **no analyst** — the run ``mcpmon evaluate --corpus NAME`` scores;
- **verdicts, ranker off** — an analyst answers alerts with ``alert_feedback``
  events (the behaviour baseline re-learns or un-learns the call, as it does
  today); alerts as the engine emits them;
- **verdicts + ranker demoting** — the same run, each alert scored by the engine's
  feedback ranker (:mod:`monitor.core.feedback_ranker`) learning online from those
  verdicts; alerts it would demote (severity ``info``) are not counted as flagged.

and, for the ranker as a *re-ranker* (what the engine ships: a score on each
alert, nothing suppressed), the AUC per part: how often a hijack alert scores
above a benign or failed-attempt alert, by the engine's score and by the
ranker's ``feedback_score`` (over the alerts the ranker scored).

The analyst: an alert whose evidence points at a session of the **tuning** part
gets a verdict from the corpus label — ``malicious`` when the session is a
successful hijack, ``benign`` when it is benign, warm-up or a failed attack
attempt — delivered ``delay`` input events after the alert, for a seeded
``fraction`` of those alerts. Alerts on held-out sessions never get a verdict:
the held-out figures say what the verdicts on other cases taught the ranker.
Alerts pointing at no labelled session get none either.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from monitor.core import Engine, EngineSettings
from monitor.core.detectors import REGISTRY
from monitor.core.feedback_ranker import FeedbackRanker, RankerSettings
from monitor.corpora.base import Corpus, Split
from monitor.corpora.scoring import CONFIGS, PARTS, PartScore, _charters, _Index, _index, _score
from monitor.events import AlertFeedback
from monitor.output_contracts import Alert

#: detectors the ranker may demote: the behaviour layer (never a charter rule)
DEMOTABLE = frozenset(name for name, cls in REGISTRY.items() if cls.analytic != "rule")
RUNS = ("no analyst", "verdicts, ranker off", "verdicts + ranker demoting")


@dataclass(frozen=True, slots=True)
class Analyst:
    delay: int = 100  # input events between an alert and its verdict
    fraction: float = 1.0  # share of tuning-part alerts that get a verdict (seeded)
    seed: int = 0
    #: the verdict on an alert at a failed attack attempt: benign (nothing happened),
    #: malicious (it was an attack all the same) or none (no verdict)
    failed: str = "benign"


def verdict_of(alert: Alert, ix: _Index, failed: str = "benign") -> tuple[str, Split] | None:
    """The simulated analyst's verdict on ``alert`` and the part it belongs to (None: no
    labelled session, sessions of both parts, or a failed attempt with ``failed="none"``)."""
    labs = [ix.labels[ix.session_of[e]] for e in alert.evidence if e in ix.session_of]
    if not labs or len({lab.split for lab in labs}) != 1:
        return None
    if any(lab.kind == "attack" and lab.succeeded is not False for lab in labs):
        return "malicious", labs[0].split
    if any(lab.kind == "attack" for lab in labs):
        return None if failed == "none" else (failed, labs[0].split)
    return "benign", labs[0].split


def _picked(alert_id: str, a: Analyst) -> bool:
    if a.fraction >= 1.0:
        return True
    h = hashlib.blake2b(f"{a.seed}|{alert_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h) / 2**64 < a.fraction


@dataclass(slots=True)
class FeedbackRun:
    raw: list[Alert] = field(default_factory=list)  # as the engine emitted them
    ranked: list[Alert] = field(default_factory=list)  # after the ranker (demoted ones out)
    demoted: Counter[str] = field(default_factory=Counter)  # where demoted alerts pointed
    verdicts: Counter[str] = field(default_factory=Counter)
    ranker_bytes: int = 0
    model_bytes: int = 0
    weights: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    max_agent_state: int = 0
    #: (where the alert pointed, engine score, ranker score, detector prior) of every alert
    #: the ranker scored; the prior is the share of malicious verdicts on the alert's
    #: detector so far (Laplace): the counting baseline the classifier must beat
    scored: list[tuple[str, float, float, float]] = field(default_factory=list)

    def auc(self, part: str, which: int) -> float | None:
        """How well a score (1: the engine's, 2: the ranker's, 3: the detector prior) ranks
        the part's hijack alerts above its benign and failed-attempt ones: P(hijack > other),
        ties half."""
        pos = [float(x[which]) for x in self.scored if x[0] == f"{part}: hijack"]
        neg = [
            float(x[which])
            for x in self.scored
            if x[0] in (f"{part}: benign", f"{part}: failed attempt", f"{part}: warmup")
        ]
        if not pos or not neg:
            return None
        wins = sum(float(p > n) + 0.5 * float(p == n) for p in pos for n in neg)
        return wins / (len(pos) * len(neg))


def run_with_analyst(
    corpus: Corpus,
    ix: _Index,
    settings: EngineSettings,
    ranker_settings: RankerSettings,
    analyst: Analyst,
) -> FeedbackRun:
    """One engine run over the corpus with the analyst's verdicts interleaved, the ranker
    scoring every alert it emits."""
    ranker = FeedbackRanker(ranker_settings)
    engine = Engine(_charters(corpus, True, True), settings, ranker=ranker)  # the core's ranker
    due: dict[int, list[tuple[Alert, str]]] = {}
    prior: dict[str, list[int]] = {}  # detector -> [malicious verdicts, verdicts]
    out = FeedbackRun()
    last_ts: datetime | None = None

    def take(alerts: Sequence[Alert], i: int) -> None:
        for a in alerts:
            out.raw.append(a)
            if ranker.demoted(a, DEMOTABLE) is not None:
                out.demoted[_where(a, ix)] += 1
            else:
                out.ranked.append(a)
            p = a.details.get("feedback_score")
            if isinstance(p, float):
                m, n = prior.get(a.detector, [0, 0])
                out.scored.append((_where(a, ix), a.score, p, (m + 1) / (n + 2)))
            v = verdict_of(a, ix, analyst.failed)
            if v is not None and v[1] == "tuning" and _picked(a.alert_id, analyst):
                due.setdefault(i + analyst.delay, []).append((a, v[0]))

    def deliver(i: int) -> None:
        if last_ts is None:  # no event yet, so no alert yet
            return
        for a, verdict in due.pop(i, ()):
            fb = AlertFeedback(
                event_id=f"fb-{a.alert_id}",
                ts=last_ts,
                agent_id=a.agent_id,
                alert_id=a.alert_id,
                verdict=verdict,  # type: ignore[arg-type]
            )
            take(engine.process(fb).alerts, i)  # the engine's ranker learns it
            row = prior.setdefault(a.detector, [0, 0])
            row[0] += verdict == "malicious"
            row[1] += 1
            out.verdicts[verdict] += 1

    for i, ev in enumerate(ix.decoded):
        deliver(i)
        take(engine.process(ev).alerts, i)
        last_ts = ev.ts
    if last_ts is not None:
        for i in sorted(due):
            deliver(i)
        take(engine.advance_watermark(last_ts.timestamp() + 86_400).alerts, len(ix.decoded))
    if ranker_settings.model == "logistic":
        out.ranker_bytes = len(ranker.snapshot())
        kept, ranker.memory = ranker.memory, type(ranker.memory)()
        out.model_bytes = len(ranker.snapshot())  # the model alone, without its memory
        ranker.memory = kept
    out.weights = len(getattr(ranker._model, "_weights", ()))
    out.stats = dict(ranker.stats)
    out.max_agent_state = max((len(st.snapshot()) for st in engine.states.values()), default=0)
    return out


def _where(a: Alert, ix: _Index) -> str:
    labs = [ix.labels[ix.session_of[e]] for e in a.evidence if e in ix.session_of]
    if not labs:
        return "no session"
    lab = labs[0]
    if lab.kind == "attack":
        if lab.succeeded is False:
            return f"{lab.split}: failed attempt"
        hit = any(set(a.evidence) & set(x.attack_events) for x in labs)
        return f"{lab.split}: hijack" + ("" if hit else " (other call)")
    return f"{lab.split}: {lab.kind}"


@dataclass(slots=True)
class FeedbackReport:
    corpus: str
    parts: tuple[Split, ...]
    analyst: Analyst
    ranker: RankerSettings
    runs: dict[str, dict[str, PartScore]]
    run: FeedbackRun

    def to_dict(self) -> dict[str, Any]:
        r = self.run
        return {
            "corpus": self.corpus,
            "analyst": {
                "delay_events": self.analyst.delay,
                "fraction": self.analyst.fraction,
                "seed": self.analyst.seed,
                "failed_attempt_verdict": self.analyst.failed,
            },
            "ranker": {
                "model": self.ranker.model,
                "demote": self.ranker.demote,
                "demote_below": self.ranker.demote_below,
                "min_verdicts": self.ranker.min_verdicts,
                "buckets": self.ranker.buckets,
                "keep": self.ranker.keep,
                "learning_rate": self.ranker.learning_rate,
                "seed": self.ranker.seed,
            },
            "runs": {
                name: {p: s.to_dict() for p, s in parts.items()}
                for name, parts in self.runs.items()
            },
            "verdicts": dict(sorted(r.verdicts.items())),
            "demoted": dict(sorted(r.demoted.items())),
            "alerts": len(r.raw),
            "auc": {
                p: {
                    "engine_score": _r(r.auc(p, 1)),
                    "feedback_score": _r(r.auc(p, 2)),
                    "detector_prior": _r(r.auc(p, 3)),
                }
                for p in self.parts
            },
            "ranker_snapshot_bytes": r.ranker_bytes,
            "ranker_model_bytes": r.model_bytes,
            "ranker_weights": r.weights,
            "ranker_counters": dict(sorted(r.stats.items())),
            "max_agent_state_bytes": r.max_agent_state,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"

    def to_markdown(self) -> str:
        a, s, r = self.analyst, self.ranker, self.run
        lines = [
            f"## Feedback ranker on {self.corpus}: a simulated analyst",
            "",
            f"Analyst: verdicts from the labels on alerts pointing at tuning-part sessions, "
            f"{a.delay} input events after the alert, for {a.fraction:.0%} of them (seed "
            f"{a.seed}); held-out alerts get none. Ranker: {s.model}, {s.buckets} hashed "
            f"features, scores after {s.min_verdicts} verdicts, demotes behaviour-layer alerts "
            f"with P(malicious) < {s.demote_below:g}"
            + ("" if s.demote else " (demotion off: annotate only)")
            + ". Demoted alerts are not counted as flagged or as catching a hijack.",
            "",
            "| part | run | attack sessions | caught | recall | benign sessions | flagged "
            "| FP alerts | FP / 1k benign calls | failed attempts alerted |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for part in self.parts:
            for name, parts in self.runs.items():
                p = parts[part]
                rec = "–" if p.recall is None else f"{p.recall:.3f}"
                lines.append(
                    f"| {'held out' if part == 'held_out' else part} | {name} "
                    f"| {p.attack_sessions} | {p.caught} | {rec} | {p.benign_sessions} "
                    f"| {p.benign_flagged} | {p.benign_fp_alerts} | {p.fp_per_1k:.3f} "
                    f"| {p.failed_flagged} / {p.failed_attempts} |"
                )
        lines += [
            "",
            "Re-ranking (alerts the ranker scored; AUC: a hijack alert above a benign or "
            "failed-attempt one, ties half): "
            + "; ".join(
                f"{'held out' if p == 'held_out' else p} engine score {_fmt(r.auc(p, 1))}, "
                f"detector's share of malicious verdicts {_fmt(r.auc(p, 3))}, "
                f"feedback_score {_fmt(r.auc(p, 2))}"
                for p in self.parts
            )
            + ".",
        ]
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(r.verdicts.items())) or "none"
        demoted = ", ".join(f"{k} {v}" for k, v in sorted(r.demoted.items())) or "none"
        lines += [
            "",
            f"Verdicts delivered: {verdicts}. Alerts demoted (where they pointed): {demoted}. "
            f"Ranker state: {r.weights} weights ({r.model_bytes:,} B as JSON), "
            f"{r.ranker_bytes:,} B with the alerts it remembers for a verdict; largest agent "
            f"state {r.max_agent_state:,} B.",
        ]
        return "\n".join(lines) + "\n"


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def evaluate_feedback(
    corpus: Corpus,
    parts: Sequence[Split] = PARTS,
    settings: EngineSettings | None = None,
    ranker_settings: RankerSettings | None = None,
    analyst: Analyst | None = None,
) -> FeedbackReport:
    """Score the full configuration without an analyst, with verdicts and no ranker, and
    with verdicts and the ranker, on the given parts."""
    from monitor.corpora.scoring import _run

    settings = settings or EngineSettings()
    rs = ranker_settings or RankerSettings(demote=True)
    analyst = analyst or Analyst()
    ix = _index(corpus)
    name = CONFIGS[-1][0]
    base = _score(name, _run(corpus, ix, True, True, settings), ix, parts)
    run = run_with_analyst(corpus, ix, settings, rs, analyst)
    runs = {
        RUNS[0]: base.parts,
        RUNS[1]: _score(name, run.raw, ix, parts).parts,
        RUNS[2]: _score(name, run.ranked, ix, parts).parts,
    }
    return FeedbackReport(corpus.name, tuple(parts), analyst, rs, runs, run)


__all__ = ["DEMOTABLE", "RUNS", "Analyst", "FeedbackReport", "evaluate_feedback", "verdict_of"]
