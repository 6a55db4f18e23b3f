"""``--processes`` on ``mcpmon worker`` and ``mcpmon bench kafka``: parsed, checked, passed on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import monitor.bench.kafka
import monitor.worker.command
import monitor.worker.run
import monitor.worker.supervisor
from monitor.cli import main
from tests.worker.support import EXAMPLE_CHARTERS


def test_bench_kafka_passes_processes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[dict[str, Any]] = []
    monkeypatch.setattr(monitor.bench.kafka, "bench_kafka", lambda *a, **kw: got.append(kw) or 0)
    assert main(["bench", "kafka", "--processes", "2"]) == 0
    assert main(["bench", "kafka", "--processes", "1"]) == 0
    monkeypatch.setattr(monitor.worker.command, "usable_cpus", lambda: 8)
    assert main(["bench", "kafka"]) == 0  # the worker's default, at most 4 partitions
    assert [kw["processes"] for kw in got] == [2, 1, 4]
    assert main(["bench", "kafka", "--processes", "0"]) != 0


def test_worker_runs_one_process_per_usable_cpu_at_most_one_per_partition_unless_told(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ran: list[tuple[str, Any]] = []
    monkeypatch.setattr(monitor.worker.run, "run_worker", lambda *a: ran.append(("one", a)) or 0)
    monkeypatch.setattr(
        monitor.worker.supervisor, "run_processes", lambda *a: ran.append(("many", a)) or 0
    )
    charters = str(EXAMPLE_CHARTERS)
    cpus = {"n": 1}
    monkeypatch.setattr(monitor.worker.command, "usable_cpus", lambda: cpus["n"])
    assert main(["worker", "--charters", charters]) == 0  # one CPU: one process
    cpus["n"] = 2
    assert main(["worker", "--charters", charters]) == 0  # two: two
    cpus["n"] = 16
    monkeypatch.setenv("MCPMON_PARTITIONS", "4")
    assert main(["worker", "--charters", charters]) == 0  # never more than the partitions
    assert main(["worker", "--charters", charters, "--processes", "1"]) == 0
    assert main(["worker", "--charters", charters, "--processes", "3"]) == 0
    assert [(k, a[2] if k == "many" else None) for k, a in ran] == [
        ("one", None),
        ("many", 2),
        ("many", 4),
        ("one", None),
        ("many", 3),
    ]
    assert ran[1][1][1:4] == (charters, 2, "info")
    assert main(["worker", "--charters", charters, "--processes", "0"]) != 0
    assert "--processes must be at least 1, got 0" in capsys.readouterr().err


def test_usable_cpus_follow_the_affinity_and_a_cgroup_quota(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from monitor.worker.command import usable_cpus

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert usable_cpus(tmp_path / "none") == 4  # no cgroup file: the affinity
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cpus(tmp_path) == 4  # no quota
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert usable_cpus(tmp_path) == 2  # --cpus 1.5: two processes
    (tmp_path / "cpu.max").write_text("10000 100000\n")
    assert usable_cpus(tmp_path) == 1  # a tenth of a CPU: still one
    (tmp_path / "cpu.max").write_text("800000 100000\n")
    assert usable_cpus(tmp_path) == 4  # a quota above the affinity: the affinity
    for garbage in ("garbage\n", "100000 0\n", ""):
        (tmp_path / "cpu.max").write_text(garbage)
        assert usable_cpus(tmp_path) == 4
