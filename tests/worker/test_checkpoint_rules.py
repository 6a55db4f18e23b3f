"""The pure rules of the worker: which offsets to commit and when, and the offset-gap guard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from monitor.worker.checkpoint import Checkpoint, flush_on_timer
from monitor.worker.offsets import Gap, OffsetGuard

ROOT = Path(__file__).resolve().parents[2]


def test_the_rule_modules_import_no_faust() -> None:
    code = (
        "import sys; import monitor.worker.checkpoint, monitor.worker.offsets; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('faust', 'mode', 'aiokafka')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr


# ------------------------------------------------------------------ checkpoint
def test_only_written_offsets_of_assigned_partitions_are_committed() -> None:
    c = Checkpoint(interval=1.0)
    c.assignment = {0, 1}
    assert c.due(0.0) == {}  # due, nothing written
    c.written([(0, 4), (0, 2), (1, 0), (2, 9)])  # partition 2 is not this worker's
    assert c.due(0.5) is None  # within the interval
    assert c.due(1.0) == {0: 5, 1: 1}  # the offset after the last event written


def test_a_commit_never_moves_back_or_repeats() -> None:
    c = Checkpoint(interval=1.0)
    c.assignment = {0}
    c.written([(0, 9)])
    offsets = c.due(0.0)
    assert offsets == {0: 10}
    c.done(offsets)
    c.written([(0, 3)])  # an older offset redelivered after a rebalance that kept 0
    assert c.due(5.0) == {}


def test_a_refused_commit_is_offered_again() -> None:
    c = Checkpoint(interval=1.0)
    c.assignment = {0}
    c.written([(0, 1)])
    assert c.due(0.0) == {0: 2}  # the broker refuses it: done() is not called
    assert c.due(1.0) == {0: 2}


def test_force_commits_inside_the_interval_and_a_rebalance_forgets_what_was_given_away() -> None:
    c = Checkpoint(interval=1.0)
    c.assignment = {0, 1}
    c.written([(0, 0), (1, 0)])
    c.done(c.due(0.0) or {})
    c.written([(0, 1), (1, 1)])
    c.reassigned({0})
    assert c.committed == {} and 1 not in c.safe
    assert c.due(0.1) is None
    assert c.due(0.1, force=True) == {0: 2}


def test_the_timer_writes_every_tick_while_the_worker_keeps_up() -> None:
    # at most one list of events waiting: every tick, however recent the last flush
    assert flush_on_timer(now=10.0, last_flush=9.99, queued=0, batch=64, backlog_seconds=2.0)
    assert flush_on_timer(now=10.0, last_flush=9.99, queued=64, batch=64, backlog_seconds=2.0)


def test_behind_the_timer_waits_for_the_backlog_interval() -> None:
    # a backlog: the tick passes until backlog_seconds since the last flush of any kind
    assert not flush_on_timer(now=10.0, last_flush=8.5, queued=65, batch=64, backlog_seconds=2.0)
    assert flush_on_timer(now=10.5, last_flush=8.5, queued=4000, batch=64, backlog_seconds=2.0)
    assert flush_on_timer(
        now=10.0, last_flush=float("-inf"), queued=4000, batch=64, backlog_seconds=2.0
    )


# ------------------------------------------------------------------ offset guard
def test_in_sequence_and_redelivered_offsets_pass() -> None:
    g = OffsetGuard()
    assert g.needs_committed(0)
    g.set_committed({0: 5})
    assert not g.needs_committed(0)
    assert [g.check(0, o, 0.0) for o in (5, 6, 3, 7)] == [None] * 4
    assert g.next_offset == {0: 8}


def test_a_message_past_the_expected_offset_is_a_gap_sought_back_once_then_rate_limited() -> None:
    g = OffsetGuard(reseek_seconds=2.0, reseek_batch_seconds=0.2)
    g.set_committed({0: 100})
    assert g.check(0, 135, 0.0) == Gap(100, 135, first=True, seek=True)
    assert g.check(0, 136, 0.1) == Gap(100, 136, first=False, seek=False)
    assert g.check(0, 137, 0.3) == Gap(100, 137, first=False, seek=True)
    assert g.stalled(1.0, owned={0}) == []
    assert g.stalled(2.4, owned=set()) == []  # not this worker's any more
    assert g.stalled(2.4, owned={0}) == [(0, 100)]
    assert g.stalled(2.5, owned={0}) == []  # counted as sought at 2.4
    assert g.check(0, 100, 3.0) is None  # it came: the gap is closed
    assert g.seeking == {} and g.next_offset == {0: 101}


def test_without_a_commit_the_first_offset_is_taken_and_a_rebalance_starts_afresh() -> None:
    g = OffsetGuard()
    g.set_committed({})  # unknown (broker unreachable) or a new group
    assert g.check(3, 40, 0.0) is None and g.next_offset == {3: 41}
    assert g.check(3, 45, 0.0) == Gap(41, 45, first=True, seek=True)
    g.reassigned()
    assert g.needs_committed(3) and g.next_offset == {} and g.seeking == {}
