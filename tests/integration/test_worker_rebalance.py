"""A second worker joins a busy group: no input is skipped over the rebalance.

The reproducer of issue 15's skipped input: a worker holds all four input
partitions and works through a backlog; a second worker of the same group
joins, and the rebalance hands two partitions to it. Before the fix (see
``faust_compat.SeekFence``) both workers began each partition a few to a few
thousand messages past the group's commit right after the rebalance — Faust
handed on the stale rest of a batch fetched before its seek to the commit,
and then dropped the records the seek fetched again. The worker's offset
guard caught every one (``offset_gap``, ``offset_gap_skipped``) and sought
back, so nothing was lost; with the cause fixed the guard has nothing to catch.

The first worker runs at a tenth of its speed (stopped 180 ms of every 200 ms)
until the second has its partitions: since issue 15 a worker drains the
backlog in about the time the second takes to boot, and a CI run saw 22,684
of 30,000 committed at the join. Throttled, the join lands mid-backlog on any
machine, whatever either process's speed.

What bites on the fence itself is tests/worker/test_seek_fence.py, against
Faust's real drain loop: with today's worker this end-to-end run hit the
stale batch in 2 of 6 runs with the fence taken out (0 of 3 unthrottled on a
90k backlog), so it guards the join as a whole, not the fence alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import simulate
from monitor.bench.workercost import worker_pids
from tests.integration.helpers import committed, produce_lines
from tests.integration.workers import Run, WorkerProcess
from tests.waiting import wait_until

pytestmark = pytest.mark.kafka

EVENTS = 30_000  # the whole simulation


def _assignments(worker: WorkerProcess) -> list[list[int]]:
    return [r["partitions"] for r in worker.logs() if r.get("event") == "partitions_assigned"]


def _gaps(worker: WorkerProcess) -> list[dict]:
    return [r for r in worker.logs() if r.get("event") == "offset_gap"]


@contextlib.contextmanager
def _throttled(pids: set[int], run_s: float = 0.02, stop_s: float = 0.18) -> Iterator[None]:
    """``pids`` stopped ``stop_s`` of every ``run_s + stop_s`` for the block: well under the
    group's session (6 s), so the worker keeps its partitions, heartbeats and rejoins."""
    done = threading.Event()

    def cycle() -> None:
        while not done.is_set():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            done.wait(stop_s)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            done.wait(run_s)

    thread = threading.Thread(target=cycle, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        for pid in pids:  # the cycle ends on a SIGCONT; once more in case it died between
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def test_a_worker_joining_a_busy_group_skips_no_input(run: Run, tmp_path: Path) -> None:
    sim = simulate.simulate(agents=300, minutes=40, seed=7)
    simulate.write(sim, tmp_path / "sim")
    charters = tmp_path / "sim" / "charters"
    lines = (tmp_path / "sim" / "events.jsonl").read_bytes().splitlines()[:EVENTS]
    end = Counter(produce_lines(run, lines))  # partition -> its end offset (fresh topic)
    assert len(end) == 4

    first = run.start_worker(charters)
    try:
        first.wait_ready(timeout=90)
        with _throttled(worker_pids(first.logs(), first.proc.pid)):
            second = run.start_worker(charters)
            wait_until(lambda: sum(committed(run).values()) > 0, 90, "a commit", 0.2)
            second.wait_log(
                lambda r: r.get("event") == "partitions_assigned" and bool(r.get("partitions")),
                120,
            )
            at_join = sum(committed(run).values())
        assert at_join < EVENTS * 3 // 4, f"the backlog was gone before the rebalance ({at_join})"
        print(f"\n{at_join} of {EVENTS} events committed when the second worker joined")
        # it gave partitions away (the two log their share of the same rebalance in either order)
        wait_until(lambda: len(_assignments(first)[-1]) < 4, 60, "the first gave partitions away")

        def all_committed() -> bool:
            assert first.alive and second.alive, first.tail() + "\n" + second.tail()
            return committed(run) == dict(end)

        wait_until(all_committed, 240, "the whole backlog committed", 0.5)
        for worker in (first, second):
            assert _gaps(worker) == [], worker.name + ": " + repr(_gaps(worker))
            for rec in worker.logs():
                if rec.get("event") == "stats":
                    assert not rec.get("offset_gap_skipped"), rec
        assert len(_assignments(second)) >= 1 and sorted(
            _assignments(first)[-1] + _assignments(second)[-1]
        ) == [0, 1, 2, 3]
        t0 = time.monotonic()
        first.stop(timeout=60)
        second.stop(timeout=60)
        assert time.monotonic() - t0 < 120
    finally:
        run.stop_all()
