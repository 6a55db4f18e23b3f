"""Running moments for continuous features: exponentially weighted mean and variance.

Used for data volume (``bytes_out``, ``bytes_in``) on a log scale, *per tool*:
8 MB is ordinary for ``s3/get_object`` and alarming for ``crm/lookup_customer``.
Each tool slot keeps a mean and a variance in a ``float32`` array; the weight
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

from math import erfc, log, sqrt
from typing import Final

ALPHA_MIN: Final = 0.02
CLIP_SD: Final = 4.0
SD_FLOOR: Final = 0.35  # nats of log-bytes (≈ ±40 %): volumes jitter, a z-score needs a floor
MIN_N: Final = 5  # calls of a tool before its volume is judged
_SQRT2: Final = sqrt(2.0)
_LOG_SQRT_2PI: Final = 0.5 * log(2.0 * 3.141592653589793)


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
        return -log(erfc(z / _SQRT2))
    # asymptotic tail: -log(2 Q(z)) ≈ z²/2 + log(z √(2π)) - log 2
    return 0.5 * z * z + log(z) + _LOG_SQRT_2PI - log(2.0)


def update(mv: memoryview[float], i_mean: int, i_var: int, n: int, x: float) -> None:
    """Fold value ``x`` into the moments at ``mv[i_mean]``, ``mv[i_var]`` (``n`` seen so far)."""
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
    # a value equal to the one stored is not written again (a call with no bytes leaves a
    # tool's zero moments as they are): the same float32 either way, and a compiled
    # memoryview write costs ~250 instructions
    new = mean + a * d
    if new != mean:
        mv[i_mean] = new
    new = (1.0 - a) * (var + a * d * d)
    if new != var:
        mv[i_var] = new


def accept(mv: memoryview[float], i_mean: int, i_var: int, x: float, z: float = 2.0) -> None:
    """Make ``x`` ordinary: widen the variance so that ``x`` sits at most ``z`` sd from the mean."""
    d = (x - mv[i_mean]) / z
    if d * d > mv[i_var]:
        mv[i_var] = d * d
