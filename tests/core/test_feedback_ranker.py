"""The feedback ranker: verdicts order alerts, no verdicts change nothing, state restarts."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from monitor import testing as tb
from monitor.core import Engine, EngineSettings
from monitor.core.feedback_ranker import FeedbackRanker, RankerSettings, alert_features
from monitor.core.state import AgentState
from monitor.corpora.feedback import DEMOTABLE
from monitor.errors import DecodeError
from monitor.events import AlertFeedback, decode_event
from monitor.output_contracts import Alert
from tests.core.test_engine import CH, A  # a delegated agent granted fs/read_file only

#: two out-of-charter tools: same detector, same severity, same engine score
VERDICT = {"delete_repo": "malicious", "write_file": "benign"}
SERVER = {"delete_repo": "github", "write_file": "fs"}


def _engine(**kw: Any) -> Engine:
    return Engine([CH], EngineSettings(alert_dedup_seconds=0, feedback_ranker=True), **kw)


def _feedback(t: float, alert_id: str, verdict: str, agent: str = A) -> AlertFeedback:
    return AlertFeedback(
        event_id=f"fb-{alert_id}-{verdict}",
        ts=tb.at(t),
        agent_id=agent,
        alert_id=alert_id,
        verdict=verdict,  # type: ignore[arg-type]
    )


def _teach(eng: Engine, rounds: int, start: int = 0) -> int:
    """``rounds`` alerts per tool, each answered with its tool's verdict; the next second."""
    t = start
    for _ in range(rounds):
        for tool, verdict in VERDICT.items():
            t += 1
            d = eng.process(tb.call(t, A, SERVER[tool], tool, task_id="T", sponsor="s"))
            for a in d.alerts:
                eng.process(_feedback(t, a.alert_id, verdict))
    return t + 1


def _scores(eng: Engine, t: int) -> dict[str, Any]:
    out = {}
    for tool in VERDICT:
        (a,) = eng.process(tb.call(t, A, SERVER[tool], tool, task_id="T", sponsor="s")).alerts
        out[tool] = a.details.get("feedback_score")
        t += 1
    return out


def test_verdicts_order_alerts_the_engine_scores_alike() -> None:
    eng = _engine()
    t = _teach(eng, 15)
    s = _scores(eng, t)
    assert s["write_file"] < 0.5 < s["delete_repo"]
    c = eng.counters()
    assert (c["feedback_malicious"], c["feedback_benign"]) == (15, 15)


def test_no_verdicts_no_annotation_and_alerts_identical_to_no_ranker() -> None:
    calls = [tb.call(i, A, "github", "delete_repo", task_id="T", sponsor="s") for i in range(30)]
    on = _engine()
    off = Engine([CH], EngineSettings(alert_dedup_seconds=0))
    for ev in calls:
        a, b = on.process(ev), off.process(ev)
        assert [x.to_json() for x in a.alerts] == [x.to_json() for x in b.alerts]
        assert [x.to_json() for x in a.revocations] == [x.to_json() for x in b.revocations]
        assert all("feedback_score" not in x.details for x in a.alerts)
    assert off.ranker is None


def test_fewer_than_min_verdicts_no_score() -> None:
    eng = _engine()
    t = _teach(eng, 9)  # 18 verdicts, min 20
    assert _scores(eng, t) == {"delete_repo": None, "write_file": None}


def test_ranker_survives_a_restart() -> None:
    eng = _engine()
    t = _teach(eng, 12)
    states = {k: st.snapshot() for k, st in eng.states.items()}
    snap = eng.ranker.snapshot() if eng.ranker else b""
    again = _engine(
        states={k: AgentState.restore(v) for k, v in states.items()},
        ranker=FeedbackRanker.restore(snap),
    )
    assert again.ranker is not None and eng.ranker is not None
    assert again.ranker.snapshot() == snap
    assert _scores(again, t) == _scores(eng, t)


def test_unknown_alert_and_repeated_verdict_are_counted_not_learned() -> None:
    eng = _engine()
    eng.process(_feedback(1, "no-such-alert", "benign"))
    (a,) = eng.process(tb.call(2, A, "github", "delete_repo", task_id="T", sponsor="s")).alerts
    eng.process(_feedback(3, a.alert_id, "malicious"))
    eng.process(_feedback(4, a.alert_id, "benign"))  # the alert was learned and forgotten
    assert eng.ranker is not None and eng.ranker.verdicts == 1
    assert eng.counters()["feedback_unknown_alert"] == 2


