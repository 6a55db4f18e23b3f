"""``mcpmon worker --processes 2`` on the real broker: one group, both processes busy, same outputs.

Two worker processes under one parent share the 4 input partitions of one
consumer group. What comes out must be exactly what one process gives (the
per-partition oracle, itself equal to ``mcpmon replay`` here): same alerts,
same commands, no duplicates. SIGTERM to the parent stops both children cleanly.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from monitor import simulate
from tests.integration.helpers import docs, multiset, produce_lines, read_outputs
from tests.integration.workers import Run, WorkerProcess
from tests.worker.support import partitioned_outputs


def _assignments(worker: WorkerProcess) -> dict[int, list[int]]:
    """Each child's latest assignment (by pid)."""
    last: dict[int, list[int]] = {}
    for rec in worker.logs():
        if rec.get("event") == "partitions_assigned" and "pid" in rec:
            last[rec["pid"]] = rec["partitions"]
    return last


def _wait_split(worker: WorkerProcess, timeout: float = 90.0) -> dict[int, list[int]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _assignments(worker)
        parts = sorted(p for ps in got.values() for p in ps)
        if len(got) == 2 and all(got.values()) and parts == [0, 1, 2, 3]:
            return got
        assert worker.alive, worker.tail()
        time.sleep(0.2)
    raise AssertionError(f"partitions never split over two processes: {got}\n{worker.tail()}")


def test_two_processes_share_the_partitions_and_give_one_process_s_outputs(
    run: Run, tmp_path: Path
) -> None:
    sim = simulate.simulate(agents=40, minutes=30, seed=5)
    simulate.write(sim, tmp_path / "sim")
    charters = tmp_path / "sim" / "charters"
    lines = (tmp_path / "sim" / "events.jsonl").read_bytes().splitlines()
    want_a, want_r = partitioned_outputs(lines, charters, 4)  # what one process gives

    data = tmp_path / "data"
    worker = WorkerProcess(
        "multi",
        run.env(MCPMON_DATA_DIR=str(data)),
        charters,
        tmp_path / "multi.log",
        extra_args=["--processes", "2"],
    )
    try:
        split = _wait_split(worker)
        for rec in worker.logs():  # each child restored from its own state dir
            assert rec.get("event") != "worker_process_died", worker.tail()
        assert (data / "0").is_dir() and (data / "1").is_dir()
        assert len(set(produce_lines(run, lines))) == 4
        out = read_outputs(run, len(want_a) + len(want_r), timeout=90)
        got_a, got_r = docs(out["alerts"]), docs(out["revocations"])
        assert multiset(got_a) == multiset(want_a)
        assert multiset(got_r) == multiset(want_r)
        assert len(want_a) >= 10 and len(want_r) >= 10
        assert _assignments(worker) == split  # no rebalance while processing
        worker.stop(timeout=60)  # SIGTERM to the parent, forwarded to both
        assert worker.proc.returncode == 0, worker.tail()
        stopped = [r for r in worker.logs() if r.get("event") == "worker_processes_stopped"]
        assert len(stopped) == 1 and len(stopped[0]["returncodes"]) == 2
        # three processes wrote to one stream: still one JSON object a line, nothing else
        # (two lines once came out glued, and Faust's spinner put escapes before a line)
        raw = (tmp_path / "multi.log").read_bytes()
        assert b"\x1b[" not in raw and b"\b" not in raw
        for line in raw.splitlines():
            if line.strip():
                assert isinstance(orjson.loads(line), dict), line[:300]
    finally:
        if worker.alive:
            worker.kill()
