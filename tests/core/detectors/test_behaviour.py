"""behaviour_anomaly: a learned per-agent baseline, judged after warm-up, learned after deciding."""

from __future__ import annotations

from datetime import timedelta
from math import nextafter, sqrt
from typing import Any

import orjson
import pytest

from monitor.charter import Baseline
from monitor.core import Decision, Engine
from monitor.core.baseline.calibration import p_star
from monitor.core.baseline.explain import TOP, phrase
from monitor.core.baseline.features import FEATURES
from monitor.core.detectors.behaviour import BehaviourAnomaly, baseline_of
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
    model = baseline_of(eng.states[ROUTINE_AGENT])
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
    model = baseline_of(eng.states[ROUTINE_AGENT])
    assert model is not None
    n = model.n_learned
    feed(eng, exfil(150))  # behaviour itself at revoke level
    ungranted = call(151 * STEP, ROUTINE_AGENT, "shell", "exec", credential_id="c2")
    d = feed(eng, ungranted)  # out_of_charter_tool, high, revoke
    assert any(a.detector == "out_of_charter_tool" for a in d.alerts) and d.revocations
    assert model.n_learned == n
    f = model.observe(ungranted, ungranted.ts.timestamp())
    assert model.counts[model.slots_of(f)[0]] == 0  # shell/exec still unknown


def test_benign_feedback_teaches_the_baseline() -> None:
    eng = warm()
    [a] = alerts(feed(eng, exfil(150)))
    feed(eng, feedback(a.alert_id, "benign", 151 * STEP))
    later = 170  # past the alert dedup window
    assert alerts(feed(eng, *routine(19, start=151), exfil(later))) == []


def test_malicious_feedback_unlearns_the_call() -> None:
    eng = warm()
    model = baseline_of(eng.states[ROUTINE_AGENT])
    assert model is not None
    [a] = alerts(feed(eng, exfil(150)))
    n = model.n_learned
    feed(eng, feedback(a.alert_id, "malicious", 151 * STEP))
    assert model.feedback == [] and model.n_learned == n
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
    # version 1's layout: ..., the ring as a list, ledger, chains, rate, memories, timers
    old = orjson.dumps([1, "a", None, 0, None, [], {}, {}, {}, {}, None, {}, {}, []])
    st = AgentState.restore(old)
    assert st.agent_id == "a" and baseline_of(st) is None


def test_agent_state_with_a_baseline_stays_under_16_kib() -> None:
    eng = warm(2_000)
    st = eng.states[ROUTINE_AGENT]
    assert baseline_of(st) is not None and len(st.snapshot()) <= 16 * 1024


def test_a_charter_can_turn_the_baseline_off() -> None:
    eng = Engine([charter(enabled=False)])
    feed(eng, *routine(200), exfil(200))
    assert baseline_of(eng.states[ROUTINE_AGENT]) is None


def test_revoke_score_is_reached_at_exactly_that_score() -> None:
    """``revoke_score`` reads "revoke from": a call scoring exactly it is revoked, just below not."""
    [a] = alerts(feed(warm(), exfil(150, size=1_500)))
    assert 0.98 <= a.score < 1.0
    at = feed(warm(revoke_score=a.score), exfil(150, size=1_500))
    assert [x.score for x in alerts(at)] == [a.score] and at.revocations
    above = feed(warm(revoke_score=nextafter(a.score, 1.0)), exfil(150, size=1_500))
    assert alerts(above) and not above.revocations


def test_an_alert_states_its_numbers_and_one_phrase_per_top_feature() -> None:
    """What an analyst reads: the raw score, p, calls learned, the tool, each top feature's
    contribution (largest first) and one phrase for each, in the reason."""
    eng = warm()
    before = baseline_of(AgentState.restore(eng.states[ROUTINE_AGENT].snapshot()))
    assert before is not None
    attack = exfil(150)
    f = before.observe(attack, attack.ts.timestamp())
    raw, surprises = before.score_one(f)
    [a] = alerts(feed(eng, attack))
    top = str(a.details["top_features"]).split(",")
    assert len(top) == TOP
    contrib = [a.details[f"contribution.{t}"] for t in top]
    assert set(a.details) == {
        "raw_score",
        "p_value",
        "calls_learned",
        "top_features",
        "tool",
        "destination",
        *(f"contribution.{t}" for t in top),
    }
    assert a.details["raw_score"] == round(raw, 3) and raw != round(raw, 3)
    assert a.details["calls_learned"] == 150
    assert a.details["tool"] == "web/http_post"
    assert contrib == sorted(contrib, reverse=True) and min(contrib) > 0
    assert contrib == [round(before.contributions(surprises)[FEATURES.index(t)], 3) for t in top]
    why = a.reason.split("): ", 1)[1]
    assert why == "; ".join(phrase(before, f, FEATURES.index(t)) for t in top)
    assert a.session_id == attack.session_id and a.task_id == attack.task_id


