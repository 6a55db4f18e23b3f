"""Running moments of data volume: robust to the outliers they exist to flag."""

from __future__ import annotations

from math import log1p

from monitor.core.baseline import moments
from monitor.core.baseline.model import AgentBaseline


def test_moments_follow_the_data() -> None:
    re = AgentBaseline().reals
    for n in range(300):
        moments.update(re, 0, 1, n, log1p(2_000 + (n * 37) % 500))
    assert 7.6 < re[0] < 7.75 and 0 < re[1] < 0.02


def test_one_huge_value_moves_the_baseline_only_a_little() -> None:
    re = AgentBaseline().reals
    for n in range(100):
        moments.update(re, 0, 1, n, 7.0)
    moments.update(re, 0, 1, 100, log1p(5e8))  # 500 MB: winsorised at 4 sd
    assert re[0] < 7.0 + 0.02 * moments.CLIP_SD * moments.SD_FLOOR * 1.01


def test_upper_tail_only_and_needs_history() -> None:
    assert moments.upper_surprise(7.0, 0.1, moments.MIN_N - 1, 20.0) == 0.0
    assert moments.upper_surprise(7.0, 0.1, 50, 5.0) == 0.0  # less than usual is fine
    lo, hi = (moments.upper_surprise(7.0, 0.1, 50, x) for x in (7.5, 9.0))
    assert 0 < lo < hi < moments.upper_surprise(7.0, 0.1, 50, 30.0)


def test_accepting_a_value_makes_it_ordinary() -> None:
    re = AgentBaseline().reals
    re[0], re[1] = 7.0, 0.01
    x = log1p(5e6)
    before = moments.upper_surprise(re[0], re[1], 50, x)
    moments.accept(re, 0, 1, x)
    assert before > 30 > 3.2 > moments.upper_surprise(re[0], re[1], 50, x)  # z ≤ 2
