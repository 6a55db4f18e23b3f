"""Hashed count tables: bookkeeping, halving, and how surprising a count is."""

from __future__ import annotations

from math import log

import pytest

from monitor.core.baseline import counts as ct
from monitor.core.baseline.model import AgentBaseline


def _tables() -> tuple[memoryview, memoryview, memoryview]:
    m = AgentBaseline()
    return m.counts, m.totals, m.singles


def test_layout_is_fixed_and_powers_of_two() -> None:
    assert all(s & (s - 1) == 0 for s in ct.SIZE)
    assert ct.OFFSET[-1] + ct.SIZE[-1] == ct.N_COUNTS == len(ct.TABLE_OF)
    assert ct.slot(ct.T_TOOL, 0xFFFFFFFF) == ct.OFFSET[ct.T_TOOL] + ct.SIZE[ct.T_TOOL] - 1


def test_buckets_are_monotone_and_cover_every_count() -> None:
    got = [ct.bucket(v) for v in range(200)]
    assert got == sorted(got) and got[0] == 0 and got[-1] == 15
    assert all(ct.BUCKET_LOW[ct.bucket(v)] <= v for v in range(200))


def test_add_and_remove_keep_totals_and_singletons() -> None:
    c, tot, sg = _tables()
    i, j = ct.slot(ct.T_TOOL, 1), ct.slot(ct.T_TOOL, 2)
    ct.add(c, tot, sg, i, ct.T_TOOL)
    ct.add(c, tot, sg, j, ct.T_TOOL)
    assert (tot[ct.T_TOOL], sg[ct.T_TOOL]) == (2, 2)
    ct.add(c, tot, sg, i, ct.T_TOOL)
    assert (c[i], tot[ct.T_TOOL], sg[ct.T_TOOL]) == (2, 3, 1)
    ct.remove(c, tot, sg, i, ct.T_TOOL)
    assert (c[i], tot[ct.T_TOOL], sg[ct.T_TOOL]) == (1, 2, 2)
    ct.remove(c, tot, sg, j, ct.T_TOOL)
    ct.remove(c, tot, sg, j, ct.T_TOOL)  # never below zero
    assert (c[j], tot[ct.T_TOOL], sg[ct.T_TOOL]) == (0, 1, 1)


def test_a_full_table_is_halved_and_forgets_what_it_saw_once() -> None:
    c, tot, sg = _tables()
    once, often = ct.slot(ct.T_SERVER, 3), ct.slot(ct.T_SERVER, 4)
    ct.add(c, tot, sg, once, ct.T_SERVER)
    for _ in range(ct.HALVE_AT - 2):
        ct.add(c, tot, sg, often, ct.T_SERVER)
    assert tot[ct.T_SERVER] == ct.HALVE_AT - 1
    ct.add(c, tot, sg, often, ct.T_SERVER)
    assert c[once] == 0 and c[often] == (ct.HALVE_AT - 1) // 2
    assert tot[ct.T_SERVER] == c[often] and sg[ct.T_SERVER] == 0


def test_novelty_follows_good_turing_and_the_context() -> None:
    regular = ct.novelty(500, 0)  # 500 calls, nothing seen once: a new value is news
    diverse = ct.novelty(500, 200)  # most values are new anyway
    assert regular == pytest.approx(-log(0.5 / 501)) and regular > 6 > 1 > diverse
    assert ct.novelty(500, 0, context=0) == 0.0  # a brand-new tool: its new shape is no news
    assert ct.novelty(500, 0, context=9) == pytest.approx(log(10))


def test_seen_values_count_as_rare_not_new() -> None:
    assert ct.seen_surprise(1, 500) == pytest.approx(ct.RARE * log(501))
    assert ct.seen_surprise(250, 500) < ct.seen_surprise(5, 500) < ct.novelty(500, 0)


def test_ordinal_surprise_is_an_upper_tail_that_grows_beyond_the_range() -> None:
    c, tot, sg = _tables()
    for v, n in ((1, 50), (2, 30), (3, 15), (5, 5)):
        for _ in range(n):
            ct.add(c, tot, sg, ct.OFFSET[ct.T_RATE] + ct.bucket(v), ct.T_RATE)
    s = [ct.tail_surprise(c, ct.T_RATE, b, tot[ct.T_RATE]) for b in range(16)]
    assert s[0] == 0.0 and s[1] < 0.01
    assert s[1] < s[2] < s[3] < s[5]
    assert s[6] > s[5] + ct.BEYOND * 0.99  # one bucket past the highest ever reached
    assert s[13] == pytest.approx(s[6] + 7 * ct.BEYOND)
    assert ct.tail_surprise(c, ct.T_FANOUT, 3, 0) == 0.0  # nothing learned: no opinion
