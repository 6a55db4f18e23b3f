"""End to end on the real broker: what comes out of Kafka equals ``mcpmon replay``.

Events are produced keyed by ``agent_id`` into a 4-partition ``mcp.events``; the
worker runs as a subprocess (``python -m monitor.cli worker``). The alerts and
revocation commands read back from Kafka must equal, as multisets of whole JSON
documents, what :mod:`monitor.replay` writes for the same file: same alert
ids, same command ids, same content, nothing extra and no duplicates.

Timers and the two runners: replay has one event-time watermark for the whole
file, the worker one per partition (see ``monitor.worker.processor``). A timer
fires in both before any later event of its own agent, so the outputs agree
unless a timer is due after its partition's last event but before the file's
last event; then replay fires it and the worker only does so on an idle tick
(``MCPMON_WATERMARK_IDLE_SECONDS``, off here). Neither file here has such a
timer; ``tests/worker/test_processor.py`` checks the per-partition oracle
against replay for them without a broker, and this test checks the worker
against both.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from monitor import simulate
from tests.integration.helpers import docs, multiset, produce_lines, read_outputs
from tests.integration.workers import Run
from tests.worker.support import (
    EXAMPLE_CHARTERS,
    EXAMPLE_EVENTS,
    partitioned_outputs,
    replay_outputs,
)


def _check_against_replay(
    run: Run, lines: list[bytes], charters: Path, min_partitions: int = 1
) -> dict[str, int]:
    want_a, want_r = replay_outputs(lines, charters)
    part_a, part_r = partitioned_outputs(lines, charters, 4)
    assert multiset(part_a) == multiset(want_a) and multiset(part_r) == multiset(want_r)

    worker = run.start_worker(charters)
    worker.wait_ready()
    t0 = time.monotonic()
    partitions = produce_lines(run, lines)
    assert len(set(partitions)) >= min_partitions
    out = read_outputs(run, len(want_a) + len(want_r), timeout=60)
    got_a, got_r = docs(out["alerts"]), docs(out["revocations"])
    elapsed = time.monotonic() - t0

    assert sorted(a["alert_id"] for a in got_a) == sorted(a["alert_id"] for a in want_a)
    assert sorted(r["command_id"] for r in got_r) == sorted(r["command_id"] for r in want_r)
    assert multiset(got_a) == multiset(want_a)
    assert multiset(got_r) == multiset(want_r)
    for rec in out["alerts"] + out["revocations"]:
        assert rec.key == orjson.loads(rec.value)["agent_id"].encode()
    assert worker.alive
    return {"alerts": len(got_a), "revocations": len(got_r), "seconds": round(elapsed, 2)}


def test_example_file_through_kafka_equals_replay(run: Run) -> None:
    lines = [ln for ln in EXAMPLE_EVENTS.read_bytes().splitlines() if ln.strip()]
    _check_against_replay(run, lines, EXAMPLE_CHARTERS)
    # the example's two bad lines are dead-lettered, as replay does
    dead = read_outputs(run, 2, timeout=20, settle=0.5, names=("deadletter",))["deadletter"]
    reasons = sorted(orjson.loads(r.value)["reason"] for r in dead)
    assert len(dead) == 2 and reasons[0].startswith("not JSON") and "tool_cal" in reasons[1]


def test_simulated_traffic_through_kafka_equals_replay(run: Run, tmp_path: Path) -> None:
    sim = simulate.simulate(agents=40, minutes=30, seed=5)
    simulate.write(sim, tmp_path / "sim")
    lines = (tmp_path / "sim" / "events.jsonl").read_bytes().splitlines()
    got = _check_against_replay(run, lines, tmp_path / "sim" / "charters", min_partitions=4)
    assert got["alerts"] >= 10 and got["revocations"] >= 10
