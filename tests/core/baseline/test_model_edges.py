"""AgentBaseline at the edges its other tests never reached (found by the mut8 mutation run).

Tasks of 64 calls or more (the top task-length bucket), a calibration histogram
halved while only its lowest bins hold scores or while the next table (the
per-tool volume counts) is non-empty, the chain's transition contribution, analyst
feedback for a tool whose volume is already known, and a snapshot that is no list.
"""

from __future__ import annotations

from math import log1p

import pytest
from librt.vecs import vec

from monitor import testing as tb
from monitor.core.baseline.counts import (
    OFFSET,
    T_CAL,
    T_STREAK,
    T_TASK,
    T_VOLUME_N,
    T_WEEKDAY,
    tail_surprise,
)
from monitor.core.baseline.features import F_TASK, F_TRANSITION, N_FEATURES, h32
from monitor.core.baseline.model import (
    R_CHAIN,
    R_EW,
    R_IN_MEAN,
    R_IN_VAR,
    R_OUT_MEAN,
    R_OUT_VAR,
    TOOL_SLOTS,
    AgentBaseline,
)


def _learn(m: AgentBaseline, sec: float, tool: str = "t", **kw: object) -> list[float]:
    c = tb.call(sec, "a", "s", tool, **kw)  # type: ignore[arg-type]
    f = m.observe(c, c.ts.timestamp())
    _, s = m.score_one(f)
    m.learn_one(f, s)
    return s


def test_a_task_of_64_calls_or_more_is_judged_in_the_top_length_bucket() -> None:
    m = AgentBaseline()
    sec = 0.0
    for k in range(6):  # six short tasks learned: the agent's usual length is 3
        for _ in range(3):
            sec += 20
            _learn(m, sec, task_id=f"short-{k}")
    assert m.totals[T_TASK] == 5  # the sixth ends when the long one starts
    got = []
    for _ in range(70):
        sec += 20
        got.append(_learn(m, sec, task_id="long")[F_TASK])
    top = tail_surprise(m.counts, T_TASK, 15, m.totals[T_TASK])  # bucket 15: 64 calls and up
    assert got[63:] == [top] * 7
    assert top > got[62] > 0  # and beyond the agent's range, further is stranger


@pytest.mark.parametrize("low", [0, 1])
def test_a_halving_keeps_the_top_when_only_the_lowest_bins_hold_scores(low: int) -> None:
    m = AgentBaseline()
    m.commit([low] * 1023)
    m.commit([low])  # 1,024: halved
    assert m.n_cal == 512 and m.top == low


def test_a_halving_never_counts_the_volume_table_after_the_histogram() -> None:
    assert OFFSET[T_CAL] + 64 == OFFSET[T_VOLUME_N]  # the two tables are neighbours
    tool = next(f"t{i}" for i in range(200) if h32(f"s/t{i}") & (TOOL_SLOTS - 1) == 0)
    m = AgentBaseline()
    _learn(m, 0, tool)
    assert m.counts[OFFSET[T_VOLUME_N]] == 1  # volume slot 0 (bin "64" seen from the histogram)
    m.commit([5] * 1024)
    assert m.n_cal == 512 and m.top == 5


def test_the_chain_takes_the_transition_above_its_own_running_mean() -> None:
    m = AgentBaseline()
    m.reals[R_EW + F_TRANSITION] = 0.5
    m.reals[R_EW - F_TRANSITION] = 3.0  # a neighbour (another tool's volume) must not count
    m.reals[R_CHAIN + 1], m.reals[R_CHAIN + 2] = 0.25, 0.75
    s = vec[float]([0.0] * N_FEATURES)
    s[F_TRANSITION] = 2.0
    m.push(s)
    assert list(m.reals[R_CHAIN : R_CHAIN + 3]) == [0.25, 0.75, 1.5]


def test_benign_feedback_measures_the_volume_from_the_tools_own_mean() -> None:
    tool = next(f"t{i}" for i in range(200) if h32(f"s/t{i}") & (TOOL_SLOTS - 1) > 3)
    m = AgentBaseline()
    for i in range(5):
        _learn(m, i * 20, tool, bytes_out=100, bytes_in=50)
    vs = h32(f"s/{tool}") & (TOOL_SLOTS - 1)
    mean, mean_in = m.reals[R_OUT_MEAN + vs], m.reals[R_IN_MEAN + vs]
    assert mean == pytest.approx(log1p(100), rel=1e-6)
    assert mean_in == pytest.approx(log1p(50), rel=1e-6)
    c = tb.call(200, "a", "s", tool, bytes_out=10_000_000, bytes_in=5_000_000)
    m.remember("al-9", m.observe(c, c.ts.timestamp()), None, False)
    assert m.apply_feedback("al-9", "benign")
    want = ((round(log1p(10_000_000), 4) - mean) / 2) ** 2
    assert m.reals[R_OUT_VAR + vs] == pytest.approx(want, rel=1e-5)
    want = ((round(log1p(5_000_000), 4) - mean_in) / 2) ** 2
    assert m.reals[R_IN_VAR + vs] == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize(("bad", "name"), [({}, "dict"), (None, "NoneType"), (7, "int")])
