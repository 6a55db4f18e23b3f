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


def test_bucket_edges_are_exact() -> None:
    edges = {7: 7, 8: 8, 9: 8, 10: 9, 11: 9, 12: 10, 15: 10, 16: 11, 19: 11, 20: 12, 27: 12}
    edges |= {28: 13, 39: 13, 40: 14, 63: 14, 64: 15, 10_000: 15}
    assert {v: ct.bucket(v) for v in edges} == edges
    assert ct.bucket(0) == 0
    for b in range(1, 16):  # the lower edge of a bucket is the first count in it
        assert ct.bucket(ct.BUCKET_LOW[b]) == b and ct.bucket(ct.BUCKET_LOW[b] - 1) == b - 1
    assert ct.slot(ct.T_SERVER, 64 + 5) == ct.OFFSET[ct.T_SERVER] + 5
    assert ct.TABLE_OF[ct.OFFSET[ct.T_CAL]] == ct.T_CAL == ct.TABLE_OF[ct.OFFSET[ct.T_CAL + 1] - 1]


def test_novelty_within_a_context_takes_the_larger_probability() -> None:
    assert ct.novelty(10, 3) == pytest.approx(-log(3.5 / 11))
    assert ct.novelty(10, 3, context=1) == pytest.approx(log(2))  # 1/2 beats 3.5/11
    assert ct.novelty(10, 3, context=4) == pytest.approx(-log(3.5 / 11))  # 1/5 does not
    assert ct.novelty(0, 0) == pytest.approx(log(2))  # nothing learned: an even bet
    assert ct.novelty(1, 1) == pytest.approx(-log(0.75))


def test_a_value_seen_as_often_as_the_total_is_still_weighed() -> None:
    assert ct.seen_surprise(7, 7) == pytest.approx(ct.RARE * -log(7 / 8))
    assert ct.seen_surprise(8, 7) == 0.0  # more than the total (after a halving): ordinary


def test_tail_surprise_exact_within_and_beyond_the_range() -> None:
    c, tot, sg = _tables()
    for b, n in ((0, 10), (1, 6), (3, 3), (9, 1)):
        for _ in range(n):
            ct.add(c, tot, sg, ct.OFFSET[ct.T_RATE] + b, ct.T_RATE)
    n = tot[ct.T_RATE]
    assert n == 20
    for b, above in ((1, 10), (2, 4), (3, 4), (4, 1), (8, 1), (9, 1)):
        want = ct.RARE * -log((above + 0.5) / (n + 1))
        assert ct.tail_surprise(c, ct.T_RATE, b, n) == pytest.approx(want), b
    top = ct.RARE * -log(1.5 / (n + 1))
    assert ct.tail_surprise(c, ct.T_RATE, 10, n) == pytest.approx(top + ct.BEYOND)
    assert ct.tail_surprise(c, ct.T_RATE, 15, n) == pytest.approx(top + 6 * ct.BEYOND)
    c, tot, sg = _tables()  # only bucket 0 ever reached: the whole table is its count
    for _ in range(4):
        ct.add(c, tot, sg, ct.OFFSET[ct.T_BURST], ct.T_BURST)
    want = ct.RARE * -log(4.5 / 5) + 2 * ct.BEYOND
    assert ct.tail_surprise(c, ct.T_BURST, 2, 4) == pytest.approx(want)


def test_weighted_adds_saturate_and_keep_singletons() -> None:
    c, tot, sg = _tables()
    i = ct.slot(ct.T_TOOL, 9)
    ct.add(c, tot, sg, i, ct.T_TOOL, 8)
    assert (c[i], tot[ct.T_TOOL], sg[ct.T_TOOL]) == (8, 8, 0)  # 0 -> 8 is no singleton
    j = ct.slot(ct.T_TOOL, 10)
    ct.add(c, tot, sg, j, ct.T_TOOL)
    ct.add(c, tot, sg, j, ct.T_TOOL, 8)
    assert (c[j], sg[ct.T_TOOL]) == (9, 0)  # 1 -> 9 leaves the singletons
    c[i] = ct.COUNT_MAX - 1
    ct.add(c, tot, sg, i, ct.T_TOOL, 5)
    assert c[i] == ct.COUNT_MAX
    ct.remove(c, tot, sg, j, ct.T_TOOL)
    assert c[j] == 8 and sg[ct.T_TOOL] == 0
    tot[ct.T_TOOL] = 0
    ct.remove(c, tot, sg, j, ct.T_TOOL)
    assert tot[ct.T_TOOL] == 0  # never below zero


