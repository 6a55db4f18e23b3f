"""AgentBaseline's bookkeeping around the score: the calibration's top bin after a halving,
state views and snapshots, remembered alerts and analyst feedback (found by mutation testing:
these paths had no test that could fail)."""

from __future__ import annotations

from math import log1p

import pytest

from monitor import testing as tb
from monitor.core.baseline.counts import N_COUNTS, N_TABLES, OFFSET, T_CAL
from monitor.core.baseline.features import h32
from monitor.core.baseline.model import (
    N_REALS,
    R_IN_MEAN,
    R_IN_VAR,
    R_OUT_MEAN,
    R_OUT_VAR,
    TOOL_SLOTS,
    AgentBaseline,
)
from monitor.core.baseline.window import RING


@pytest.mark.parametrize("high", [40, 63])
def test_a_halving_recounts_the_highest_score_bin(high: int) -> None:
    m = AgentBaseline()
    m.commit([high] + [5] * 1022)
    assert m.top == high
    m.commit([2])  # the histogram reaches 1,024 and is halved: the lone high score is forgotten
    assert m.counts[OFFSET[T_CAL] + high] == 0 and m.n_cal == 511
    assert m.top == 5
    m = AgentBaseline()
    m.commit([high] * 2 + [5] * 1021)
    m.commit([2])
    assert m.top == high  # kept once, after the halving


def test_array_views_are_the_state_buffer_brought_up_to_date() -> None:
    """Every array, kept in a typed vector while the model runs, is written into the buffer
    first (what a snapshot holds): the views are the state as of the call."""
    m = AgentBaseline()
    for i in range(3):
        c = tb.call(i * 5, "a", "s", "t", resources=[f"https://h{i}.example/"])
        m.learn_one(m.observe(c, c.ts.timestamp()))
    v = m.arrays()
    assert {k: len(a) for k, a in v.items()} == {
        "times": RING,
        "reals": N_REALS,
        "keys": RING,
        "totals": N_TABLES,
        "singles": N_TABLES,
        "counts": N_COUNTS,
    }
    assert list(v["counts"]) == list(m.counts) and list(v["totals"]) == list(m.totals)
    assert list(v["singles"]) == list(m.singles) and list(v["reals"]) == list(m.reals)
    assert list(v["times"][:3]) == list(m.window.times[:3]) and v["times"][2] > 0
    assert list(v["keys"][:3]) == [h32(f"net:h{i}.example") for i in range(3)]
    v["reals"][0] = 7.0  # a view of the buffer: the model's own vector does not move …
    assert m.reals[0] != 7.0
    assert m.arrays()["reals"][0] == m.reals[0]  # … and the next look writes it back
    before = int(v["counts"].sum())
    c = tb.call(20, "a", "s", "t")
    m.learn_one(m.observe(c, c.ts.timestamp()))
    assert int(v["counts"].sum()) == before  # the tables: written back when asked for
    assert list(m.arrays()["counts"]) == list(m.counts) and sum(m.counts) > before


def test_a_snapshot_must_be_a_non_empty_list_of_this_layout() -> None:
    for bad in ([], "x", [2]):
        with pytest.raises(ValueError, match="unsupported baseline snapshot layout"):
            AgentBaseline.restore(bad)
    with pytest.raises(ValueError, match=r"layout \['old'\]$"):
        AgentBaseline.restore(["old", "more", "fields"])
    m = AgentBaseline()
    snap = m.snapshot()
    assert snap[1].isascii() and AgentBaseline.restore(snap).snapshot() == snap


@pytest.mark.parametrize("bad", [{}, None, 7])
def test_a_snapshot_that_is_no_list_is_a_clear_value_error(bad: object) -> None:
    """Found by mutation testing (mut6): the message quoted ``data[:1]``, a TypeError for a
    dict or None, so a corrupt stored state was not the ValueError its callers catch."""
    with pytest.raises(ValueError, match="unsupported baseline snapshot layout"):
        AgentBaseline.restore(bad)


def _call_of(m: AgentBaseline, tool: str, bytes_out: int, bytes_in: int):  # type: ignore[no-untyped-def]
    c = tb.call(0, "a", "s", tool, bytes_out=bytes_out, bytes_in=bytes_in)
    return m.observe(c, c.ts.timestamp())


def test_a_remembered_alert_keeps_its_volumes_to_four_decimals() -> None:
    m = AgentBaseline()
    f = _call_of(m, "t", 1000, 77)
    m.remember("al-1", f, None, False)
    entry = m.feedback[-1]
    assert entry[2] == -1  # no score: nothing for the calibration
    assert entry[4] == round(log1p(1000), 4) == 6.9088 and entry[5] == round(log1p(77), 4) == 4.3567


def test_benign_feedback_widens_the_tools_own_volume_slot() -> None:
    tool = next(f"t{i}" for i in range(200) if h32(f"s/t{i}") & (TOOL_SLOTS - 1) > 3)
    m = AgentBaseline()
    f = _call_of(m, tool, 10_000_000, 5_000_000)
    vs = f.tool & (TOOL_SLOTS - 1)
    m.remember("al-2", f, None, False)
    before = list(m.reals)
    assert m.apply_feedback("al-2", "benign")
    changed = {i for i, (a, b) in enumerate(zip(before, m.reals, strict=True)) if a != b}
    assert changed == {R_OUT_VAR + vs, R_IN_VAR + vs}
    assert m.reals[R_OUT_VAR + vs] == pytest.approx((log1p(10_000_000) / 2) ** 2, rel=1e-5)
    assert m.reals[R_IN_VAR + vs] == pytest.approx((log1p(5_000_000) / 2) ** 2, rel=1e-5)
    assert R_OUT_MEAN == 0 and R_IN_MEAN > 0


def test_benign_feedback_adds_a_score_of_the_lowest_bin_too() -> None:
    m = AgentBaseline()
    f = _call_of(m, "t", 10, 10)
    m.remember("al-3", f, 0.2, False)  # bin 0
    assert m.apply_feedback("al-3", "benign")
    assert m.counts[OFFSET[T_CAL]] == 1 and m.n_cal == 1
