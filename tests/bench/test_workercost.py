"""What bench kafka reads of a worker from outside: its CPU (``/proc``) and longest GC pause."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.bench import workercost


def test_cpu_is_user_plus_system_counted_after_a_command_name_with_spaces_and_parens() -> None:
    stat = "42 (python3 (x) y) R 1 42 42 0 -1 4194560 100 0 0 0 300 120 0 0 20 0 3 0"
    assert workercost.cpu_of_stat(stat, ticks=100) == 4.2


def test_cpu_seconds_reads_live_processes_and_leaves_out_gone_ones(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "stat").write_text("7 (w) S 1 7 7 0 -1 0 0 0 0 0 50 25 0 0\n")
    assert workercost.cpu_seconds([7, 8], proc=tmp_path) == {7: 0.75}
    mine = workercost.cpu_seconds([os.getpid()])  # this test's own process, from /proc
    assert list(mine) == [os.getpid()] and mine[os.getpid()] > 0


def test_cpu_used_counts_only_processes_read_both_times() -> None:
    assert workercost.cpu_used({1: 1.0, 2: 5.0}, {1: 3.5, 3: 9.0}) == 2.5
    assert workercost.cpu_used({1: 1.0}, {}) is None


def test_worker_pids_are_those_that_took_partitions_else_the_process_started() -> None:
    logs = [
        {"event": "partitions_assigned", "pid": 11, "partitions": [0, 1]},
        {"event": "partitions_assigned", "pid": 12, "partitions": []},
        {"event": "stats", "pid": 99},
    ]
    assert workercost.worker_pids(logs, fallback=5) == {11, 12}
    assert workercost.worker_pids([], fallback=5) == {5}


def test_the_longest_gc_pause_is_the_largest_of_every_stats_line_and_generation() -> None:
    logs = [
        {"event": "stats", "gc0_max_ms": 1.5, "gc1_max_ms": 3.0, "gc2_max_ms": 41.0},
        {"event": "partitions_assigned", "gc2_max_ms": 500.0},  # not a stats line
        {"event": "stats", "gc0_max_ms": 2.0, "gc1_max_ms": 60.5, "gc2_max_ms": 0.0},
    ]
    assert workercost.longest_gc_pause(logs) == (60.5, 1)
    assert workercost.longest_gc_pause([{"event": "x"}]) is None


def _state(pid: int) -> str:
    """The process state letter of ``/proc/<pid>/stat`` (``T``: stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def _wait_state(pid: int, want: set[str], timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while (got := _state(pid)) not in want and time.monotonic() < deadline:
        time.sleep(0.01)
    return got


def test_paused_stops_the_processes_for_the_block_and_continues_them_after() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with workercost.paused([child.pid, 2**22 + 7]):  # a gone pid is no error
            assert _wait_state(child.pid, {"T"}) == "T"
        assert _wait_state(child.pid, {"S", "R"}) in {"S", "R"}
    finally:
        child.kill()
        child.wait()


def test_paused_continues_the_processes_when_the_block_raises() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(RuntimeError), workercost.paused([child.pid]):
            assert _wait_state(child.pid, {"T"}) == "T"
            raise RuntimeError("the producer failed")
        assert _wait_state(child.pid, {"S", "R"}) in {"S", "R"}
    finally:
        child.kill()
        child.wait()
