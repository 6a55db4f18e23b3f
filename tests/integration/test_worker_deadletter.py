"""Malformed messages on the real broker: dead-lettered with reason and position, nothing lost.

Each bad message must land in ``mcp.deadletter`` with its reason, field,
topic/partition/offset (checked against the offsets the broker gave the
producer) and its raw bytes; every valid event around them must be processed
exactly as replay processes the same sequence; the worker must still run.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time

import orjson

from monitor.charter import load_charter_dir
from monitor.core import Engine, EngineSettings
from monitor.deadletter import HEAD_BYTES
from monitor.errors import DecodeError
from monitor.events import decode_event
from monitor.kafka_io import TopicSpec, ensure_topics, produce, read_topics
from tests.fuzz.hostile import hostile_messages
from tests.integration.helpers import docs, multiset, read_outputs
from tests.integration.workers import Run
from tests.worker.support import EXAMPLE_CHARTERS, EXAMPLE_EVENTS, agent_of, replay_outputs

AGENT = "spiffe://corp/agents/patcher-7"


def _call(event_id: str, **kw: object) -> dict:
    return {
        "type": "tool_call",
        "event_id": event_id,
        "ts": "2026-03-02T09:06:00Z",
        "agent_id": AGENT,
        "server": "fleet",
        "tool": "list_hosts",
        "outcome": "ok",
        **kw,
    }


HUGE = orjson.dumps(_call("huge-1", args={"blob": "x" * (3 << 19)}))  # 1.5 MiB

#: (raw value, the reason the dead letter must give)
MALFORMED: list[tuple[bytes | None, str]] = [
    (b"this is not json", "not JSON"),
    (b"\xff\xfe\x00\x01 binary garbage", "not JSON"),
    (b"[1, 2, 3]", "object"),
    (b"", "not JSON"),
    (None, "not JSON"),  # a tombstone
    (orjson.dumps(_call("wt-1", bytes_out="many")), "bytes_out"),
    (orjson.dumps(_call("wt-2", ts="yesterday")), "ts"),
    (orjson.dumps({k: v for k, v in _call("mf-1").items() if k != "server"}), "server"),
    (orjson.dumps({**_call("ut-1"), "type": "teleport"}), "unknown event type 'teleport'"),
    (HUGE, "exceeds the limit"),
]

#: not a dead letter: refused whole by the core, with a charter_rejected alert (as in replay)
BAD_CHARTER = orjson.dumps(
    {
        "type": "charter_updated",
        "event_id": "cu-bad",
        "agent_id": AGENT,
        "ts": "2026-03-02T09:06:00Z",
        "charter": {"agent": AGENT, "kind": "robot"},
    }
)


def test_malformed_messages_go_to_deadletter_and_the_rest_is_processed(run: Run) -> None:
    # The operator allows 4 MiB messages on mcp.events, so a 1.5 MiB one gets to the worker.
    asyncio.run(
        ensure_topics(
            run.bootstrap, [TopicSpec(run.topics["events"], 4, max_message_bytes=4 << 20)]
        )
    )
    # unsigned charter updates allowed, so the bad one below is judged on its content
    worker = run.start_worker(EXAMPLE_CHARTERS, MCPMON_CHARTER_ALLOW_UNSIGNED="true")
    worker.wait_ready()

    good = [ln for ln in EXAMPLE_EVENTS.read_bytes().splitlines() if ln.strip()]
    # bad messages interleaved with the good ones, then one more violation at the end
    sequence: list[tuple[bytes | None, str | None]] = []
    for i, line in enumerate(good):
        sequence.append((line, None))
        if i % 6 == 3 and MALFORMED[i // 6 % len(MALFORMED)] not in sequence:
            sequence.append(MALFORMED[i // 6 % len(MALFORMED)])
    for bad in MALFORMED:
        if bad not in sequence:
            sequence.append(bad)
    sequence.append((BAD_CHARTER, None))
    last = orjson.dumps(_call("after-bad", server="shell", tool="exec"))
    sequence.append((last, None))

    records = [
        (AGENT.encode() if agent_of(v or b"") is None else agent_of(v).encode(), v)
        for v, _ in sequence
    ]
    metas = asyncio.run(produce(run.bootstrap, run.topics["events"], records))
    expected_dead = {
        (m.partition, m.offset): reason
        for m, (_, reason) in zip(metas, sequence, strict=True)
        if reason is not None
    }
    want_a, want_r = replay_outputs(
        [v or b"" for v, _ in sequence],
        EXAMPLE_CHARTERS,
        EngineSettings(charter_allow_unsigned=True),
    )

    n_dead = len(expected_dead) + 2  # + the example file's own two bad lines
    dead = asyncio.run(
        read_topics(
            run.bootstrap,
            [run.topics["deadletter"]],
            until=lambda r: len(r) >= n_dead,
            timeout=60,
            settle=1.0,
        )
    )
    assert len(dead) == n_dead, worker.tail()
    seen = {}
    for rec in dead:
        doc = orjson.loads(rec.value)
        assert doc["topic"] == run.topics["events"]
        seen[(doc["partition"], doc["offset"])] = doc
    for where, reason in expected_dead.items():
        assert where in seen, f"no dead letter for {where} ({reason})"
        assert reason in seen[where]["reason"], (reason, seen[where]["reason"])
    # raw bytes are kept (base64 when not UTF-8; the oversize one cut, with size and digest)
    by_reason = {d["reason"]: d for d in seen.values()}
    assert any(base64.b64decode(d.get("raw_base64", "")) == MALFORMED[1][0] for d in seen.values())
    huge = next(d for r, d in by_reason.items() if "exceeds the limit" in r)
    assert huge["truncated"] and huge["size"] == len(HUGE)

    out = read_outputs(run, len(want_a) + len(want_r), timeout=60)
    assert multiset(docs(out["alerts"])) == multiset(want_a)
    assert multiset(docs(out["revocations"])) == multiset(want_r)
    assert any(a["evidence"] == ["after-bad"] for a in docs(out["alerts"]))
    rejected = [a for a in docs(out["alerts"]) if a["detector"] == "charter_rejected"]
    assert [(a["evidence"], a["clause"]["key"]) for a in rejected] == [(["cu-bad"], "kind")]
    assert worker.alive
    counted = [r for r in worker.logs() if r.get("event") == "deadletter"]
    assert len(counted) == n_dead


def test_hostile_messages_all_reach_the_deadletter_topic_and_the_worker_keeps_running(
    run: Run,
) -> None:
    """Seeded hostile input of every class (tests/fuzz/hostile.py) on the real broker."""
    hostile = hostile_messages(350, seed=11)
    rejected = []
    # one key, one partition, one engine: it refuses what decodes but is stamped too far
    # ahead of its clock (a 2199 ts), as the worker's engine for that partition will
    engine = Engine(load_charter_dir(EXAMPLE_CHARTERS))
    engine.clock = time.time()
    for i, (_, raw) in enumerate(hostile):
        try:
            engine.process(decode_event(raw))
        except DecodeError as err:
            rejected.append((i, err.reason))
    assert len(rejected) > 250  # most of them are invalid by construction
    worker = run.start_worker(EXAMPLE_CHARTERS)
    worker.wait_ready()
    last = orjson.dumps(_call("after-hostile", server="shell", tool="exec"))
    records = [(AGENT.encode(), raw) for _, raw in hostile] + [(AGENT.encode(), last)]
    metas = asyncio.run(produce(run.bootstrap, run.topics["events"], records))
    want = {(metas[i].partition, metas[i].offset): reason for i, reason in rejected}

    dead = asyncio.run(
        read_topics(
            run.bootstrap,
            [run.topics["deadletter"]],
            until=lambda r: len(r) >= len(want),
            timeout=90,
            settle=1.0,
        )
    )
    got = {}
    for rec in dead:
        doc = orjson.loads(rec.value)
        got[(doc["partition"], doc["offset"])] = doc
    assert set(got) == set(want), worker.tail()
    for where, reason in want.items():
        assert got[where]["reason"] == reason  # the same reason the decoder gives
        i = next(j for j, m in enumerate(metas) if (m.partition, m.offset) == where)
        raw = hostile[i][1]
        kept = got[where].get("raw")
        head = kept.encode() if kept is not None else b64(got[where]["raw_base64"])
        assert got[where]["length"] == len(raw) and got[where]["sha256"] == sha256(raw)
        assert head == raw if len(raw) <= HEAD_BYTES else raw.startswith(head)
    out = read_outputs(run, 1, timeout=60)
    assert any(a["evidence"] == ["after-hostile"] for a in docs(out["alerts"])), worker.tail()
    assert worker.alive
    print(f"{len(hostile)} hostile messages, {len(want)} dead-lettered with their reasons")


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
