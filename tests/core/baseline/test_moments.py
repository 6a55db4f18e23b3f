"""Running moments of data volume: robust to the outliers they exist to flag."""

from __future__ import annotations

import random
import struct
from math import copysign, ldexp, log1p

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_upper_surprise_is_the_two_sided_normal_tail_then_its_asymptote() -> None:
    from math import erfc, log, pi, sqrt

    var = 1.0 - moments.SD_FLOOR**2  # with the floor: sd 1
    assert moments.upper_surprise(0.0, var, moments.MIN_N, 1.0) == pytest.approx(
        -log(erfc(1 / sqrt(2)))
    )
    for z in (8.0, 20.0):
        want = 0.5 * z * z + log(z) + 0.5 * log(2 * pi) - log(2.0)
        assert moments.upper_surprise(0.0, var, 50, z) == pytest.approx(want, rel=1e-12)
    just_below = moments.upper_surprise(0.0, var, 50, 7.999)
    assert just_below == pytest.approx(-log(erfc(7.999 / sqrt(2))), rel=1e-9)
    assert moments.upper_surprise(0.0, 0.0, 50, 0.35) == pytest.approx(-log(erfc(1 / sqrt(2))))


def test_an_update_is_a_running_mean_then_a_moving_window() -> None:
    re = AgentBaseline().reals
    re[0], re[1] = 1.0, 0.5
    moments.update(re, 0, 1, 3, 2.0)  # a = 1/4, not clipped: fewer than MIN_N values
    assert re[0] == pytest.approx(1.25) and re[1] == pytest.approx(0.75 * (0.5 + 0.25))
    re[0], re[1] = 1.0, 0.5
    moments.update(re, 0, 1, 200, 2.0)  # a = ALPHA_MIN
    a = moments.ALPHA_MIN
    assert re[0] == pytest.approx(1.0 + a) and re[1] == pytest.approx((1 - a) * (0.5 + a))
    re[0], re[1] = 1.0, 0.5
    moments.update(re, 0, 1, moments.MIN_N - 1, 100.0)  # too early to clip
    assert re[0] == pytest.approx(1.0 + 99.0 / moments.MIN_N)


def test_updates_are_winsorised_on_both_sides_once_judged() -> None:
    lim = moments.CLIP_SD * (0.5 + moments.SD_FLOOR**2) ** 0.5
    for x, clipped in ((100.0, 1.0 + lim), (-100.0, 1.0 - lim)):
        re = AgentBaseline().reals
        re[0], re[1] = 1.0, 0.5
        moments.update(re, 0, 1, moments.MIN_N, x)
        a = 1 / (moments.MIN_N + 1)
        assert re[0] == pytest.approx(1.0 + a * (clipped - 1.0), rel=1e-6)


def test_accept_only_ever_widens() -> None:
    re = AgentBaseline().reals
    re[0], re[1] = 7.0, 4.0
    moments.accept(re, 0, 1, 9.0)  # 1 sd at z = 2 needs variance 1: already wider
    assert re[1] == 4.0
    moments.accept(re, 0, 1, 13.0, z=1.5)
    assert re[1] == pytest.approx(16.0) and re[0] == 7.0


def test_the_documented_parameters_are_the_ones_used() -> None:
    from math import erfc, log, sqrt

    # a tool's volume is judged from its 5th value on
    assert moments.upper_surprise(0.0, 1.0, 4, 9.0) == 0.0
    sd = sqrt(1.0 + 0.35**2)  # the 0.35-nat floor widens every sd
    assert moments.upper_surprise(0.0, 1.0, 5, 2.0) == pytest.approx(-log(erfc(2.0 / sd / sqrt(2))))
    # the weight is 1/(n+1) down to 0.02 (a window of 50 calls)
    for n, a in ((48, 1 / 49), (49, 0.02), (1000, 0.02)):
        re = AgentBaseline().reals
        re[0], re[1] = 0.0, 0.0
        moments.update(re, 0, 1, n, 0.1)
        assert re[0] == pytest.approx(a * 0.1, rel=1e-6), n
    # winsorised at 4 sd (with the floor)
    re = AgentBaseline().reals
    re[0], re[1] = 0.0, 1.0
    moments.update(re, 0, 1, 1000, 100.0)
    assert re[0] == pytest.approx(0.02 * 4.0 * sqrt(1.0 + 0.35**2), rel=1e-6)
    # "benign" makes a value ordinary at 2 sd by default
    re[0], re[1] = 7.0, 1.0
    moments.accept(re, 0, 1, 13.0)
    assert re[1] == pytest.approx(9.0)


_SLOT = memoryview(bytearray(4)).cast("f")


def _stored(x: float) -> float:
    """What a float32 array slot keeps of ``x`` (the C cast: nearest, ties to even)."""
    _SLOT[0] = x
    return _SLOT[0]


def _same(a: float, b: float) -> bool:
    return (a != a and b != b) or (a == b and copysign(1.0, a) == copysign(1.0, b))


@settings(max_examples=3000)
@given(st.floats(allow_nan=True, allow_infinity=True, width=64))
def test_f32_rounds_as_a_float32_slot_stores(x: float) -> None:
    assert _same(moments.f32(x), _stored(x))


@pytest.mark.parametrize("seed", range(4))
def test_f32_breaks_ties_to_even_and_keeps_the_rare_cases(seed: int) -> None:
    """Half-way values (where Veltkamp's split may round either way), subnormals, huge
    values and signed zeros, each checked against a float32 slot."""
    rnd = random.Random(seed)
    xs = [0.0, -0.0, 2.0**-149, 2.0**-127, 1e-40, 3.3e38, 3.5e38, 1e300, -1e300]
    ties = 0
    for _ in range(5000):
        a = _stored(rnd.uniform(-60.0, 60.0))
        bits = struct.unpack("<I", struct.pack("<f", a))[0]
        up = struct.unpack("<f", struct.pack("<I", bits + 1))[0]  # the next float32 out
        x = (a + up) / 2  # exactly half-way between two float32 values
        ties += x - a == up - x and _stored(x) in (a, up) and bits % 2 == 0
        xs.append(x)
        xs.append(ldexp(rnd.random(), rnd.randint(-160, 140)) * rnd.choice((1, -1)))
    assert ties > 2000  # half of them round down to an even neighbour, half up
    for x in xs:
        assert _same(moments.f32(x), _stored(x)), x


def test_a_model_stores_its_reals_as_float32() -> None:
    m = AgentBaseline()
    moments.update(m.reals, 0, 1, 0, 0.1)
    assert m.reals[0] == _stored(0.1) != 0.1
    assert m.arrays()["reals"][0] == m.reals[0]  # the snapshot's float32 holds it exactly
