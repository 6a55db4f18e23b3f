"""Oracles shared by the worker unit tests and the broker integration tests."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import orjson
from aiokafka.partitioner import murmur2

from monitor.charter import load_charter_dir
from monitor.core import Engine, EngineSettings
from monitor.core.policy import CharterSet
from monitor.replay import replay_lines
from monitor.worker.processor import Outcome, Processor

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"
EXAMPLE_CHARTERS = ROOT / "examples" / "charters"


def kafka_partition(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as aiokafka and Java) picks."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def agent_of(line: bytes) -> str | None:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    agent = doc.get("agent_id") if isinstance(doc, dict) else None
    return agent if isinstance(agent, str) else None


def replay_outputs(
    lines: Iterable[bytes], charters_dir: Path, settings: EngineSettings | None = None
) -> tuple[list[dict], list[dict]]:
    """What ``mcpmon replay`` writes: (alerts, revocations) as JSON objects."""
    engine = Engine(load_charter_dir(charters_dir), settings)
    a, r, d = io.BytesIO(), io.BytesIO(), io.BytesIO()
    replay_lines(lines, engine, a, r, d)
    return _objects(a.getvalue()), _objects(r.getvalue())


def partitioned_outputs(
    lines: Iterable[bytes],
    charters_dir: Path,
    partitions: int,
    settings: EngineSettings | None = None,
) -> tuple[list[dict], list[dict]]:
    """What the worker gives: each partition's events in order through its own engine."""
    proc = Processor(CharterSet(load_charter_dir(charters_dir)), settings)
    for p in range(partitions):
        proc.assign(p, {}, now=0.0)
    outs: list[Outcome] = []
    for offset, line in enumerate(lines):
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        key = agent_of(line)
        p = kafka_partition(key, partitions) if key else 0
        outs.append(proc.handle(p, offset, line, key.encode() if key else None))
    return split(outs)


def split(outs: Iterable[Outcome]) -> tuple[list[dict], list[dict]]:
    alerts, revocations = [], []
    for out in outs:
        for rec in out.decisions:
            doc = orjson.loads(rec.value)
            (alerts if "alert_id" in doc else revocations).append(doc)
    return alerts, revocations


def _objects(data: bytes) -> list[dict]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def ids(docs: Iterable[dict], key: str) -> list[str]:
    return sorted(d[key] for d in docs)


#: the agent of the feedback ranker's tests (one of the example charters')
RANKER_AGENT = "spiffe://corp/agents/patcher-1"


def out_of_charter_call(i: int, hour: int = 9) -> bytes:
    """A call of :data:`RANKER_AGENT` to a tool of its own (``x{i}``) on a server no charter
    grants: an ``out_of_charter_tool`` alert every time. Event id ``c{i}``."""
    return orjson.dumps(
        {
            "type": "tool_call",
            "event_id": f"c{i}",
            "ts": f"2026-03-02T{hour:02d}:{i // 60:02d}:{i % 60:02d}Z",
            "agent_id": RANKER_AGENT,
            "server": "nope",
            "tool": f"x{i}",
            "outcome": "ok",
        }
    )


def verdict(i: int, alert_id: str, hour: int = 9) -> bytes:
    """An analyst's verdict on ``alert_id``, malicious for even ``i``. Event id ``f{i}``."""
    return orjson.dumps(
        {
            "type": "alert_feedback",
            "event_id": f"f{i}",
            "ts": f"2026-03-02T{hour:02d}:{i // 60:02d}:{i % 60:02d}Z",
            "agent_id": RANKER_AGENT,
            "alert_id": alert_id,
            "verdict": "benign" if i % 2 else "malicious",
        }
    )
