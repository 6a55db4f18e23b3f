"""The worker's feedback ranker: one per process, kept in DATA_DIR across restarts."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from monitor.charter import load_charter_dir
from monitor.core import EngineSettings
from monitor.core.feedback_ranker import FeedbackRanker
from monitor.core.policy import CharterSet
from monitor.worker.processor import Processor
from tests.worker.support import EXAMPLE_CHARTERS, out_of_charter_call, verdict


def _processor(path: Path, on: bool = True) -> Processor:
    proc = Processor(
        CharterSet(load_charter_dir(EXAMPLE_CHARTERS)),
        EngineSettings(feedback_ranker=on),
        ranker_file=path,
    )
    for p in range(2):
        proc.assign(p, {}, now=0.0)
    return proc


def _teach(proc: Processor, n: int) -> None:
    for i in range(n):
        out = proc.handle(1, 2 * i, out_of_charter_call(i))
        for rec in out.decisions:
            doc = orjson.loads(rec.value)
            if "alert_id" in doc and "command_id" not in doc:
                proc.handle(1, 2 * i + 1, verdict(i, doc["alert_id"]))


def test_one_ranker_for_every_partition_and_it_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "feedback_ranker.json"
    proc = _processor(path)
    assert proc.ranker is not None
    assert proc.engine(0).ranker is proc.engine(1).ranker is proc.ranker
    _teach(proc, 24)
    assert proc.ranker.verdicts == 24
    assert proc.save_ranker()
    assert os.stat(path).st_mode & 0o777 == 0o600
    again = _processor(path)
    assert again.ranker is not None and again.ranker.snapshot() == proc.ranker.snapshot()
    assert again.engine(1).ranker is again.ranker


def test_saves_only_when_changed(tmp_path: Path) -> None:
    path = tmp_path / "feedback_ranker.json"
    proc = _processor(path)
    assert not proc.save_ranker() and not path.exists()  # nothing learned or remembered yet
    _teach(proc, 2)
    assert proc.save_ranker()
    assert not proc.save_ranker()  # unchanged since
    _teach(proc, 3)
    assert proc.save_ranker()
    assert proc.ranker is not None
    assert FeedbackRanker.restore(path.read_bytes()).snapshot() == proc.ranker.snapshot()


def test_an_unreadable_file_is_counted_and_the_ranker_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "feedback_ranker.json"
    path.write_bytes(b"{not json")
    proc = _processor(path)
    assert proc.ranker is not None and proc.ranker.verdicts == 0
    assert proc.counters["feedback_ranker_unreadable"] == 1


def test_off_means_no_ranker_and_no_file(tmp_path: Path) -> None:
    path = tmp_path / "feedback_ranker.json"
    proc = _processor(path, on=False)
    _teach(proc, 3)
    assert proc.ranker is None and proc.engine(0).ranker is None
    assert not proc.save_ranker() and not path.exists()
