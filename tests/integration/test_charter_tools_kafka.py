"""mcpmon map / charter suggest reading a topic range from the real broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from monitor.cli import main
from monitor.kafka_io import produce
from monitor.simulate import simulate
from tests.integration.workers import Run


async def _one_partition(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


def test_map_and_suggest_read_an_offset_range_of_a_topic(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = run.topics["events"]
    events = simulate(10, 30, seed=4, attacks=False).events[:300]
    assert len(events) == 300
    asyncio.run(_one_partition(run.bootstrap, topic))
    records = [(e["agent_id"].encode(), orjson.dumps(e)) for e in events]
    asyncio.run(produce(run.bootstrap, topic, records))
    monkeypatch.setenv("MCPMON_KAFKA_BOOTSTRAP", run.bootstrap)

    out = tmp_path / "map"
    argv = ["map", "--topic", topic, "--from", "100", "--to", "199", "--idle", "20"]
    assert main([*argv, "--out", str(out)]) == 0
    doc = orjson.loads((out / "map.json").read_bytes())
    assert doc["events"] == 100  # offsets 100..199 inclusive
    calls = sum(1 for e in events[100:200] if e["type"] == "tool_call")
    assert doc["calls"] == calls

    sugg = tmp_path / "suggested"
    argv = ["charter", "suggest", "--topic", topic, "--idle", "20", "--out", str(sugg)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["check-charter", str(sugg)]) == 0
    agents = {e["agent_id"] for e in events if e["type"] == "tool_call"}
    assert "ok:" in capsys.readouterr().out and len(list(sugg.glob("*.yaml"))) >= 1
    assert len(agents) >= 2
