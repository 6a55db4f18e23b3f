"""GC pauses measured for the stats line; restored state frozen out of the collector's walk."""

from __future__ import annotations

import gc

from monitor.worker.gcpause import THRESHOLDS, Freezer, GcPauses, settle


def test_pauses_are_counted_per_generation_and_reset_when_taken() -> None:
    pauses = GcPauses().install()
    try:
        pauses.install()  # once only
        assert gc.callbacks.count(pauses._callback) == 1
        gc.collect()
        got = pauses.take()
        assert got["gc_explicit_collections"] >= 1 and got["gc_explicit_max_ms"] >= 0.0
        assert pauses.take()["gc_explicit_collections"] == 0
    finally:
        gc.callbacks.remove(pauses._callback)


def test_settle_freezes_what_is_alive() -> None:
    keep = [{"agent": i} for i in range(1000)]
    try:
        settle()
        assert gc.get_freeze_count() >= len(keep)
    finally:
        gc.unfreeze()


def test_pauses_of_the_collector_s_own_collections_add_up_per_generation() -> None:
    before = gc.get_threshold()
    pauses = GcPauses().install()
    try:
        gc.set_threshold(100, 10, 10)
        junk = [[i] for i in range(5_000)]  # young collections, started by the collector
        del junk
        assert pauses.total_ms[0] >= pauses.max_ms[0] > 0.0
        got = pauses.take()
        assert got["gc0_collections"] >= 10 and got["gc_explicit_collections"] == 0
        assert got["gc0_total_ms"] >= got["gc0_max_ms"] >= 0.0
    finally:
        gc.callbacks.remove(pauses._callback)
        gc.set_threshold(*before)


def test_collections_asked_for_are_counted_apart_from_the_pauses_events_meet() -> None:
    pauses = GcPauses().install()
    try:
        pauses.take()
        gc.collect()  # as settle() at a restore, Faust's wait at a stop
        got = pauses.take()
        assert got["gc_explicit_collections"] == 1 and got["gc_explicit_max_ms"] > 0.0
        assert got["gc2_collections"] == 0 and got["gc2_max_ms"] == 0.0
    finally:
        gc.callbacks.remove(pauses._callback)


def test_collections_before_the_worker_serves_are_the_start_up_s() -> None:
    before = gc.get_threshold()
    gc.set_threshold(50, 10, 10)
    pauses = GcPauses(serving=False).install()
    try:
        junk = [[i] for i in range(2_000)]  # the collector's own collections (imports at start)
        got = pauses.take()
        assert got["gc_startup_collections"] >= 10 and got["gc_startup_max_ms"] >= 0.0
        assert got["gc0_collections"] == 0
        pauses.serve()
        junk += [[i] for i in range(2_000)]
        got = pauses.take()
        assert got["gc0_collections"] >= 10 and "gc_startup_collections" not in got
    finally:
        gc.callbacks.remove(pauses._callback)
        gc.set_threshold(*before)
        del junk


def test_the_freezer_sets_the_worker_s_thresholds() -> None:
    before = gc.get_threshold()
    try:
        Freezer().install()
        assert gc.get_threshold() == THRESHOLDS
        assert THRESHOLDS[0] > 700  # fewer young collections than CPython's default
    finally:
        gc.set_threshold(*before)


def test_the_freezer_freezes_at_most_every_interval() -> None:
    now = [0.0]
    freezer = Freezer(5.0, clock=lambda: now[0])
    try:
        assert not freezer.maybe_freeze()  # 0 s since it was made
        now[0] = 4.9
        assert not freezer.maybe_freeze()
        keep = [{"agent": i} for i in range(1000)]
        now[0] = 5.0
        assert freezer.maybe_freeze() and freezer.freezes == 1
        assert gc.get_freeze_count() >= len(keep)
        now[0] = 9.0
        assert not freezer.maybe_freeze()  # 4 s since the last freeze
        now[0] = 10.0
        assert freezer.maybe_freeze() and freezer.freezes == 2
    finally:
        gc.unfreeze()


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_hidden_garbage_counts_cycles_that_died_frozen_and_frees_them() -> None:
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle: only the collector frees it
    try:
        gc.freeze()  # frozen while alive ...
        del a, b  # ... then dead: a collection no longer sees it
        gc.collect()  # whatever was garbage anyway: not counted below
        hidden = Freezer.hidden_garbage()
        assert hidden >= 2  # the two nodes (and their __dict__s)
        assert gc.get_freeze_count() == 0  # unfrozen
        assert not [o for o in gc.get_objects() if type(o) is _Node]
    finally:
        gc.unfreeze()
