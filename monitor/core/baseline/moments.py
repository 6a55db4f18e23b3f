"""Running moments for continuous features: exponentially weighted mean and variance.

Used for data volume (``bytes_out``, ``bytes_in``) on a log scale, *per tool*:
8 MB is ordinary for ``s3/get_object`` and alarming for ``crm/lookup_customer``.
Each tool slot keeps a mean and a variance as ``float32`` values (:func:`f32`); the weight
of a new value is ``max(1 / (n + 1), ALPHA_MIN)`` — a plain running mean at
first, then a moving window of about ``1 / ALPHA_MIN`` calls.

Updates are *winsorised* at ``mean ± CLIP_SD`` standard deviations, so one huge
transfer (an attack the detector has just alerted on, and that was not
revoked) moves the baseline only a little: learning is robust to the very
outliers it exists to flag. An analyst's "benign" verdict widens the variance
instead (:func:`accept`), which is what "this volume is normal" means.

Only the upper tail is scored: less data than usual is not a threat.
"""

from __future__ import annotations

import math
from math import log, sqrt
from typing import Final

from librt.vecs import vec

_ERFC: Final = math.erfc  # bound once: mypyc has no primitive for erfc (see features._CRC32)

ALPHA_MIN: Final = 0.02
CLIP_SD: Final = 4.0
SD_FLOOR: Final = 0.35  # nats of log-bytes (≈ ±40 %): volumes jitter, a z-score needs a floor
MIN_N: Final = 5  # calls of a tool before its volume is judged
_SQRT2: Final = sqrt(2.0)
_LOG_SQRT_2PI: Final = 0.5 * log(2.0 * 3.141592653589793)
_SPLIT24: Final = 536_870_913.0  # 2**29 + 1: Veltkamp's split of a double keeps its top 24 bits
_SPLIT25: Final = 268_435_457.0  # 2**28 + 1: … and this one its top 25
_F32_MIN: Final = 1.1754943508222875e-38  # smallest normal float32 (2**-126)
_F32_BIG: Final = 3.0e38  # below float32's largest finite value (3.4028e38), with room
_ONE: Final = memoryview(bytearray(4)).cast("f")  # a float32 slot, for the rare cases


def f32(x: float) -> float:
    """``x`` as a ``float32`` slot stores it (nearest, ties to even), as a float.

    The model's reals live in a ``vec[float]`` while it runs and in ``float32`` in
    its snapshot, so every write rounds here, exactly as a ``float32`` memoryview
    store would (``tests/core/baseline/test_moments.py`` checks it against one).
    Veltkamp's split rounds to 24 bits in three flops and is a rounding to nearest,
    but may break a tie either way; a tie (``x`` exactly half-way between two
    ``float32`` values: it fits in 25 bits but not in 24), zero, a subnormal, a
    huge value or a NaN goes through a real ``float32`` slot instead.

    >>> f32(0.1), f32(2.0), f32(1.0 + 2.0**-24)  # a tie: to the even neighbour, 1.0
    (0.10000000149011612, 2.0, 1.0)
    """
    c = x * _SPLIT24
    hi = c - (c - x)
    ax = x if x >= 0.0 else -x
    if _F32_MIN <= ax < _F32_BIG:
        if hi == x:
            return hi  # already a float32 value
        c = x * _SPLIT25
        if c - (c - x) != x:
            return hi  # not a tie: the nearest is unique, and Veltkamp found it
    _ONE[0] = x
    return _ONE[0]


def upper_surprise(mean: float, var: float, n: int, x: float) -> float:
    """``-log(2·P(Z ≥ z))`` for ``z > 0``, else 0: nats of "more than usual".

    >>> round(upper_surprise(7.0, 0.25, 50, 7.0), 3), upper_surprise(7.0, 0.25, 50, 17.0) > 30
    (0.0, True)
    """
    if n < MIN_N:
        return 0.0
    z = (x - mean) / sqrt(var + SD_FLOOR * SD_FLOOR)
    if z <= 0.0:
        return 0.0
    if z < 8.0:
        return -log(_ERFC(z / _SQRT2))
    # asymptotic tail: -log(2 Q(z)) ≈ z²/2 + log(z √(2π)) - log 2
    return 0.5 * z * z + log(z) + _LOG_SQRT_2PI - log(2.0)


def update(mv: vec[float], i_mean: int, i_var: int, n: int, x: float) -> None:
    """Fold value ``x`` into the moments at ``mv[i_mean]``, ``mv[i_var]`` (``n`` seen so far),
    each rounded to ``float32`` (:func:`f32`)."""
    mean = mv[i_mean]
    var = mv[i_var]
    if n >= MIN_N:
        lim = CLIP_SD * sqrt(var + SD_FLOOR * SD_FLOOR)
        if x > mean + lim:
            x = mean + lim
        elif x < mean - lim:
            x = mean - lim
    a = 1.0 / (n + 1)
    if a < ALPHA_MIN:
        a = ALPHA_MIN
    d = x - mean
    # a value equal to the one stored is not rounded again (a call with no bytes leaves a
    # tool's zero moments as they are)
    new = mean + a * d
    if new != mean:
        mv[i_mean] = f32(new)
    new = (1.0 - a) * (var + a * d * d)
    if new != var:
        mv[i_var] = f32(new)


def accept(mv: vec[float], i_mean: int, i_var: int, x: float, z: float = 2.0) -> None:
    """Make ``x`` ordinary: widen the variance so that ``x`` sits at most ``z`` sd from the mean."""
    d = (x - mv[i_mean]) / z
    if d * d > mv[i_var]:
        mv[i_var] = f32(d * d)
