"""Calibration: what a charter score means, exactly, and the false-positive rate it buys."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.core.baseline import calibration as cal
from monitor.core.baseline.model import AgentBaseline
from monitor.evaluate import BEHAVIOUR, evaluate
from monitor.simulate import simulate


def _calibrated(scores: np.ndarray) -> AgentBaseline:
    m = AgentBaseline()
    m.commit([cal.score_bin(float(r)) for r in scores])
    m.refit()
    return m


def test_charter_scores_map_to_per_call_false_alarm_rates() -> None:
    assert cal.p_star(0.98) == pytest.approx(2.02e-5, rel=1e-3)
    assert cal.p_star(0.999) == pytest.approx(1.0005e-6, rel=1e-3)
    assert cal.calibrated(cal.p_star(0.98)) == pytest.approx(0.98)
    assert cal.calibrated(1.0) == 0.0 and cal.calibrated(0.0) == 1.0
    ps = [1e-2, 1e-4, 1e-6, 1e-9]
    assert [cal.calibrated(p) for p in ps] == sorted(cal.calibrated(p) for p in ps)


def test_the_raw_threshold_is_exact() -> None:
    """A raw score alerts iff it reaches the threshold: the fast path equals the full p-value."""
    rng = np.random.default_rng(3)
    m = _calibrated(rng.gamma(2.0, 1.2, size=600))
    for level in (0.9, 0.98, 0.999):
        p = cal.p_star(level)
        r = m.threshold(p)
        assert m.p_value(r + 1e-9) <= p * (1 + 1e-9)
        assert m.p_value(r - 1e-3) > p
        assert cal.calibrated(m.p_value(r + 1e-9)) >= level - 1e-9


def test_no_alert_is_possible_below_the_highest_score_the_agent_made() -> None:
    m = _calibrated(np.array([1.0] * 200 + [12.3]))
    assert m.threshold(cal.p_star(0.98)) >= 12.5  # the bin holding 12.3 ends at 12.5
    assert m.p_value(12.0) >= 1 / (m.n_cal + 1)


def test_false_alarm_rate_of_a_threshold_is_within_tolerance() -> None:
    """Benign scores from a known distribution: the measured exceedance rate of the
    threshold for ``p`` is at most ~2 p (the small-sample correction errs on the quiet side)
    and not absurdly below it."""
    rng = np.random.default_rng(11)
    draw = lambda n: rng.gamma(2.0, 1.0, size=n) + rng.exponential(0.5, size=n)  # noqa: E731
    m = _calibrated(draw(1000))
    fresh = draw(400_000)
    for p in (1e-2, 1e-3, 1e-4):
        rate = float(np.mean(fresh >= m.threshold(p)))
        assert p / 30 <= rate <= 2 * p, (p, rate)
    assert float(np.mean(fresh >= m.threshold(cal.p_star(0.98)))) <= 1e-4


def test_few_scores_cannot_alert() -> None:
    m = AgentBaseline()
    m.commit([2] * (cal.MIN_SCORES - 1))
    assert m.calibrating
    m.commit([2])
    assert not m.calibrating


def test_behaviour_false_positives_on_benign_traffic_stay_under_one_per_thousand() -> None:
    """Simulated benign fleet (near-misses included), every detector on: after warm-up the
    behaviour baseline raises well under 1 false alert per 1,000 benign calls."""
    sim = simulate(agents=24, minutes=300, seed=21, attacks=False)
    r = evaluate(sim.events, sim.labels, sim.charters)
    d = r.detectors[BEHAVIOUR]
    assert r.benign_calls_warm > 5_000
    assert r.fp_per_1k_warm(d) <= 1.0, r.false_positive_alerts


def test_score_bins_and_their_edges() -> None:
    assert [cal.score_bin(r) for r in (0.0, 0.49, 0.5, 31.4, 31.5, 1e9)] == [0, 0, 1, 62, 63, 63]
    assert cal.top_edge(-1) == 0.0 and cal.top_edge(0) == 0.5 and cal.top_edge(61) == 31.0
    assert cal.top_edge(cal.BINS - 1) == float("inf")


def test_the_tail_fit_is_the_top_tenth_with_its_mean_excess() -> None:
    m = AgentBaseline()
    m.commit([2] * 90 + [6] * 6 + [9] * 4)  # 100 scores: the top 10 start at bin 6
    u, beta, q_u = cal.fit(m.counts, 100)
    assert u == 3.0 and q_u == pytest.approx(11 / 101)
    excess = (6 * 0.5 + 4 * 3.5) * 0.5  # bins 6 and 9, from the middle of each bin above u
    assert beta == pytest.approx(excess / 10 * (1 + 1 / 10**0.5))
    m = AgentBaseline()
    m.commit([4] * 3)  # fewer than MIN_TAIL: the tail is everything, from bin 0
    u, beta, q_u = cal.fit(m.counts, 3)
    assert u == 0.0 and q_u == 1.0
    assert beta == pytest.approx(max(3 * 4.5 * 0.5 / 3, cal.BETA_MIN) * (1 + 1 / 3**0.5))
    assert cal.fit(AgentBaseline().counts, 0) == (0.0, pytest.approx(cal.BETA_MIN * 2), 1.0)


def test_p_values_inside_and_beyond_the_range() -> None:
    m = AgentBaseline()
    m.commit([2] * 90 + [6] * 6 + [9] * 4)
    m.refit()
    u, beta, q_u = cal.fit(m.counts, m.n_cal)
    assert m.p_value(1.0) == pytest.approx(101 / 101)  # everything at or above
    assert m.p_value(3.0) == pytest.approx(11 / 101)  # r <= u: empirical
    assert m.p_value(4.6) == pytest.approx(max(q_u * np.exp(-1.6 / beta), 4 / 101), rel=1e-6)
    assert m.p_value(40.0) == pytest.approx(q_u * np.exp(-37.0 / beta), rel=1e-5)
    r = cal.threshold(u, beta, q_u, 9, 1e-4)
    assert r == pytest.approx(u + beta * np.log(q_u / 1e-4))
    assert cal.threshold(u, beta, q_u, 9, 0.5) == 5.0  # below the top edge: the edge
    assert cal.threshold(u, beta, q_u, -1, 0.5) == u  # q_u <= p: u itself


def test_the_documented_parameters_are_the_ones_used() -> None:
    from math import sqrt

    # 16 recorded scores before an agent can alert
    m = AgentBaseline()
    m.commit([2] * 15)
    assert m.calibrating
    m.commit([2])
    assert not m.calibrating
    # the tail rests on at least 8 scores, else on the top tenth; beta at least 0.5 nat
    m = AgentBaseline()
    m.commit([1] * 30 + [5] * 7 + [9])  # 38 scores: ceil(3.8) = 4 < 8, so the top 8
    u, beta, q_u = cal.fit(m.counts, 38)
    assert u == 2.5 and q_u == pytest.approx(9 / 39)  # bins 5 and 9 hold the top 8
    m = AgentBaseline()
    m.commit([3] * 80 + [10] * 8 + [20])  # 89 scores: ceil(8.9) = 9
    u, beta, q_u = cal.fit(m.counts, 89)
    assert u == 5.0 and q_u == pytest.approx(10 / 90)
    assert beta == pytest.approx((8 * 0.25 + 10.5 * 0.5) / 9 * (1 + 1 / 3))
    m = AgentBaseline()
    m.commit([7] * 20)  # every score in one bin: the mean excess is a quarter nat, floored
    u, beta, q_u = cal.fit(m.counts, 20)
    assert u == 3.5 and beta == pytest.approx(0.5 * (1 + 1 / sqrt(20)))


def test_the_histogram_is_read_inside_its_own_64_bins() -> None:
    from monitor.core.baseline.counts import OFFSET, T_CAL, T_VOLUME_N

    # every score from 31.5 nats on lands in the last bin, never in the next table
    assert [cal.score_bin(r) for r in (31.99, 32.0, 32.4, 32.5)] == [63, 63, 63, 63]
    assert cal.top_edge(62) == 31.5 and cal.top_edge(63) == float("inf")
    m = AgentBaseline()
    m.commit([63] * 10 + [2] * 90)  # the top tenth sits in the last bin
    m.counts[OFFSET[T_VOLUME_N]] = m.counts[OFFSET[T_VOLUME_N] + 1] = 50  # the next table
    assert OFFSET[T_VOLUME_N] == OFFSET[T_CAL] + 64
    u, beta, q_u = cal.fit(m.counts, 100)
    assert u == 31.5 and q_u == pytest.approx(11 / 101)
    assert beta == pytest.approx(0.5 * (1 + 1 / 10**0.5))  # excess 0.25 nat: floored


def test_a_short_history_rests_the_tail_on_every_score_bin_zero_included() -> None:
    m = AgentBaseline()
    m.commit([0] * 3 + [4] * 2)  # 5 scores, fewer than MIN_TAIL: all of them, from bin 0
    u, beta, q_u = cal.fit(m.counts, 5)
    assert u == 0.0 and q_u == 1.0
    assert beta == pytest.approx(max((3 * 0.25 + 2 * 2.25) / 5, 0.5) * (1 + 1 / 5**0.5))


def test_at_the_tail_start_the_p_value_is_still_the_empirical_one() -> None:
    # the tail parameters are refitted only every FIT_EVERY scores: at r == u the histogram,
    # not a possibly stale q_u, answers
    m = AgentBaseline()
    m.commit([2] * 90 + [6] * 6 + [9] * 4)
    p = cal.p_value(m.counts, 100, 3.0, 1.0, 0.5, 3.0)
    assert p == 11 / 101
    assert cal.p_value(m.counts, 100, 3.0, 1.0, 0.5, 3.01) == pytest.approx(0.5 * np.exp(-0.01))
