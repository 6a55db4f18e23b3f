"""behaviour_anomaly: a learned per-agent baseline, judged after warm-up, learned after deciding."""

from __future__ import annotations

from datetime import timedelta
from math import nextafter, sqrt
from typing import Any

import orjson

from monitor.core import Decision, Engine
from monitor.core.baseline.calibration import p_star
from monitor.core.state import AgentState
from monitor.events import AlertFeedback, decode_event
from monitor.testing import T0, call, feed

from ..baseline.routine import CHARTER, ROUTINE_AGENT, STEP, WARMUP, charter, exfil, routine

DETECTOR = "behaviour_anomaly"


def alerts(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR]


def warm(n: int = 150, **baseline: Any) -> Engine:
    eng = Engine([charter(**baseline) if baseline else CHARTER])
    assert alerts(feed(eng, *routine(n))) == []
    return eng


def feedback(alert_id: str, verdict: str, sec: float) -> AlertFeedback:
    return AlertFeedback(
        event_id=f"fb-{alert_id}-{verdict}",
        ts=T0 + timedelta(seconds=sec),
        agent_id=ROUTINE_AGENT,
        alert_id=alert_id,
        verdict=verdict,  # type: ignore[arg-type]
    )


def test_nothing_alerts_during_warm_up() -> None:
    eng = Engine([CHARTER])
    d = feed(eng, *routine(WARMUP - 1), exfil(WARMUP - 1))
    assert alerts(d) == []
    model = eng.states[ROUTINE_AGENT].baseline
    assert model is not None and model.n_learned == WARMUP  # the anomaly was learned too


def test_after_warm_up_an_anomaly_alerts_and_says_why() -> None:
    eng = warm()
    attack = exfil(150)
    [alert] = alerts(feed(eng, attack))
    assert alert.evidence == [attack.event_id]
    assert alert.score >= 0.98 and alert.severity in ("medium", "high")
    assert alert.clause.key == "baseline" and "0.98" in alert.clause.text
    assert "60.0 KB sent to web/http_post" in alert.reason
    assert "destination net:paste.example" in alert.reason
    top = str(alert.details["top_features"]).split(",")
    assert {"bytes_in", "destination"} <= set(top)
    assert alert.details["destination"] == "net:paste.example"
    assert float(alert.details["p_value"]) <= p_star(0.98)  # type: ignore[arg-type]
    assert alert.frameworks.owasp_agentic


def test_routine_traffic_stays_silent() -> None:
    eng = warm(600)
    assert alerts(feed(eng, *routine(300, start=600))) == []


def test_severity_grows_with_rarity_and_revocation_waits_for_revoke_score() -> None:
    """The same post to a new host, with more and more data: silent, medium, high, revoked."""
    warm_state = warm().states[ROUTINE_AGENT].snapshot()
    p_high = sqrt(p_star(0.98) * p_star(0.999))
    seen = []
    for size in range(500, 3_001, 100):
        eng = Engine([CHARTER], states={ROUTINE_AGENT: AgentState.restore(warm_state)})
        d = feed(eng, exfil(150, size=size))
        for a in alerts(d):
            p = float(a.details["p_value"])  # type: ignore[arg-type]
            assert a.severity == ("high" if p <= p_high else "medium")
            assert bool(d.revocations) == (a.score >= 0.999)
            seen.append((a.severity, bool(d.revocations)))
    assert ("medium", False) in seen and ("high", False) in seen and ("high", True) in seen
    assert seen == sorted(seen, key=lambda x: (x[0] == "high", x[1]))  # never back down