def test_the_score_histogram_halves_sooner_than_the_other_tables() -> None:
    c, tot, sg = _tables()
    a, b = ct.OFFSET[ct.T_CAL] + 1, ct.OFFSET[ct.T_CAL] + 2
    ct.add(c, tot, sg, a, ct.T_CAL, 3)
    ct.add(c, tot, sg, b, ct.T_CAL, ct.CAL_HALVE_AT - 4)
    assert tot[ct.T_CAL] == ct.CAL_HALVE_AT - 1
    ct.add(c, tot, sg, a, ct.T_CAL)
    assert (c[a], c[b]) == (2, (ct.CAL_HALVE_AT - 4) // 2)
    assert tot[ct.T_CAL] == 2 + (ct.CAL_HALVE_AT - 4) // 2 and sg[ct.T_CAL] == 0
    c2, tot2, sg2 = _tables()
    ct.add(c2, tot2, sg2, ct.slot(ct.T_TOOL, 1), ct.T_TOOL, 3)
    ct.add(c2, tot2, sg2, ct.slot(ct.T_TOOL, 2), ct.T_TOOL, ct.HALVE_AT - 3)
    assert (c2[ct.slot(ct.T_TOOL, 1)], sg2[ct.T_TOOL]) == (1, 1)  # halved at HALVE_AT
    assert tot2[ct.T_TOOL] == 1 + (ct.HALVE_AT - 3) // 2


def test_the_persisted_layout_and_documented_parameters_are_pinned() -> None:
    # the tables live in a saved uint16 array: a changed size or order would misread old state
    sizes = (128, 64, 128, 64, 128, 128, 32, 8, 16, 16, 16, 8, 16, 64, 32)
    assert sizes == ct.SIZE and ct.N_COUNTS == 848
    assert tuple(sum(sizes[:i]) for i in range(15)) == ct.OFFSET
    assert tuple(s - 1 for s in sizes) == ct.MASK
    assert [name for name, _ in ct.TABLES][:6] == [
        "tool",
        "server",
        "transition",
        "destination",
        "resource",
        "arg_shape",
    ]
    assert (ct.T_TOOL, ct.T_CAL, ct.T_VOLUME_N) == (0, 13, 14)
    # the module doc's numbers: halve at 2,048 (the score histogram at 1,024), uint16 counts
    c, tot, sg = _tables()
    i = ct.slot(ct.T_TOOL, 5)
    ct.add(c, tot, sg, i, ct.T_TOOL, 2047)
    assert (c[i], tot[ct.T_TOOL]) == (2047, 2047)
    ct.add(c, tot, sg, i, ct.T_TOOL)
    assert (c[i], tot[ct.T_TOOL]) == (1024, 1024)
    j = ct.OFFSET[ct.T_CAL]
    ct.add(c, tot, sg, j, ct.T_CAL, 1023)
    assert c[j] == 1023
    ct.add(c, tot, sg, j, ct.T_CAL)
    assert (c[j], tot[ct.T_CAL]) == (512, 512)
    c[i] = 65_534
    ct.add(c, tot, sg, i, ct.T_TOOL, 9)
    assert c[i] == 65_535
    # rare-but-known weighs 0.4; each ordinal bucket beyond the range 1.5 nats
    assert ct.seen_surprise(1, 9) == pytest.approx(0.4 * log(10))
    c, tot, sg = _tables()
    ct.add(c, tot, sg, ct.OFFSET[ct.T_RATE] + 1, ct.T_RATE, 9)
    assert ct.tail_surprise(c, ct.T_RATE, 3, 9) == pytest.approx(0.4 * -log(9.5 / 10) + 2 * 1.5)


def test_the_tail_beyond_the_range_starts_at_the_highest_bucket_reached() -> None:
    c, tot, sg = _tables()
    ct.add(c, tot, sg, ct.OFFSET[ct.T_RATE], ct.T_RATE, 4)
    ct.add(c, tot, sg, ct.OFFSET[ct.T_RATE] + 1, ct.T_RATE, 2)
    # highest reached: bucket 1 (2 calls), not the whole table (6)
    want = ct.RARE * -log(2.5 / 7) + 2 * ct.BEYOND
    assert ct.tail_surprise(c, ct.T_RATE, 3, 6) == pytest.approx(want)
    # the top bucket of a table: the search stays inside it, whatever the next table holds
    ct.add(c, tot, sg, ct.OFFSET[ct.T_BURST], ct.T_BURST, 5)
    want = ct.RARE * -log(2.5 / 7) + 14 * ct.BEYOND
    assert ct.tail_surprise(c, ct.T_RATE, 15, 6) == pytest.approx(want)


def test_removing_a_singleton_leaves_the_others() -> None:
    c, tot, sg = _tables()
    for h in (1, 2, 3):
        ct.add(c, tot, sg, ct.slot(ct.T_TOOL, h), ct.T_TOOL)
    ct.remove(c, tot, sg, ct.slot(ct.T_TOOL, 2), ct.T_TOOL)
    assert (tot[ct.T_TOOL], sg[ct.T_TOOL]) == (2, 2)


def test_table_indices_follow_tables() -> None:
    """The ``T_*`` constants are spelled out (mypyc compiles a ``Final`` int to a C constant):
    each must still be its table's position in :data:`counts.TABLES`."""
    from monitor.core.baseline import counts

    names = [
        "tool", "server", "transition", "destination", "resource", "arg_shape", "hour",
        "weekday", "rate", "burst", "fanout", "error_streak", "task_length", "calibration",
        "volume_n",
    ]  # fmt: skip
    consts = [
        counts.T_TOOL, counts.T_SERVER, counts.T_TRANSITION, counts.T_DESTINATION,
        counts.T_RESOURCE, counts.T_SHAPE, counts.T_HOUR, counts.T_WEEKDAY, counts.T_RATE,
        counts.T_BURST, counts.T_FANOUT, counts.T_STREAK, counts.T_TASK, counts.T_CAL,
        counts.T_VOLUME_N,
    ]  # fmt: skip
    assert [counts.TABLES[i][0] for i in consts] == names
    assert consts == list(range(counts.N_TABLES))
