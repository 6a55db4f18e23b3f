"""feedback ranker: one online classifier (river) learning analysts' verdicts on alerts.

Why here and not per call: river lost on the per-call path (cost and state, see
``results/baseline_models.md`` and ``results/baseline_cost.md``); per *alert* it
sees a few events in a thousand. An analyst's ``alert_feedback`` verdict is a
label; the ranker learns ``P(malicious | alert)`` from those labels and
annotates every later alert with it (``details.feedback_score``): a queue sorted
by it puts what analysts confirmed before first. It does not *demote* anything
in the engine: demoting alerts it predicts benign (severity ``info``,
``details.feedback_demoted_from``) cost hijacks at every threshold tried on the
tuning parts, so :meth:`FeedbackRanker.demoted` exists for the evaluation only
(``results/feedback_ranker.md``).

What it sees of an alert (never a secret or an argument value): the detector,
the severity, the charter clause key, the agent kind, the charter pattern, the
called ``server/tool`` and, for ``behaviour_anomaly``, the names of the features
that drove it; plus the alert's score. Names are hashed (blake2b, salted by the
seed) into :attr:`RankerSettings.buckets` indicator features, so the model has
at most that many weights whatever the traffic: its state is bounded.

Who may teach it. ``alert_feedback`` is unsigned: whoever can write to
``mcp.events`` can send verdicts. So (1) a verdict counts only for an alert this
engine emitted and still remembers (the last :attr:`RankerSettings.keep`;
others are counted, ``feedback_unknown_alert``), (2) the score is an annotation:
no severity, alert or revocation depends on it, so a forged verdict can reorder
a queue, never silence a finding, and (3) the evaluation's demotion touches only
the behaviour layer (detectors whose ``analytic`` is not ``rule``), never a
charter rule, lifecycle or hygiene finding. Restrict the topic's producers (the
tap's principal and the analysts' ``mcpmon feedback``) all the same.

Deterministic: river's logistic regression with plain SGD starts from zero
weights and draws nothing at random; hashing is salted by the seed, not by
Python's per-process hash. State round-trips through :meth:`snapshot` /
:meth:`restore` (plain JSON); the worker keeps it in ``DATA_DIR/feedback_ranker.json``
(:meth:`monitor.worker.processor.Processor.save_ranker`).

>>> r = FeedbackRanker(RankerSettings(min_verdicts=1))
>>> r.remember("a1", {"det=x": 1.0})
>>> r.learn("a1", "benign"), r.learn("a1", "benign"), r.verdicts
(True, False, 1)
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from monitor.output_contracts import Alert

#: snapshot format version
VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class RankerSettings:
    """Plain values for the ranker; the shell builds them (defaults picked on tuning parts)."""

    demote: bool = False  # demote alerts predicted benign (behaviour layer; evaluation only)
    demote_below: float = 0.2  # P(malicious) under this: demoted
    min_verdicts: int = 20  # no score before this many verdicts were learned
    buckets: int = 1024  # hashed indicator features: the model's size bound
    keep: int = 1024  # alerts remembered for a later verdict (deployment-wide)
    learning_rate: float = 0.1
    seed: int = 0
    model: str = "logistic"  # or "naive_bayes" (bench only: no snapshot)


def alert_features(alert: Alert, tool: str | None) -> dict[str, float]:
    """The named features of one alert (before hashing): never an argument value."""
    det = alert.detector
    out = {
        f"det={det}": 1.0,
        f"sev={alert.severity}": 1.0,
        f"det*sev={det}|{alert.severity}": 1.0,
        f"clause={alert.clause.key}": 1.0,
        f"kind={alert.agent_kind}": 1.0,
        f"charter={alert.clause.charter}": 1.0,
    }
    if tool is not None:
        out[f"tool={tool}"] = 1.0
        out[f"det*tool={det}|{tool}"] = 1.0
    top = alert.details.get("top_features")
    if isinstance(top, str):
        for name in top.split(","):
            name = name.strip()
            if name:
                out[f"top={name}"] = 1.0
    return out


class FeedbackRanker:
    """The deployment's one alert-verdict model (per engine), bounded and seeded."""

    __slots__ = ("_model", "_salt", "changes", "memory", "settings", "stats", "verdicts")

    def __init__(self, settings: RankerSettings | None = None) -> None:
        self.settings = s = settings or RankerSettings()
        self._salt = f"mcpmon-ranker-{s.seed}|".encode()
        self.memory: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        self.verdicts = 0
        self.changes = 0  # remembered alerts and learned verdicts: a saver's "changed since"
        self.stats: dict[str, int] = {}
        self._model = _new_model(s)

    # ------------------------------------------------------------------ features
    def hashed(self, named: Mapping[str, float]) -> tuple[int, ...]:
        """Bucket indices of the named indicator features (sorted, distinct)."""
        n, salt = self.settings.buckets, self._salt
        return tuple(
            sorted(
                {
                    int.from_bytes(hashlib.blake2b(salt + k.encode(), digest_size=8).digest()) % n
                    for k in named
                }
            )
        )

    @staticmethod
    def _x(buckets: Iterable[int]) -> dict[int, float]:
        return dict.fromkeys(buckets, 1.0)

    # ------------------------------------------------------------------ protocol
    def score(self, buckets: Sequence[int]) -> float | None:
        """``P(malicious)`` of an alert with these features; None before ``min_verdicts``."""
        if self.verdicts < self.settings.min_verdicts:
            return None
        proba = self._model.predict_proba_one(self._x(buckets))
        return float(proba.get(True, 0.0))

    def remember(self, alert_id: str, named: Mapping[str, float] | tuple[int, ...]) -> None:
        """Keep an alert's features (named, or already hashed) for a later verdict (the
        last ``keep``)."""
        self.changes += 1
        self.memory[alert_id] = named if isinstance(named, tuple) else self.hashed(named)
        self.memory.move_to_end(alert_id)
        while len(self.memory) > self.settings.keep:
            self.memory.popitem(last=False)

    def learn(self, alert_id: str, verdict: str) -> bool:
        """Learn one verdict on a remembered alert; False (counted) when it is not one."""
        buckets = self.memory.pop(alert_id, None)
        if buckets is None or verdict not in ("benign", "malicious"):
            key = "feedback_unknown_alert" if buckets is None else "feedback_bad_verdict"
            self.stats[key] = self.stats.get(key, 0) + 1
            return False
        self._model.learn_one(self._x(buckets), verdict == "malicious")
        self.verdicts += 1
        self.changes += 1
        self.stats[f"feedback_{verdict}"] = self.stats.get(f"feedback_{verdict}", 0) + 1
        return True

    def annotate(self, alert: Alert, tool: str | None) -> Alert:
        """Score and remember one alert: a copy with ``details.feedback_score`` once the
        model has learned ``min_verdicts`` verdicts, else the alert itself."""
        buckets = self.hashed(alert_features(alert, tool))
        p = self.score(buckets)
        self.remember(alert.alert_id, buckets)
        if p is None:
            return alert
        details = {**alert.details, "feedback_score": round(p, 4)}
        return alert.model_copy(update={"details": details})

    def demoted(self, alert: Alert, demotable: frozenset[str]) -> Alert | None:
        """``alert`` demoted (severity ``info``, ``details.feedback_demoted_from``) when
        demotion is on, its detector is in ``demotable`` and its ``feedback_score`` is under
        ``demote_below``; else None. The engine does not call it: demotion lost on the
        held-out corpora (results/feedback_ranker.md); the evaluation measures it."""
        s, p = self.settings, alert.details.get("feedback_score")
        if not (
            s.demote
            and isinstance(p, float)
            and p < s.demote_below
            and alert.detector in demotable
            and alert.severity != "info"
        ):
            return None
        self.stats["feedback_demoted"] = self.stats.get("feedback_demoted", 0) + 1
        details = {**alert.details, "feedback_demoted_from": alert.severity}
        return alert.model_copy(update={"severity": "info", "details": details})

    # ------------------------------------------------------------------ state
    def snapshot(self) -> bytes:
        """Model weights, verdict count and remembered alerts, as JSON bytes."""
        if self.settings.model != "logistic":
            raise ValueError("only the logistic ranker snapshots")
        m = self._model
        return orjson.dumps(
            {
                "v": VERSION,
                "buckets": self.settings.buckets,
                "seed": self.settings.seed,
                "verdicts": self.verdicts,
                "intercept": float(m.intercept),
                "w": sorted([int(k), float(v)] for k, v in dict(m._weights).items()),
                "memory": [[k, list(v)] for k, v in self.memory.items()],
            }
        )

    @classmethod
    def restore(cls, data: bytes, settings: RankerSettings | None = None) -> FeedbackRanker:
        """The ranker of :meth:`snapshot`; ``ValueError`` for anything else (a stored
        snapshot is input: another shape, other buckets or seed, a weight out of range)."""
        r = cls(settings)
        try:
            r._load(orjson.loads(data))
        except (KeyError, TypeError, IndexError, ValueError) as err:
            raise ValueError(f"feedback ranker snapshot: {type(err).__name__}: {err}") from None
        return r

    def _load(self, doc: Any) -> None:
        s = self.settings
        if not isinstance(doc, dict) or doc.get("v") != VERSION:
            raise ValueError("unknown version")
        if doc.get("buckets") != s.buckets or doc.get("seed") != s.seed:
            raise ValueError("made with other buckets or seed")
        m = self._model
        m.intercept = float(doc["intercept"])
        for k, v in doc["w"]:
            if not (isinstance(k, int) and 0 <= k < s.buckets):
                raise ValueError("bad weight index")
            m._weights[k] = float(v)
        self.verdicts = int(doc["verdicts"])
        for k, v in doc["memory"][-s.keep :]:
            self.memory[str(k)] = tuple(int(i) for i in v)


def _new_model(s: RankerSettings) -> Any:
    """river imports on first use: engines without the ranker never load it."""
    if s.model == "naive_bayes":
        from river import naive_bayes

        return naive_bayes.BernoulliNB(alpha=1.0)
    if s.model != "logistic":
        raise ValueError(f"unknown feedback ranker model {s.model!r}")
    from river import linear_model, optim

    return linear_model.LogisticRegression(optimizer=optim.SGD(s.learning_rate))


__all__ = ["FeedbackRanker", "RankerSettings", "alert_features"]
