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

import asyncio

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.helpers import docs, produce_lines, read_outputs
from tests.integration.workers import Run
from tests.waiting import wait_until
from tests.worker.support import EXAMPLE_CHARTERS

pytestmark = pytest.mark.kafka

AGENT = "spiffe://corp/agents/patcher-1"


def _call(i: int, hour: int = 9) -> bytes:
    """An out-of-charter call (a tool of its own each): an alert every time."""
    return orjson.dumps(
        {
            "type": "tool_call",
            "event_id": f"c{i}",
            "ts": f"2026-03-02T{hour:02d}:{i // 60:02d}:{i % 60:02d}Z",
            "agent_id": AGENT,
            "server": "nope",
            "tool": f"x{i}",
            "outcome": "ok",
        }
    )


def _verdict(i: int, alert_id: str) -> bytes:
    return orjson.dumps(
        {
            "type": "alert_feedback",
            "event_id": f"f{i}",
            "ts": f"2026-03-02T10:{i // 60:02d}:{i % 60:02d}Z",
            "agent_id": AGENT,
            "alert_id": alert_id,
            "verdict": "benign" if i % 2 else "malicious",
        }
    )


async def _committed(run: Run) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=run.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(run.app_id)
    finally:
        await admin.close()
    return {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == run.topics["events"]}


def _produce_and_wait_committed(run: Run, lines: list[bytes]) -> None:
    parts = produce_lines(run, lines)
    p = parts[-1]
    end = sum(1 for q in parts if q == p)  # how many went to the agent's one partition …
    start = asyncio.run(_committed(run)).get(p, 0)  # … after what was committed before

    def done() -> bool:
        return asyncio.run(_committed(run)).get(p, 0) >= start + end

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
        _produce_and_wait_committed(run, [_call(i) for i in range(25)])
        first = _alerts(run, 25)
        ids = {int(a["evidence"][0][1:]): a["alert_id"] for a in first}
        assert sorted(ids) == list(range(25)), sorted(ids)
        assert not any("feedback_score" in a.get("details", {}) for a in first)

        _produce_and_wait_committed(run, [_verdict(i, ids[i]) for i in range(5)])
        _produce_and_wait_committed(run, [_verdict(i, ids[i]) for i in range(5, 25)])
        worker.kill()  # SIGKILL: no flush, no save at stop

        again = run.start_worker(EXAMPLE_CHARTERS, **env)
        again.wait_ready(timeout=90)
        _produce_and_wait_committed(run, [_call(i, hour=11) for i in range(100, 103)])
        later = [a for a in _alerts(run, 28) if a["alert_id"] not in set(ids.values())]
        assert len(later) == 3, later
        for a in later:
            score = a["details"].get("feedback_score")
            assert isinstance(score, float) and 0.0 <= score <= 1.0, a["details"]
        assert again.alive
    finally:
        run.stop_all()