def test_revoke_worthy_calls_are_never_learned() -> None:
    """No poisoning: a call any detector wants revoked teaches the baseline nothing."""
    eng = warm(alert_score=0.98, revoke_score=0.98)
    st = eng.states[ROUTINE_AGENT]
    assert st.baseline is not None
    n = st.baseline.n_learned
    feed(eng, exfil(150))  # behaviour itself at revoke level
    ungranted = call(151 * STEP, ROUTINE_AGENT, "shell", "exec", credential_id="c2")
    d = feed(eng, ungranted)  # out_of_charter_tool, high, revoke
    assert any(a.detector == "out_of_charter_tool" for a in d.alerts) and d.revocations
    assert st.baseline.n_learned == n
    f = st.baseline.observe(ungranted, ungranted.ts.timestamp())
    assert st.baseline.counts[st.baseline.slots_of(f)[0]] == 0  # shell/exec still unknown


def test_benign_feedback_teaches_the_baseline() -> None:
    eng = warm()
    [a] = alerts(feed(eng, exfil(150)))
    feed(eng, feedback(a.alert_id, "benign", 151 * STEP))
    later = 170  # past the alert dedup window
    assert alerts(feed(eng, *routine(19, start=151), exfil(later))) == []


def test_malicious_feedback_unlearns_the_call() -> None:
    eng = warm()
    st = eng.states[ROUTINE_AGENT]
    assert st.baseline is not None
    [a] = alerts(feed(eng, exfil(150)))
    n = st.baseline.n_learned
    feed(eng, feedback(a.alert_id, "malicious", 151 * STEP))
    assert st.baseline.feedback == [] and st.baseline.n_learned == n
    assert alerts(feed(eng, *routine(19, start=151), exfil(170)))  # still news


def test_feedback_is_an_event_on_the_bus() -> None:
    raw = orjson.dumps(
        {
            "type": "alert_feedback",
            "event_id": "fb1",
            "ts": "2026-03-02T09:00:00Z",
            "agent_id": ROUTINE_AGENT,
            "alert_id": "a" * 32,
            "verdict": "benign",
            "note": "known integration",
        }
    )
    ev = decode_event(raw)
    assert isinstance(ev, AlertFeedback) and ev.verdict == "benign"
    eng = Engine([CHARTER])
    assert not feed(eng, ev)  # unknown alert: nothing happens
    assert eng.counters()["alert_feedback"] == 1


def test_state_round_trip_mid_stream_gives_identical_alerts() -> None:
    eng = warm(140)
    states = {k: AgentState.restore(s.snapshot()) for k, s in eng.states.items()}
    fresh = Engine([CHARTER], states=states)
    rest = [
        *routine(10, start=140),
        exfil(150),
        *routine(20, start=151),
        exfil(171, host="x.example"),
    ]
    a1 = [a.to_json() for a in feed(eng, *rest).alerts]
    a2 = [a.to_json() for a in feed(fresh, *rest).alerts]
    assert a1 == a2 and a1
    assert eng.states[ROUTINE_AGENT].snapshot() == fresh.states[ROUTINE_AGENT].snapshot()


def test_version_1_snapshots_still_restore() -> None:
    snap = orjson.loads(AgentState("a").snapshot())
    old = orjson.dumps([1, *snap[1:-1]])
    st = AgentState.restore(old)
    assert st.agent_id == "a" and st.baseline is None


def test_agent_state_with_a_baseline_stays_under_16_kib() -> None:
    eng = warm(2_000)
    st = eng.states[ROUTINE_AGENT]
    assert st.baseline is not None and len(st.snapshot()) <= 16 * 1024


def test_a_charter_can_turn_the_baseline_off() -> None:
    eng = Engine([charter(enabled=False)])
    feed(eng, *routine(200), exfil(200))
    assert eng.states[ROUTINE_AGENT].baseline is None


def test_revoke_score_is_reached_at_exactly_that_score() -> None:
    """``revoke_score`` reads "revoke from": a call scoring exactly it is revoked, just below not."""
    [a] = alerts(feed(warm(), exfil(150, size=1_500)))
    assert 0.98 <= a.score < 1.0
    at = feed(warm(revoke_score=a.score), exfil(150, size=1_500))
    assert [x.score for x in alerts(at)] == [a.score] and at.revocations
    above = feed(warm(revoke_score=nextafter(a.score, 1.0)), exfil(150, size=1_500))
    assert alerts(above) and not above.revocations
