"""Event-time timers fire when an agent (its whole partition) goes quiet.

A sponsor ends their session and nothing else arrives. The worker's idle
tick (``MCPMON_WATERMARK_IDLE_SECONDS``, its only wall-clock input) carries the
partition's event time forward by the wall time that passes, so the
``absent_sponsor`` timer fires ``task_grace_seconds`` later and the open task
is revoked proactively — without another event. The command must be the one
the engine gives when its watermark is advanced past the timer.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import orjson

from monitor.charter import load_charter_dir
from monitor.core import Engine
from monitor.events import decode_event
from tests.integration.helpers import docs, produce_lines, read_outputs
from tests.integration.workers import Run
from tests.worker.support import EXAMPLE_CHARTERS

AGENT = "agent:code-assistant/quiet-1"
GRACE = 2


def _lines() -> list[bytes]:
    base = {"agent_id": AGENT}
    return [
        orjson.dumps({**base, **d})
        for d in (
            {
                "type": "task_started",
                "event_id": "q1",
                "ts": "2026-03-02T09:00:00Z",
                "task_id": "TQ",
                "sponsor": "bob@corp.example",
                "agent_kind": "delegated",
            },
            {
                "type": "credential_issued",
                "event_id": "q2",
                "ts": "2026-03-02T09:00:01Z",
                "credential_id": "cred-q",
                "task_id": "TQ",
                "scopes": ["repo:read"],
                "expires_at": "2026-03-02T09:30:00Z",
            },
            {
                "type": "sponsor_ended",
                "event_id": "q3",
                "ts": "2026-03-02T09:00:05Z",
                "sponsor": "bob@corp.example",
                "task_id": "TQ",
            },
        )
    ]


def test_idle_partition_fires_its_timers_from_the_wall_clock(run: Run, tmp_path: Path) -> None:
    charters = tmp_path / "charters"
    shutil.copytree(EXAMPLE_CHARTERS, charters)
    doc = charters / "code-assistant.yaml"
    doc.write_text(
        doc.read_text().replace("task_grace_seconds: 30", f"task_grace_seconds: {GRACE}")
    )

    engine = Engine(load_charter_dir(charters))
    for line in _lines():
        assert not engine.process(decode_event(line))
    last = decode_event(_lines()[-1]).ts.timestamp()
    want = engine.advance_watermark(last + GRACE + 1)
    assert want.revocations, "the oracle should revoke the task when the timer fires"

    worker = run.start_worker(charters, MCPMON_WATERMARK_IDLE_SECONDS="0.5")
    worker.wait_ready()
    t0 = time.monotonic()
    produce_lines(run, _lines())
    out = read_outputs(run, len(want.revocations), timeout=30, settle=1.0, names=("revocations",))
    waited = time.monotonic() - t0
    got = docs(out["revocations"])
    assert sorted(orjson.dumps(d, option=orjson.OPT_SORT_KEYS) for d in got) == sorted(
        orjson.dumps(orjson.loads(r.to_json()), option=orjson.OPT_SORT_KEYS)
        for r in want.revocations
    )
    assert got[0]["task_id"] == "TQ" and got[0]["credential_ids"] == ["cred-q"]
    assert waited >= GRACE - 0.5, "fired before the grace could pass in wall time"
    assert any(r.get("event") == "idle_timers_fired" for r in worker.logs())
