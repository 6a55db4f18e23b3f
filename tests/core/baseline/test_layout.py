"""The state layout's check of a stored snapshot: each part's exact range, and a refusal that
says which part was wrong (the worker's ``corrupt_state`` dead letter quotes it). Found by the
layout.py mutation run at cf631a6: the edges and the messages had no test that could fail."""

from __future__ import annotations

import re
from typing import Any

import pytest

from monitor.core.baseline.counts import N_COUNTS, SIZE, T_CAL
from monitor.core.baseline.layout import _M_VOL, check_snapshot
from monitor.core.baseline.model import AgentBaseline

COUNTERS = (5, 4, 3, 2, -1)  # n_learned, n_scored, n_cal, since_fit, top (-1: no score yet)


def _entry(slots: list[int], cal_bin: int = -1, vs: int = 0) -> list[Any]:
    """A remembered alert as feedback.remember writes it."""
    return ["alert-1", slots, cal_bin, vs, 6.9, 0.0, True]


def _refused(message: str, *parts: Any) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_snapshot(*parts)


def test_each_refused_part_of_a_snapshot_is_named() -> None:
    check_snapshot("", COUNTERS, [], [_entry([0])])  # the parts a snapshot writes: taken
    _refused("baseline counters must be whole numbers", "", (5, -4, 3, 2, -1), [], [])
    _refused("baseline top bin must be a whole number from -1", "", (5, 4, 3, 2, 1.0), [], [])
    _refused("baseline buffer must be base64 text and its window a list", b"", COUNTERS, [], [])
    _refused(
        "baseline feedback entries must be as feedback.remember writes them",
        "",
        COUNTERS,
        [],
        [_entry([0])[:6]],
    )


def test_the_top_bin_is_minus_one_or_a_bin() -> None:
    for top in (-1, 0, SIZE[T_CAL] - 1):
        check_snapshot("", (*COUNTERS[:-1], top), [], [])
    _refused("baseline top bin must be a whole number from -1", "", (5, 4, 3, 2, -2), [], [])


def test_a_remembered_alert_holds_count_slots_a_score_bin_or_none_and_a_volume_slot() -> None:
    top_bin = SIZE[T_CAL] - 1
    taken = [
        _entry([0, N_COUNTS - 1]),
        _entry([], cal_bin=-1),  # not scored (during the first half of warm-up)
        _entry([], cal_bin=0),
        _entry([], cal_bin=top_bin),
        _entry([], vs=0),
        _entry([], vs=_M_VOL),
    ]
    check_snapshot("", COUNTERS, [], taken)
    for bad in (
        _entry([-1]),
        _entry([N_COUNTS]),
        _entry([], cal_bin=-2),
        _entry([], cal_bin=top_bin + 1),
        _entry([], vs=-1),
        _entry([], vs=_M_VOL + 1),
    ):
        with pytest.raises(ValueError, match="feedback entries"):
            check_snapshot("", COUNTERS, [], [bad])


def test_a_restored_snapshot_is_refused_with_the_part_it_got_wrong() -> None:
    snap = AgentBaseline().snapshot()
    snap[6] = -2  # the top bin
    with pytest.raises(ValueError, match=r"^baseline top bin "):
        AgentBaseline.restore(snap)