def test_a_snapshot_that_is_no_list_is_named_by_its_type(bad: object, name: str) -> None:
    with pytest.raises(ValueError, match=f"unsupported baseline snapshot layout '{name}'$"):
        AgentBaseline.restore(bad)


def test_the_tail_is_refit_on_its_documented_schedule() -> None:
    """Every score while the histogram holds at most 4 x FIT_EVERY, then every FIT_EVERY."""
    fe = 16
    m = AgentBaseline()
    m.commit([5] * (4 * fe - 1))
    assert m.since_fit == 0
    m.commit([5])  # n_cal = 4 x FIT_EVERY: still refit every time
    assert m.since_fit == 0
    m.commit([5])
    assert m.since_fit == 1
    m.commit([5] * (fe - 2))
    assert m.since_fit == fe - 1
    m.commit([6])  # the FIT_EVERY-th score since the last fit
    assert m.since_fit == 0


def test_an_episode_of_exactly_64_calls_is_learned_in_the_top_length_bucket() -> None:
    m = AgentBaseline()
    for i in range(64):
        _learn(m, i * 20.0, task_id="t64")
    _learn(m, 64 * 20.0, task_id="next")  # ends it
    assert m.counts[OFFSET[T_TASK] + 15] == 1 and m.totals[T_TASK] == 1


@pytest.mark.parametrize(("span", "feature"), [(86_400.0, 12), (7 * 86_400.0, 13)])
def test_the_hour_and_weekday_are_judged_from_exactly_a_day_and_a_week(
    span: float, feature: int
) -> None:
    m = AgentBaseline()
    _learn(m, 0.0)
    assert _learn(m, span)[feature] > 0.0


def test_a_fresh_model_is_calibrating_with_no_scores() -> None:
    m = AgentBaseline()
    assert m.calibrating and m.n_cal == 0 and m.snapshot()[4] == 0


def test_calls_without_a_task_end_an_episode_after_a_long_pause() -> None:
    m = AgentBaseline()
    _learn(m, 0.0)
    _learn(m, 7200.0)  # two hours later, no task id: a new episode
    assert m.totals[T_TASK] == 1


@pytest.mark.parametrize("day", range(7))
def test_an_episode_is_learned_on_its_weekday(day: int) -> None:
    m = AgentBaseline()
    start = day * 86_400.0  # tb.at(0) is a Monday (2026-03-02)
    _learn(m, start, task_id="a")
    _learn(m, start + 60, task_id="b")
    assert m.counts[OFFSET[T_WEEKDAY] + day] == 1 and m.totals[T_WEEKDAY] == 1


def test_error_streaks_of_seven_and_more_share_the_last_slot() -> None:
    m = AgentBaseline()
    for i in range(10):
        _learn(m, i * 20.0, outcome="error")
    streak = list(m.counts[OFFSET[T_STREAK] : OFFSET[T_STREAK] + 8])
    assert streak == [0, 1, 1, 1, 1, 1, 1, 4] and m.totals[T_STREAK] == 10  # streaks 1..10


def test_the_volume_count_saturates_instead_of_overflowing() -> None:
    tool = next(f"t{i}" for i in range(200) if h32(f"s/t{i}") & (TOOL_SLOTS - 1) == 0)
    m = AgentBaseline()
    m.counts[OFFSET[T_VOLUME_N]] = 65_535  # what 65,535 calls of the tool leave
    _learn(m, 0.0, tool)
    assert m.counts[OFFSET[T_VOLUME_N]] == 65_535


def test_a_fresh_model_has_no_top_bin_and_nothing_since_a_fit() -> None:
    m = AgentBaseline()
    assert m.snapshot()[5:7] == [0, -1]  # since_fit, top
    m.commit([0])
    assert m.top == 0


def test_a_surprise_above_the_cap_is_scored_and_returned_as_the_cap() -> None:
    """One indexed loop caps and sums (the compiled build's path): a volume far beyond the
    tool's usual counts as :data:`SURPRISE_CAP` nats, in the returned surprises and in raw."""
    from monitor.core.baseline.features import F_BYTES_OUT
    from monitor.core.baseline.model import SURPRISE_CAP, WEIGHTS

    m = AgentBaseline()
    for k in range(12):
        _learn(m, 20.0 * (k + 1), bytes_out=1_000)
    c = tb.call(400.0, "a", "s", "t", bytes_out=10**15)
    raw, s = m.score_one(m.observe(c, c.ts.timestamp()))
    assert s[F_BYTES_OUT] == SURPRISE_CAP
    assert max(s) == SURPRISE_CAP
    ew = [m.reals[R_EW + i] for i in range(N_FEATURES)]
    want = sum(WEIGHTS[i] * (v - ew[i]) for i, v in enumerate(s) if v > ew[i])
    assert raw == pytest.approx(want, rel=1e-12)
