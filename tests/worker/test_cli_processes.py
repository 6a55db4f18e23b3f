"""``--processes`` on ``mcpmon worker`` and ``mcpmon bench kafka``: parsed, checked, passed on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import monitor.bench.kafka
import monitor.worker.run
import monitor.worker.supervisor
from monitor.cli import main
from tests.worker.support import EXAMPLE_CHARTERS


def test_bench_kafka_passes_processes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[dict[str, Any]] = []
    monkeypatch.setattr(monitor.bench.kafka, "bench_kafka", lambda *a, **kw: got.append(kw) or 0)
    assert main(["bench", "kafka", "--processes", "2"]) == 0
    assert got == [{"processes": 2}]


def test_worker_runs_one_process_unless_told(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ran: list[tuple[str, Any]] = []
    monkeypatch.setattr(monitor.worker.run, "run_worker", lambda *a: ran.append(("one", a)) or 0)
    monkeypatch.setattr(
        monitor.worker.supervisor, "run_processes", lambda *a: ran.append(("many", a)) or 0
    )
    charters = str(EXAMPLE_CHARTERS)
    assert main(["worker", "--charters", charters]) == 0
    assert main(["worker", "--charters", charters, "--processes", "3"]) == 0
    assert [k for k, _ in ran] == ["one", "many"]
    assert ran[1][1][1:4] == (charters, 3, "info")
    assert main(["worker", "--charters", charters, "--processes", "0"]) != 0
    assert "--processes must be at least 1, got 0" in capsys.readouterr().err
