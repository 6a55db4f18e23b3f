"""``mcpmon explain ALERT_ID --kafka``: the alert, its evidence and revocation, from the topics.

Fresh topics on the real broker hold what a deployment's topics hold (the
example's replayed alerts and commands, its events); explain reads each from
the beginning to its end offsets and stops there.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import orjson
import pytest

from monitor.charter import load_charter_dir
from monitor.cli import main
from monitor.core import Engine
from monitor.kafka_io import delete_topics, produce
from monitor.replay import replay_file

pytestmark = pytest.mark.kafka

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _lines(path: Path) -> list[bytes]:
    return [ln for ln in path.read_bytes().splitlines() if ln.strip()]


def test_explain_joins_an_alert_with_its_evidence_and_revocation_from_the_topics(
    kafka_broker: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    replay_file(
        str(EXAMPLES / "events.jsonl"), Engine(load_charter_dir(EXAMPLES / "charters")), tmp_path
    )
    alerts = _lines(tmp_path / "alerts.jsonl")
    chain = next(a for a in map(orjson.loads, alerts) if a["detector"] == "forbidden_chain")
    run = uuid.uuid4().hex[:8]
    topics = {k: f"explain-{k}-{run}" for k in ("alerts", "events", "revocations")}
    for k, name in topics.items():
        monkeypatch.setenv(f"MCPMON_TOPIC_{k.upper()}", name)

    async def fill() -> None:
        await produce(kafka_broker, topics["alerts"], [(b"a", v) for v in alerts])
        await produce(kafka_broker, topics["events"], [(b"e", v) for v in _lines(EXAMPLES / "events.jsonl")])  # fmt: skip
        await produce(kafka_broker, topics["revocations"], [(b"r", v) for v in _lines(tmp_path / "revocations.jsonl")])  # fmt: skip

    try:
        asyncio.run(fill())
        argv = ["explain", chain["alert_id"][:10], "--kafka", kafka_broker, "--json"]
        assert main(argv) == 0
        got = orjson.loads(capsys.readouterr().out)
        assert main(["explain", chain["alert_id"], "--kafka", kafka_broker]) == 0
        text = capsys.readouterr().out
        assert main(["explain", "ffffffffff", "--kafka", kafka_broker]) == 1
        missing = capsys.readouterr().err
    finally:
        asyncio.run(delete_topics(kafka_broker, topics.values()))
    assert got["alert"]["alert_id"] == chain["alert_id"]
    assert [e["event_id"] for e in got["evidence"]] == chain["evidence"]
    assert got["missing_evidence"] == []
    assert [r["alert_ids"] for r in got["revocations"]] == [[chain["alert_id"]]]
    assert "forbidden_chains.exfiltration" in text and "revocation " in text
    assert "(not in the events file)" not in text
    assert f"no alert 'ffffffffff' in topic {topics['alerts']}" in missing
