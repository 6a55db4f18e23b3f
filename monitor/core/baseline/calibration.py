"""Per-agent calibration: a raw anomaly score becomes "how rare is this *for this agent*".

Raw scores (nats of surprise, :mod:`.model`) are not comparable between agents:
a support bot meeting new customers all day and a patcher repeating one runbook
live on different scales. So every agent keeps a histogram of its own past raw
scores (64 bins of ½ nat, in the model's ``uint16`` table array) and a new
score is judged against it, conformal-style:

``p(r)`` — the estimated probability that a *benign* call of this agent scores
at least ``r``:

- inside the observed range, the empirical conformal p-value
  ``(#{past ≥ r} + 1) / (n + 1)``;
- beyond it, an exponential tail fitted to the top :data:`TAIL_FRACTION` of
  past scores (peaks-over-threshold: ``q_u · exp(-(r - u) / β)``, with ``u`` the
  tail's start, ``q_u`` its share and ``β`` the mean excess, inflated by
  ``1 + 1/√k`` for the ``k`` scores it rests on — a small-sample correction
  that errs on the quiet side). A past score at or above ``r`` always wins:
  ``p`` is never below the empirical ``#{past ≥ r} / (n + 1)``.

**What the charter's scores mean.** A plain quantile would make
``alert_score: 0.98`` alert on 2 % of calls — 20 per 1,000, twenty times the
budget. So the calibrated score is a *block maximum* quantile::

    score = (1 - p) ** BLOCK        # BLOCK = 1,000 calls

— the probability that this call is more unusual than *every* call in a
stretch of 1,000 benign calls of the same agent. ``alert_score: 0.98``
alerts when ``p ≤ 1 - 0.98 ** (1/1000) ≈ 2.0e-5``: about **0.02 false alerts
per 1,000 benign calls** (one per ~50,000), if the tail model holds;
``revoke_score: 0.999`` means ``p ≤ 1.0e-6`` (0.001 per 1,000). In general the
expected false alerts per 1,000 benign calls are ``≈ -ln(alert_score)``. The
measured rate is in ``results/detection.md``.

The tail parameters are refitted every :data:`FIT_EVERY` recorded scores and
kept in state; the highest non-empty bin is tracked on every score. With both,
the raw threshold for a calibrated level is a closed form (:func:`threshold`),
so most calls are judged with one comparison and the result is *exactly* the
one the full p-value would give. An agent needs :data:`MIN_SCORES` recorded
scores before it can alert at all.
"""

from __future__ import annotations

from math import ceil, exp, expm1, inf, log, log1p, sqrt
from typing import Final

from librt.vecs import vec
from mypy_extensions import i64

from monitor.core.baseline.counts import OFFSET, SIZE, T_CAL

BLOCK: Final = 1000
WIDTH: Final = 0.5  # nats per histogram bin
BINS: Final = SIZE[T_CAL]
TAIL_FRACTION: Final = 0.1
MIN_TAIL: Final = 8
MIN_SCORES: Final = 16
BETA_MIN: Final = 0.5
FIT_EVERY: Final = 16

_OFF: Final = OFFSET[T_CAL]


def score_bin(r: float) -> int:
    b = int(r / WIDTH)
    return b if b < BINS else BINS - 1


def p_star(level: float) -> float:
    """The p-value at which the calibrated score reaches ``level``.

    >>> f"{p_star(0.98):.2e}", f"{p_star(0.999):.2e}"
    ('2.02e-05', '1.00e-06')
    """
    return -expm1(log(level) / BLOCK)


def calibrated(p: float) -> float:
    """``(1 - p) ** BLOCK``, computed stably."""
    return 0.0 if p >= 1.0 else exp(BLOCK * log1p(-p))


def fit(counts: vec[i64], n: int) -> tuple[float, float, float]:
    """``(u, beta, q_u)``: the exponential tail of the histogram holding ``n`` scores."""
    need = max(ceil(TAIL_FRACTION * n), MIN_TAIL)
    acc = 0
    b = BINS - 1
    while b > 0:
        acc += counts[_OFF + b]
        if acc >= need:
            break
        b -= 1
    else:
        acc += counts[_OFF]
    u = b * WIDTH
    excess = 0.0
    for j in range(b, BINS):
        excess += float(counts[_OFF + j]) * (j - b + 0.5) * WIDTH
    k = max(acc, 1)
    # sqrt of a float: of an int, math.sqrt is a Python call from compiled code
    beta = max(excess / k, BETA_MIN) * (1.0 + 1.0 / sqrt(float(k)))
    return u, beta, (acc + 1) / (n + 1)


def top_edge(top: int) -> float:
    """Upper edge of the highest non-empty bin (``-1``: none); the last bin is open-ended."""
    if top < 0:
        return 0.0
    return inf if top >= BINS - 1 else (top + 1) * WIDTH


def threshold(u: float, beta: float, q_u: float, top: int, p: float) -> float:
    """The smallest raw score whose p-value is at most ``p`` (exact, see the module doc)."""
    r = u + beta * log(q_u / p) if q_u > p else u
    edge = top_edge(top)
    return r if r > edge else edge


def p_value(counts: vec[i64], n: int, u: float, beta: float, q_u: float, r: float) -> float:
    """The estimated probability that a benign call of this agent scores at least ``r``."""
    b = score_bin(r)
    at_or_above = sum(counts[_OFF + b : _OFF + BINS])
    if r <= u:
        return min(1.0, (at_or_above + 1) / (n + 1))
    tail = q_u * exp(-(r - u) / beta)
    emp = at_or_above / (n + 1)
    return tail if tail > emp else emp
