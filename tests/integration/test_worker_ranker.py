"""The feedback ranker in a real worker: verdicts from the events topic, scores on the alerts
topic, and no verdict lost to a SIGKILL once its offset is committed.

The ranker scores nothing before it has learned 20 verdicts. Five verdicts arrive and
are committed, then twenty more are committed, and the worker is killed at once. The
restarted worker must score the next alerts: it has all 25 verdicts back from its
DATA_DIR. (Before, the file was written at most every 5 s and apart from the commits;
the kill came within 5 s of the save of the first five, so the restarted worker had 5
verdicts, scored nothing, and the other 20 were never delivered again.)
"""

from __future__ import annotations

import pytest

from tests.integration.helpers import committed, docs, produce_lines, read_outputs
from tests.integration.workers import Run
from tests.waiting import wait_until
from tests.worker.support import EXAMPLE_CHARTERS, out_of_charter_call, verdict

pytestmark = pytest.mark.kafka


def _produce_and_wait_committed(run: Run, lines: list[bytes]) -> None:
    before = committed(run)
    parts = produce_lines(run, lines)
    assert len(set(parts)) == 1  # one agent: one partition
    p = parts[0]

    def done() -> bool:
        return committed(run).get(p, 0) >= before.get(p, 0) + len(lines)

    wait_until(done, 60, f"{len(lines)} events committed", 0.2)


def _alerts(run: Run, want: int) -> list[dict]:
    out = read_outputs(run, want, timeout=60, settle=0.5, names=("alerts",))
    return [a for a in docs(out["alerts"]) if a["detector"] == "out_of_charter_tool"]


def test_verdicts_committed_before_a_sigkill_still_score_alerts_after_it(run: Run) -> None:
    # the restarted worker is the same one: same DATA_DIR, where the ranker lives
    env = {"MCPMON_FEEDBACK_RANKER": "true", "MCPMON_DATA_DIR": str(run.tmp / "worker-0")}
    worker = run.start_worker(EXAMPLE_CHARTERS, **env)
    try:
        worker.wait_ready(timeout=90)
        _produce_and_wait_committed(run, [out_of_charter_call(i) for i in range(25)])
        first = _alerts(run, 25)
        ids = {int(a["evidence"][0][1:]): a["alert_id"] for a in first}
        assert sorted(ids) == list(range(25)), sorted(ids)
        assert not any("feedback_score" in a.get("details", {}) for a in first)

        _produce_and_wait_committed(run, [verdict(i, ids[i], hour=10) for i in range(5)])
        _produce_and_wait_committed(run, [verdict(i, ids[i], hour=10) for i in range(5, 25)])
        worker.kill()  # SIGKILL: no flush, no save at stop

        again = run.start_worker(EXAMPLE_CHARTERS, **env)
        again.wait_ready(timeout=90)
        _produce_and_wait_committed(run, [out_of_charter_call(i, hour=11) for i in range(100, 103)])
        later = [a for a in _alerts(run, 28) if a["alert_id"] not in set(ids.values())]
        assert len(later) == 3, later
        for a in later:
            score = a["details"].get("feedback_score")
            assert isinstance(score, float) and 0.0 <= score <= 1.0, a["details"]
        assert again.alive
    finally:
        run.stop_all()