def test_a_bad_verdict_is_a_decode_error_for_the_dead_letter_path() -> None:
    raw = (
        b'{"type":"alert_feedback","event_id":"f1","ts":"2026-01-01T00:00:00Z",'
        b'"agent_id":"agent:assist/1","alert_id":"x","verdict":"maybe"}'
    )
    with pytest.raises(DecodeError):
        decode_event(raw)


def test_corrupt_or_mismatched_snapshot_is_refused() -> None:
    r = FeedbackRanker()
    with pytest.raises(ValueError):
        FeedbackRanker.restore(b'{"v": 99}')
    with pytest.raises(ValueError):
        FeedbackRanker.restore(r.snapshot(), RankerSettings(seed=1))
    good = orjson.loads(r.snapshot())
    for bad in ({**good, "w": [[5000, 1.0]]}, {**good, "w": [7]}, {**good, "memory": 3}, []):
        with pytest.raises(ValueError):
            FeedbackRanker.restore(orjson.dumps(bad))


def test_seeded_and_deterministic() -> None:
    def run(seed: int) -> bytes:
        eng = Engine(
            [CH],
            EngineSettings(alert_dedup_seconds=0),
            ranker=FeedbackRanker(RankerSettings(seed=seed)),
        )
        _teach(eng, 12)
        assert eng.ranker is not None
        return eng.ranker.snapshot()

    assert run(0) == run(0)
    assert run(0) != run(1)


def test_state_is_bounded() -> None:
    r = FeedbackRanker(RankerSettings(buckets=16, keep=8, min_verdicts=1))
    for i in range(100):
        r.remember(f"a{i}", {f"tool=t{i}": 1.0, f"det=d{i % 3}": 1.0})
        r.learn(f"a{i}", "benign" if i % 2 else "malicious")
        r.remember(f"b{i}", {f"tool=t{i}": 1.0})
    assert len(r.memory) == 8
    weights = orjson.loads(r.snapshot())["w"]
    assert len(weights) <= 16 and all(0 <= k < 16 for k, _ in weights)


def _alert(detector: str, severity: str = "high", **details: Any) -> Alert:
    return Alert.model_validate(
        {
            "alert_id": "a1",
            "ts": "2026-01-01T00:00:00Z",
            "agent_id": A,
            "agent_kind": "autonomous",
            "detector": detector,
            "severity": severity,
            "score": 0.9,
            "reason": "r",
            "evidence": ["e1"],
            "clause": {"charter": "agent:*", "key": "k", "text": "t", "mission": ""},
            "frameworks": {"owasp_agentic": [], "maestro": [], "nist_ai_rmf": []},
            "mode": "observe",
            "details": details,
        }
    )


def test_demotion_never_touches_a_rule_detector() -> None:
    r = FeedbackRanker(RankerSettings(demote=True, demote_below=0.5))
    assert r.demoted(_alert("lingering_access", feedback_score=0.01), DEMOTABLE) is None
    assert r.demoted(_alert("out_of_charter_tool", feedback_score=0.01), DEMOTABLE) is None
    d = r.demoted(_alert("behaviour_anomaly", feedback_score=0.01), DEMOTABLE)
    assert d is not None and d.severity == "info"
    assert d.details["feedback_demoted_from"] == "high"
    off = FeedbackRanker(RankerSettings(demote_below=0.5))
    assert off.demoted(_alert("behaviour_anomaly", feedback_score=0.01), DEMOTABLE) is None


def test_annotate_leaves_its_input_alone() -> None:
    r = FeedbackRanker(RankerSettings(min_verdicts=1))
    r.remember("x", {"det=behaviour_anomaly": 1.0})
    r.learn("x", "malicious")
    a = _alert("behaviour_anomaly")
    before = a.to_json()
    b = r.annotate(a, "s/t")
    assert a.to_json() == before and "feedback_score" not in a.details
    assert isinstance(b.details["feedback_score"], float) and b.alert_id == a.alert_id


def test_features_name_no_argument_values() -> None:
    a = _alert("behaviour_anomaly", top_features="new_destination,bytes_out", url="https://x")
    names = alert_features(a, "mail/send")
    assert "top=new_destination" in names and "tool=mail/send" in names
    assert not any("https://x" in k or "e1" in k for k in names)  # details values, evidence