def test_alert_score_is_reached_at_exactly_that_score() -> None:
    [a] = alerts(feed(warm(), exfil(150, size=1_500)))
    assert alerts(feed(warm(alert_score=a.score, revoke_score=1.0), exfil(150, size=1_500)))
    above = nextafter(a.score, 1.0)
    assert not alerts(feed(warm(alert_score=above, revoke_score=1.0), exfil(150, size=1_500)))


def test_scoring_starts_at_half_the_warm_up_and_alerting_at_the_warm_up() -> None:
    eng = Engine([CHARTER])
    feed(eng, *routine(WARMUP // 2))
    model = baseline_of(eng.states[ROUTINE_AGENT])
    assert model is not None and model.n_scored == 0
    feed(eng, *routine(1, start=WARMUP // 2))
    baseline_of(eng.states[ROUTINE_AGENT])  # (the model learns a quiet call when read)
    assert model.n_scored == 1  # the call after WARMUP / 2 learned ones is scored
    feed(eng, *routine(WARMUP - WARMUP // 2 - 1, start=WARMUP // 2 + 1))
    baseline_of(eng.states[ROUTINE_AGENT])
    assert model.n_learned == WARMUP and not model.calibrating
    assert alerts(feed(eng, exfil(WARMUP)))  # the first call after the warm-up can alert


def test_an_episode_with_an_alert_does_not_feed_the_calibration() -> None:
    """The attack's session is held back: its scores never raise the bar."""
    quiet, attacked = warm(revoke_score=1.0), warm(revoke_score=1.0)
    d = feed(attacked, exfil(150, size=1_500))  # the first call of session s25 …
    assert alerts(d) and not d.revocations  # … alerted, not revoke-worthy: learned
    feed(quiet, *routine(1, start=150))  # (which ended s24, learned in both)
    model, quiet_model = (
        baseline_of(attacked.states[ROUTINE_AGENT]),
        baseline_of(quiet.states[ROUTINE_AGENT]),
    )
    assert model is not None and quiet_model is not None
    n_cal, quiet_n_cal = model.n_cal, quiet_model.n_cal
    rest = [*routine(5, start=151), *routine(1, start=156)]  # … the rest of it; s26 ends it
    feed(attacked, *rest)
    feed(quiet, *rest)
    assert quiet_model.n_cal > quiet_n_cal  # a quiet session feeds the calibration …
    assert model.n_cal == n_cal  # … one with an alert does not
    assert model.n_learned == quiet_model.n_learned  # while its calls are still learned


def test_an_agent_no_charter_covers_still_gets_a_baseline() -> None:
    eng = Engine([CHARTER])
    feed(eng, *routine(3, agent="agent:stranger/1"))
    model = baseline_of(eng.states["agent:stranger/1"])
    assert model is not None and model.n_learned == 3


def test_alerts_on_one_tool_for_different_reasons_are_not_merged() -> None:
    """Dedup is per leading feature and what it is about: more huge uploads through the same
    tool are one alert (whatever else is unusual about them), a huge download is another."""
    eng = warm()
    [up] = alerts(feed(eng, exfil(150)))
    assert str(up.details["top_features"]).startswith("bytes_in,destination,")
    for again in (exfil(151, host="hooks.example.com"), exfil(152)):  # led by bytes_in: merged
        suppressed = eng.counters().get("alerts_suppressed", 0)
        assert not alerts(feed(eng, again))
        assert eng.counters()["alerts_suppressed"] == suppressed + 1
    down = call(
        153 * STEP,
        ROUTINE_AGENT,
        "web",
        "http_post",
        session_id="s25",
        credential_id="c1",
        args={"url": "https://hooks.example.com/x", "body": "ok"},
        resources=["https://hooks.example.com/x"],
        bytes_in=400,
        bytes_out=900_000,
    )
    [a] = alerts(feed(eng, down))
    assert str(a.details["top_features"]).startswith("bytes_out,")
    ci = call(
        154 * STEP,
        ROUTINE_AGENT,
        "ci",
        "run_tests",
        session_id="s25",
        credential_id="c1",
        args={"target": "tests"},
        resources=["ci://corp/repo"],
        bytes_in=60_000,
    )
    [b] = alerts(feed(eng, ci))  # a huge upload through another tool: its own alert
    assert str(b.details["top_features"]).startswith("bytes_in,")


def test_an_alert_in_a_task_names_the_task_and_its_revocation_the_credential() -> None:
    eng = warm(alert_score=0.98, revoke_score=0.98)
    attack = exfil(150).model_copy(update={"task_id": "task-7", "credential_id": "c9"})
    d = feed(eng, attack)
    [a] = alerts(d)
    assert a.task_id == "task-7" and a.session_id == attack.session_id
    [cmd] = d.revocations
    assert cmd.credential_ids == ["c9"] and a.alert_id in cmd.alert_ids


def test_an_odd_warm_up_starts_scoring_after_its_half_rounded_down() -> None:
    eng = Engine([charter(warmup_events=61)])
    feed(eng, *routine(31))  # the 31st call comes after 30 = 61 // 2 learned ones
    model = baseline_of(eng.states[ROUTINE_AGENT])
    assert model is not None and model.n_scored == 1


def test_agents_under_different_charters_keep_their_own_levels() -> None:
    """One engine, two charters: the halfway level to "high" is each charter's own."""
    strict = charter(revoke_score=1.0).model_copy(update={"agent": "agent:strict/*"})
    for size in range(500, 3_001, 100):
        eng = Engine([CHARTER, strict])
        feed(eng, *routine(150), *routine(150, agent="agent:strict/1"))
        d = feed(eng, exfil(150, size=size))
        if alerts(d) and alerts(d)[0].severity == "high" and not d.revocations:
            break
    else:
        raise AssertionError("no size gives a high alert below revoke_score")
    [a] = alerts(feed(eng, exfil(150, agent="agent:strict/1", size=size)))
    assert a.severity == "medium"  # its revoke_score 1.0 puts "high" out of reach


def test_an_alerted_call_that_is_learned_is_learned_in_full() -> None:
    """Not revoke-worthy: its surprises move the running means and its score joins the
    episode's (held) scores, exactly as for a quiet call."""
    eng = warm(revoke_score=1.0)
    model = baseline_of(eng.states[ROUTINE_AGENT])
    assert model is not None
    feed(eng, *routine(1, start=150))  # session s25 starts
    baseline_of(eng.states[ROUTINE_AGENT])  # (the model learns a quiet call when read)
    n_scored, n_bins = model.n_scored, len(model.window.ep_bins)
    assert alerts(feed(eng, exfil(151, size=1_500)))
    assert model.n_scored == n_scored + 1 and len(model.window.ep_bins) == n_bins + 1


def test_another_detectors_mild_alert_does_not_hold_the_episode_back() -> None:
    """Only this detector's alerts and revoke-worthy findings keep an episode from the
    calibration: an agent over its rate limit (medium, no revocation) still calibrates."""
    limited = CHARTER.model_copy(update={"limits": CHARTER.limits.model_copy(
        update={"max_calls_per_minute": 2})})  # fmt: skip
    eng = Engine([limited])
    d = feed(eng, *routine(150))
    assert any(a.detector == "rate_limit" for a in d.alerts) and not d.revocations
    model = baseline_of(eng.states[ROUTINE_AGENT])
    assert model is not None and not model.calibrating


def test_feedback_acts_on_what_the_alerted_call_taught() -> None:
    """ "malicious" unlearns a call that was learned; "benign" also accepts its score."""
    eng = warm(revoke_score=1.0)
    model = baseline_of(eng.states[ROUTINE_AGENT])
    assert model is not None
    attack = exfil(150, size=1_500)
    [a] = alerts(feed(eng, attack))
    slots = model.slots_of(model.observe(attack, attack.ts.timestamp()))
    model.window.hold()  # (the peek above is not a call of the agent's)
    learned = [model.counts[i] for i in slots]
    feed(eng, feedback(a.alert_id, "malicious", 150 * STEP + 1))
    assert [model.counts[i] for i in slots] == [c - 1 for c in learned]
    eng = warm(revoke_score=1.0)
    model = baseline_of(eng.states[ROUTINE_AGENT])
    assert model is not None
    [a] = alerts(feed(eng, attack))
    n_cal = model.n_cal
    feed(eng, feedback(a.alert_id, "benign", 150 * STEP + 1))
    assert model.n_cal == n_cal + 1  # its score is one this agent makes


def test_the_per_charter_settings_are_forgotten_all_at_once_past_4096_charters() -> None:
    """Charters replaced many times over must not grow the detector without bound: it keeps
    the settings of at most 4,096 charter baselines, and starts again at the next one."""
    step = BehaviourAnomaly()._step
    baselines = [Baseline(warmup_events=200 + i % 7) for i in range(4097)]
    for cfg in baselines[:4096]:
        got = step.settings_of(cfg)
        assert got[:2] == (cfg, cfg.warmup_events)
        assert got[2:] == (
            p_star(cfg.alert_score),
            pytest.approx(sqrt(got[2] * p_star(cfg.revoke_score))),
        )
    assert len(step.by_cfg) == 4096
    step.settings_of(baselines[4096])
    assert list(step.by_cfg) == [id(baselines[4096])]


def test_the_class_on_call_makes_the_same_step_as_the_instances() -> None:
    """The engine calls each detector's own compiled step (the instance's ``on_call``); the
    class's ``on_call``, what a subclass or a caller through the class gets, makes that same
    step: the same alerts and the same learned model."""
    via_step, via_class = Engine([CHARTER]), Engine([CHARTER])
    [det] = [d for d in via_class.detectors if d.name == DETECTOR]
    del det.on_call  # the engine now reaches BehaviourAnomaly.on_call
    assert det.on_call.__func__ is BehaviourAnomaly.on_call  # type: ignore[attr-defined]
    events = [*routine(150), exfil(150), *routine(5, start=151)]
    got = [[a.to_json() for a in alerts(feed(eng, *events))] for eng in (via_step, via_class)]
    assert got[0] == got[1] and len(got[0]) == 1
    assert via_step.states[ROUTINE_AGENT].snapshot() == via_class.states[ROUTINE_AGENT].snapshot()
