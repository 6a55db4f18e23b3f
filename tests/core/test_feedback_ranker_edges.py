"""The feedback ranker pinned at its edges: the exact features and hashes it learns from, its
change counter, its memory's order, demotion's boundaries, and each refusal of a stored
snapshot by name. Found by the first mutation run of monitor/core/feedback_ranker.py."""

from __future__ import annotations

import hashlib
import re

import orjson
import pytest
from river import linear_model, naive_bayes, optim

from monitor.core.feedback_ranker import FeedbackRanker, RankerSettings, alert_features
from monitor.corpora.feedback import DEMOTABLE
from tests.core.test_feedback_ranker import _alert


def test_an_alert_is_these_indicator_features_and_no_others() -> None:
    a = _alert("behaviour_anomaly", "medium", top_features="bytes_out, ,new_destination")
    assert alert_features(a, "mail/send") == {
        "det=behaviour_anomaly": 1.0,
        "sev=medium": 1.0,
        "det*sev=behaviour_anomaly|medium": 1.0,
        "clause=k": 1.0,
        "kind=autonomous": 1.0,
        "charter=agent:*": 1.0,
        "tool=mail/send": 1.0,
        "det*tool=behaviour_anomaly|mail/send": 1.0,
        "top=bytes_out": 1.0,
        "top=new_destination": 1.0,
    }


def test_a_feature_name_hashes_to_its_salted_blake2b_bucket() -> None:
    r = FeedbackRanker(RankerSettings(seed=3, buckets=1000))
    digest = hashlib.blake2b(b"mcpmon-ranker-3|det=x", digest_size=8).digest()
    assert r.hashed({"det=x": 1.0}) == (int.from_bytes(digest) % 1000,)


def test_it_learns_exactly_a_logistic_regression_on_indicators_with_its_learning_rate() -> None:
    s = RankerSettings(learning_rate=0.3)
    r = FeedbackRanker(s)
    ref = linear_model.LogisticRegression(optimizer=optim.SGD(0.3))
    for i, verdict in enumerate(("malicious", "benign", "malicious")):
        buckets = r.hashed({f"det=d{i}": 1.0, "sev=high": 1.0})
        r.remember(f"a{i}", buckets)
        assert r.learn(f"a{i}", verdict) is True
        ref.learn_one(dict.fromkeys(buckets, 1.0), verdict == "malicious")
    doc = orjson.loads(r.snapshot())
    assert doc["intercept"] == float(ref.intercept)
    assert doc["w"] == sorted([int(k), float(v)] for k, v in dict(ref._weights).items())


def test_changes_count_what_a_saver_must_write_and_nothing_else() -> None:
    r = FeedbackRanker()
    assert r.changes == 0
    r.remember("a", {"det=x": 1.0})
    r.remember("b", {"det=y": 1.0})
    assert r.changes == 2
    assert r.learn("a", "benign") is True and r.changes == 3
    assert r.learn("a", "benign") is False and r.changes == 3  # forgotten: nothing learned
    assert r.learn("b", "maybe") is False and r.changes == 3
    assert r.stats == {
        "feedback_benign": 1,
        "feedback_unknown_alert": 1,
        "feedback_bad_verdict": 1,
    }


def test_the_memory_forgets_its_oldest_alert_first() -> None:
    r = FeedbackRanker(RankerSettings(keep=2))
    for k in ("a", "b", "c"):
        r.remember(k, {f"det={k}": 1.0})
    assert list(r.memory) == ["b", "c"]
    r.remember("b", {"det=b": 1.0})  # remembered again: the newest now
    r.remember("d", {"det=d": 1.0})
    assert list(r.memory) == ["b", "d"]


def test_the_score_is_rounded_to_four_places() -> None:
    r = FeedbackRanker(RankerSettings(min_verdicts=1))
    r.remember("x", {"det=behaviour_anomaly": 1.0})
    r.learn("x", "malicious")
    a = _alert("behaviour_anomaly")
    raw = r.score(r.hashed(alert_features(a, "s/t")))
    assert raw is not None and round(raw, 5) != round(raw, 4)
    assert r.annotate(a, "s/t").details["feedback_score"] == round(raw, 4)


def test_demotion_is_strictly_below_the_line_never_of_info_and_counted() -> None:
    r = FeedbackRanker(RankerSettings(demote=True, demote_below=0.25))
    assert r.demoted(_alert("behaviour_anomaly", feedback_score=0.25), DEMOTABLE) is None
    assert r.demoted(_alert("behaviour_anomaly", "info", feedback_score=0.1), DEMOTABLE) is None
    assert "feedback_demoted" not in r.stats
    for n in (1, 2):
        assert r.demoted(_alert("behaviour_anomaly", feedback_score=0.1), DEMOTABLE) is not None
        assert r.stats == {"feedback_demoted": n}


def test_the_models_it_knows_and_one_it_does_not() -> None:
    nb = FeedbackRanker(RankerSettings(model="naive_bayes"))._model
    assert isinstance(nb, naive_bayes.BernoulliNB) and nb.alpha == 1.0
    with pytest.raises(ValueError, match=r"^only the logistic ranker snapshots$"):
        FeedbackRanker(RankerSettings(model="naive_bayes")).snapshot()
    with pytest.raises(ValueError, match=r"^unknown feedback ranker model 'svm'$"):
        FeedbackRanker(RankerSettings(model="svm"))


def _doc(**changes: object) -> bytes:
    doc = orjson.loads(FeedbackRanker(RankerSettings(buckets=8)).snapshot())
    doc.update(changes)
    return orjson.dumps(doc)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_doc(v=2), "ValueError: unknown version"),
        (_doc(buckets=16), "ValueError: made with other buckets or seed"),
        (_doc(seed=1), "ValueError: made with other buckets or seed"),
        (_doc(w=[[8, 0.5]]), "ValueError: bad weight index"),
        (_doc(w=[[-1, 0.5]]), "ValueError: bad weight index"),
        (_doc(verdicts=None), "TypeError: int() argument must be"),
    ],
)
def test_a_stored_snapshot_is_refused_naming_why(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(f"feedback ranker snapshot: {reason}")):
        FeedbackRanker.restore(data, RankerSettings(buckets=8))


def test_a_snapshot_restores_its_edge_weights_and_its_newest_memory() -> None:
    s = RankerSettings(buckets=8, keep=1)
    r = FeedbackRanker.restore(_doc(w=[[0, 0.5], [7, -0.25]], verdicts=3), s)
    assert dict(r._model._weights) == {0: 0.5, 7: -0.25} and r.verdicts == 3
    memory = [["a", [1]], ["b", [2, 3]], ["c", [4, 5]]]
    r = FeedbackRanker.restore(_doc(memory=memory), s)
    assert dict(r.memory) == {"c": (4, 5)}


def test_a_model_that_has_only_seen_benign_verdicts_scores_zero() -> None:
    """Naive Bayes knows no ``True`` class until a malicious verdict: P(malicious) is 0."""
    r = FeedbackRanker(RankerSettings(model="naive_bayes", min_verdicts=1))
    r.remember("a", {"det=x": 1.0})
    r.learn("a", "benign")
    assert r.score(r.hashed({"det=x": 1.0})) == 0.0
