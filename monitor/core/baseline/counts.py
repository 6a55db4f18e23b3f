"""Exact counting structures: fixed-size hashed count tables, and how surprising a count is.

Why counting and not a learned model for these features: "has this agent ever
sent mail to this domain?" is a question about *counts*, and a count answers
it exactly, in O(1), from a few hundred bytes, with nothing to tune. (The
comparison with river's models is measured in ``results/baseline_models.md``.)

Every table lives in one ``uint16`` array per agent (:class:`~.model.AgentBaseline`
holds it, as a typed vector while it runs); a table is an ``(offset, size)`` slice of it, sizes are powers of
two and a value's slot is ``hash & (size - 1)``. Per table the model keeps the
total and the number of *singletons* (slots seen exactly once). Counts saturate;
when a table's total reaches :data:`HALVE_AT` every count is halved (integer
division), so old habits fade and values seen once long ago are forgotten.

Two readings of a table:

- **categorical** (tool, destination, …): the surprise of a value is
  ``-log(c / (N + 1))`` for a seen value with count ``c``, and for an unseen
  value the Good-Turing estimate of "something new": ``-log((n1 + ½) / (N + 1))``
  with ``n1`` singletons. An agent that meets new recipients all day has many
  singletons and is not surprised by one more; an agent that has used the same
  two hosts for 500 calls is very surprised by a third. A seen value is never
  more surprising than an unseen one. Within a *context* (argument shapes of a
  tool, successors of a tool) novelty is at least as likely as ``1 / (n + 1)``
  for a context seen ``n`` times (:func:`novelty`): evidence is not counted
  twice when a new tool brings, of course, a new argument shape.
- **ordinal** (rate, fan-out, streak, task length, as buckets): the upper-tail
  surprise ``-log((C≥b + ½) / (N + 1))``, where ``C≥b`` counts past calls in
  bucket ``b`` or above: only *more* than usual is suspicious.

What is *outside* the agent's repertoire (a value never seen, a bucket above
the highest reached) is strong evidence; what is merely rare within it counts
with weight :data:`RARE`.
"""

from __future__ import annotations

from math import log
from typing import Final

from librt.vecs import vec
from mypy_extensions import i64

#: Slots per table. (:mod:`.layout` repeats them as its own literals, so that the offsets and
#: masks it builds from them fold into the compiled model's code; checked there at import.)
S_TOOL: Final = 128
S_SERVER: Final = 64
S_TRANSITION: Final = 128
S_DESTINATION: Final = 64
S_RESOURCE: Final = 128
S_SHAPE: Final = 128
S_HOUR: Final = 32  # 24 used
S_WEEKDAY: Final = 8  # 7 used
S_RATE: Final = 16
S_BURST: Final = 16
S_FANOUT: Final = 16
S_STREAK: Final = 8
S_TASK: Final = 16
S_CAL: Final = 64
S_VOLUME_N: Final = 32
#: (name, slots). Categorical tables first, then ordinal ones, then the score histogram.
TABLES: Final[tuple[tuple[str, int], ...]] = (
    ("tool", S_TOOL),
    ("server", S_SERVER),
    ("transition", S_TRANSITION),
    ("destination", S_DESTINATION),
    ("resource", S_RESOURCE),
    ("arg_shape", S_SHAPE),
    ("hour", S_HOUR),
    ("weekday", S_WEEKDAY),
    ("rate", S_RATE),
    ("burst", S_BURST),
    ("fanout", S_FANOUT),
    ("error_streak", S_STREAK),
    ("task_length", S_TASK),
    ("calibration", S_CAL),
    ("volume_n", S_VOLUME_N),  # not a distribution: bytes_out values learned per volume slot
)
T_TOOL: Final = 0
T_SERVER: Final = 1
T_TRANSITION: Final = 2
T_DESTINATION: Final = 3
T_RESOURCE: Final = 4
T_SHAPE: Final = 5
T_HOUR: Final = 6
T_WEEKDAY: Final = 7
T_RATE: Final = 8
T_BURST: Final = 9
T_FANOUT: Final = 10
T_STREAK: Final = 11
T_TASK: Final = 12
T_CAL: Final = 13
T_VOLUME_N: Final = 14
N_TABLES: Final = len(TABLES)

OFFSET: Final[tuple[int, ...]] = tuple(sum(s for _, s in TABLES[:i]) for i in range(N_TABLES))
SIZE: Final[tuple[int, ...]] = tuple(s for _, s in TABLES)
MASK: Final[tuple[int, ...]] = tuple(s - 1 for s in SIZE)
N_COUNTS: Final = sum(SIZE)
#: The table each absolute slot belongs to (for undoing a learned call).
TABLE_OF: Final[tuple[int, ...]] = tuple(i for i, s in enumerate(SIZE) for _ in range(s))

