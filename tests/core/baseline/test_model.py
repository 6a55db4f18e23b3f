"""AgentBaseline: score_one reads, learn_one writes, snapshots round-trip exactly."""

from __future__ import annotations

import orjson
import pytest

from monitor import testing as tb
from monitor.core.baseline.features import FEATURES
from monitor.core.baseline.model import BUFFER_BYTES, FEEDBACK_KEEP, AgentBaseline

from .routine import exfil, routine


def _trained(n: int = 150) -> AgentBaseline:
    m = AgentBaseline()
    for c in routine(n):
        f = m.observe(c, c.ts.timestamp())
        if m.n_learned < 30:
            m.learn_one(f)
            continue
        raw, s = m.score_one(f)
        m.push(s)
        m.learn_one(f, s, raw)
    return m


def _score(m: AgentBaseline, call: object) -> tuple[float, dict[str, float]]:
    f = m.observe(call, call.ts.timestamp())  # type: ignore[attr-defined]
    raw, s = m.score_one(f)
    return raw, dict(zip(FEATURES, m.contributions(s), strict=True))


def test_routine_calls_score_low_and_anomalies_high() -> None:
    m = _trained()
    routine_raw, _ = _score(m, routine(1, start=150)[0])
    raw, why = _score(m, exfil(151))
    assert routine_raw < 2.0 < 10.0 < raw
    assert why["bytes_in"] > 10 and why["destination"] > 2
    assert not m.calibrating and raw > m.threshold(2e-5)


def test_scoring_reads_only() -> None:
    m = _trained()
    f = m.observe(exfil(151), exfil(151).ts.timestamp())
    before = bytes(m.buf)
    assert m.score_one(f) == m.score_one(f)
    assert bytes(m.buf) == before


def test_a_new_tool_is_counted_once() -> None:
    """A new server implies a new tool, a new argument shape and new transitions."""
    m = _trained()
    c = tb.call(151 * 20, "agent:routine/1", "vault", "read_secret", args={"path": "x"})
    _, why = _score(m, c)
    assert why["server"] > 5
    assert why["tool"] == why["arg_shape"] == why["transition"] == 0.0


def test_snapshot_round_trips_and_scores_identically() -> None:
    m = _trained()
    data = orjson.loads(orjson.dumps(m.snapshot()))
    r = AgentBaseline.restore(data)
    assert r.snapshot() == m.snapshot()
    for c in [*routine(30, start=150), exfil(180), *routine(10, start=181)]:
        fm, fr = m.observe(c, c.ts.timestamp()), r.observe(c, c.ts.timestamp())
        sm, sr = m.score_one(fm), r.score_one(fr)
        assert sm == sr
        for x, (raw, s) in ((m, sm), (r, sr)):
            x.push(s)
            x.learn_one(fm if x is m else fr, s, raw)
    assert r.snapshot() == m.snapshot()
    assert m.threshold(2e-5) == r.threshold(2e-5)


def test_snapshot_is_compact_whatever_the_agent_does() -> None:
    m = AgentBaseline()
    for i in range(3000):  # every call new: tools, hosts, shapes, volumes
        c = tb.call(
            i,
            "a",
            f"s{i % 97}",
            f"t{i}",
            args={f"k{i}": "v" * (i % 300)},
            resources=[f"https://h{i}.example/x", f"file:///d{i}/x"],
            bytes_out=i * 1000,
            outcome="error" if i % 5 else "ok",
        )
        f = m.observe(c, c.ts.timestamp())
        raw, s = m.score_one(f)
        m.push(s)
        m.learn_one(f, s, raw)
        if i % 50 == 0:
            m.remember(f"alert-{i}", f, raw, True)
    size = len(orjson.dumps(m.snapshot()))
    assert len(m.buf) == BUFFER_BYTES and size < 4_600
    assert len(m.feedback) == FEEDBACK_KEEP


def test_restore_rejects_other_layouts() -> None:
    snap = AgentBaseline().snapshot()
    with pytest.raises(ValueError, match="layout"):
        AgentBaseline.restore([99, *snap[1:]])
    with pytest.raises(ValueError, match="bytes"):
        AgentBaseline.restore([snap[0], "AAAA", *snap[2:]])


def test_benign_feedback_learns_the_call_and_malicious_unlearns_it() -> None:
    m = _trained()
    call = exfil(151)
    f = m.observe(call, call.ts.timestamp())
    raw, s = m.score_one(f)
    m.learn_one(f, s, raw)
    m.remember("A1", f, raw, True)
    m.remember("A2", f, raw, True)
    slots = m.slots_of(f)
    counts = [m.counts[i] for i in slots]
    assert m.apply_feedback("A1", "benign")
    assert [m.counts[i] for i in slots] == [c + 8 for c in counts]
    assert not m.apply_feedback("A1", "benign")  # once only
    assert m.apply_feedback("A2", "malicious")
    assert [m.counts[i] for i in slots] == [c + 7 for c in counts]
    assert not m.apply_feedback("nope", "benign")


def test_benign_feedback_makes_the_same_call_ordinary() -> None:
    m = _trained()
    call = exfil(151)
    f = m.observe(call, call.ts.timestamp())
    raw, s = m.score_one(f)
    m.learn_one(f, s, raw)
    m.remember("A1", f, raw, True)
    m.apply_feedback("A1", "benign")
    again, _ = _score(m, exfil(152))
    assert again < raw / 3


def test_arrays_are_numpy_views_of_the_state() -> None:
    m = _trained()
    a = m.arrays()
    assert a["counts"].dtype.name == "uint16" and a["totals"].dtype.name == "uint32"
    assert int(a["counts"].sum()) > 0
    assert a["counts"].base is not None  # a view of the buffer, not a copy


def test_hour_of_day_is_judged_once_there_is_a_day_of_history() -> None:
    """Working hours 09-17 UTC for three days; then a call at 03:00."""
    m = AgentBaseline()

    def at(sec: float) -> object:
        return tb.call(sec, "a", "fs", "read_file", session_id=f"h{int(sec // 3600)}")

    def run(c: object) -> dict[str, float]:
        f = m.observe(c, c.ts.timestamp())  # type: ignore[attr-defined]
        raw, s = m.score_one(f)
        m.learn_one(f, s, raw)
        return dict(zip(FEATURES, m.contributions(s), strict=True))

    why = run(at(0))
    for day in range(3):
        for minute in range(0, 8 * 60, 10):
            why = run(at(day * 86_400 + minute * 60))
        if day == 0:  # 03:00, but not a day of history yet (peek only: nothing learned)
            c = at(18 * 3600)
            f = m.observe(c, c.ts.timestamp())  # type: ignore[attr-defined]
            m.window.hold()
            assert m.contributions(m.score_one(f)[1])[FEATURES.index("hour")] == 0.0
    assert why["hour"] < 1.5
    assert run(at(3 * 86_400 + 18 * 3600))["hour"] > 3.0  # 03:00 on day four
    assert why["weekday"] == 0.0  # a week of history before weekdays count
