"""``mcpmon tap --format auto`` into the real broker: every gateway sample, one mixed log.

The shared samples (copied into ``tests/tap/data``) of all seven formats are
concatenated; the tap must produce each mapped call to ``mcp.events`` keyed by
its ``agent_id`` and each dead letter with its line and reason.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from monitor.cli import main
from monitor.kafka_io import read_topics
from tests.integration.workers import Run
from tests.tap.support import SAMPLES


def test_every_gateway_sample_through_auto_into_kafka(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "mixed.jsonl"
    src.write_bytes(b"".join(SAMPLES[n].read_bytes() for n in SAMPLES if n != "jsonrpc"))
    for k, v in run.env().items():
        if k.startswith("MCPMON_"):
            monkeypatch.setenv(k, v)

    assert main(["tap", str(src), "--format", "auto", "--json"]) == 0
    summary = orjson.loads(capsys.readouterr().out)
    assert (summary["events"], summary["deadletters"]) == (28, 5)

    recs = asyncio.run(
        read_topics(
            run.bootstrap,
            [run.topics["events"], run.topics["deadletter"]],
            until=lambda r: len(r) >= 33,
            timeout=30,
            settle=0.5,
        )
    )
    events = [orjson.loads(r.value) for r in recs if r.topic == run.topics["events"]]
    keys = [r.key for r in recs if r.topic == run.topics["events"]]
    assert keys == [e["agent_id"].encode() for e in events]
    assert len({e["event_id"] for e in events}) == 28
    delegated = {
        (e["agent_id"], e["sponsor"]) for e in events if e.get("agent_kind") == "delegated"
    }
    assert ("agent:code-assistant/inst-31", "alice@corp.example") in delegated
    dead = [orjson.loads(r.value) for r in recs if r.topic == run.topics["deadletter"]]
    assert len(dead) == 5 and all(d["reason"] for d in dead)