HALVE_AT: Final = 2048  # a table's total at which its counts are halved …
CAL_HALVE_AT: Final = 1024  # … and the score histogram's: calibration follows the recent past
HALVE: Final[tuple[int, ...]] = tuple(
    CAL_HALVE_AT if i == T_CAL else HALVE_AT for i in range(N_TABLES)
)
COUNT_MAX: Final = 65_535
#: Weight of the surprise of a value *within* the agent's range (seen before, or an ordinal
#: bucket at or below its highest): rare-but-known is weak evidence, and rare things come
#: together (a rarely used tool brings its rare successors and a longer session).
RARE: Final = 0.4
BEYOND: Final = 1.5  # nats per ordinal bucket beyond the highest ever reached

#: Ordinal buckets: exact up to 7, then widening (8-9, 10-11, 12-15, 16-19, 20-27, 28-39, 40-63, 64+).
_BUCKET_EDGES: Final = (8, 10, 12, 16, 20, 28, 40, 64)
BUCKET: Final[tuple[int, ...]] = tuple(
    v if v < 8 else 7 + sum(1 for e in _BUCKET_EDGES if v >= e) for v in range(64)
)
BUCKET_LOW: Final[tuple[int, ...]] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 28, 40, 64)


def bucket(v: int) -> int:
    """Ordinal bucket 0-15 of a non-negative count.

    >>> [bucket(v) for v in (0, 7, 8, 11, 15, 16, 30, 63, 500)]
    [0, 7, 8, 9, 10, 11, 13, 14, 15]
    """
    return BUCKET[v] if v < 64 else 15


def slot(table: int, h: int) -> int:
    """Absolute slot of hash ``h`` in ``table``."""
    return OFFSET[table] + (h & MASK[table])


def novelty(total: i64, singles: i64, context: i64 = -1) -> float:
    """Surprise (nats) of a value never seen before, optionally within a context seen
    ``context`` times (a tool, the previous tool): the larger of the table's
    Good-Turing rate and ``1 / (context + 1)`` — a context seen only a few times has
    not shown all its values yet, and a brand-new context (``0``) makes anything new
    unsurprising (its novelty is the context's own, counted once, there).
    """
    p = (float(singles) + 0.5) / float(total + 1)
    if context >= 0:
        floor = 1.0 / float(context + 1)
        if floor > p:
            p = floor
    return -log(p) if p < 1.0 else 0.0


def seen_surprise(c: i64, total: i64) -> float:
    """Surprise (nats) of a value seen ``c > 0`` times among ``total``, weighted by :data:`RARE`."""
    return RARE * -log(float(c) / float(total + 1)) if c <= total else 0.0


def tail_surprise(counts: vec[i64], table: int, b: int, total: int) -> float:
    """Upper-tail surprise (nats) of bucket ``b`` in an ordinal table.

    Within the agent's range, ``RARE × -log((C≥b + ½) / (N + 1))``. Beyond the
    highest bucket ``m`` it ever reached, the tail at ``m`` plus :data:`BEYOND` nats
    for every bucket further (a geometric tail): 40 calls a minute from an
    agent that never made more than 6 is far stranger than 8.
    """
    if b == 0 or total == 0:
        return 0.0
    off = OFFSET[table]
    size = SIZE[table]
    # the table sums to ``total``: add up whichever side of ``b`` is shorter (indexed
    # loops, not sum() of a slice: no list copy and no generic call when compiled)
    above = 0
    if 2 * b < size:
        for i in range(off, off + b):
            above += counts[i]
        above = total - above
    else:
        for i in range(off + b, off + size):
            above += counts[i]
    if above > 0:
        return RARE * -log((above + 0.5) / (total + 1))
    m = b - 1
    while m > 0 and counts[off + m] == 0:
        m -= 1
    at_max = counts[off + m] if m > 0 else total
    return RARE * -log((float(at_max) + 0.5) / (total + 1)) + BEYOND * (b - m)


def add(
    counts: vec[i64], totals: vec[i64], singles: vec[i64], i: i64, table: i64, w: i64 = 1
) -> None:
    """Count slot ``i`` (absolute) of ``table`` ``w`` more times."""
    old = counts[i]
    new = old + w
    if new > COUNT_MAX:
        new = COUNT_MAX
    counts[i] = new
    if old == 0:
        if new == 1:
            singles[table] += 1
    elif old == 1:
        singles[table] -= 1
    total = totals[table] + w
    totals[table] = total
    if total >= HALVE[table]:
        halve(counts, totals, singles, table)


def remove(counts: vec[i64], totals: vec[i64], singles: vec[i64], i: i64, table: i64) -> None:
    """Undo one count of slot ``i`` (never below zero)."""
    old = counts[i]
    if old == 0:
        return
    counts[i] = old - 1
    if old == 1:
        singles[table] -= 1
    elif old == 2:
        singles[table] += 1
    totals[table] = max(totals[table] - 1, 0)


def halve(counts: vec[i64], totals: vec[i64], singles: vec[i64], table: int) -> None:
    """Halve every count of ``table`` (values seen once are forgotten) and recount."""
    off = OFFSET[table]
    total = ones = 0
    for i in range(off, off + SIZE[table]):
        c = counts[i] >> 1
        counts[i] = c
        total += c
        ones += c == 1
    totals[table] = total
    singles[table] = ones
