"""A corrupt agent record in the state changelog, on the real broker.

The worker restores its partitions from the changelog; one record there that
cannot be read back used to fail the whole assignment (the worker never got
going). It must be dead-lettered with the agent and the broken section named,
its intact outbox published again, and the agent's events judged from an empty
state, as replay judges them.
"""

from __future__ import annotations

import asyncio

import orjson
from aiokafka.partitioner import DefaultPartitioner

from monitor.core.state import AgentState
from monitor.kafka_io import TopicSpec, ensure_topics, produce, read_topics
from monitor.worker.store import Record, encode
from tests.integration.helpers import docs, multiset, produce_lines, read_outputs
from tests.integration.workers import Run
from tests.worker.support import EXAMPLE_CHARTERS, replay_outputs

AGENT = "spiffe://corp/agents/patcher-7"


def _call(event_id: str, **kw: object) -> bytes:
    doc = {
        "type": "tool_call",
        "event_id": event_id,
        "ts": "2026-03-02T09:06:00Z",
        "agent_id": AGENT,
        "server": "fleet",
        "tool": "list_hosts",
        "outcome": "ok",
        **kw,
    }
    return orjson.dumps(doc)


def test_a_corrupt_changelog_record_is_dead_lettered_and_its_partition_still_runs(
    run: Run,
) -> None:
    changelog = f"{run.app_id}-agent_state-changelog"
    asyncio.run(
        ensure_topics(
            run.bootstrap,
            [TopicSpec(run.topics["events"], 4), TopicSpec(changelog, 4, compacted=True)],
        )
    )
    p = DefaultPartitioner()(AGENT.encode(), [0, 1, 2, 3], [0, 1, 2, 3])  # as the producer's
    snap = orjson.loads(AgentState(AGENT).snapshot())
    snap[5] = {"fan_out": "broken"}  # a section its detector cannot take back
    held = Record(run.topics["alerts"], AGENT.encode(), b'{"alert_id": "held-1"}')
    metas = asyncio.run(
        produce(run.bootstrap, changelog, [(AGENT.encode(), encode(p, orjson.dumps(snap), [held]))])
    )
    assert metas[0].partition == p

    worker = run.start_worker(EXAMPLE_CHARTERS)
    worker.wait_ready()
    lines = [_call("ok-1"), _call("bad-1", server="shell", tool="exec")]
    produce_lines(run, lines)

    dead = asyncio.run(
        read_topics(run.bootstrap, [run.topics["deadletter"]], until=lambda r: len(r) >= 1)
    )
    (rec,) = [orjson.loads(r.value) for r in dead]
    assert rec["reason"].startswith(f"corrupt agent state of agent {AGENT!r}: "), rec
    assert rec["field"] == "snapshot.sections.fan_out" and rec["topic"] == changelog
    assert rec["partition"] == p and dead[0].key == AGENT.encode()

    want_a, want_r = replay_outputs(lines, EXAMPLE_CHARTERS)
    out = read_outputs(run, len(want_a) + len(want_r) + 1, timeout=60)
    alerts = docs(out["alerts"])
    assert {"alert_id": "held-1"} in alerts  # the corrupt record's outbox, published again
    assert multiset(a for a in alerts if a != {"alert_id": "held-1"}) == multiset(want_a)
    assert multiset(docs(out["revocations"])) == multiset(want_r)
    assert worker.alive
    warned = [r for r in worker.logs() if r.get("event") == "agent_state_corrupt"]
    assert [(r["partition"], r["field"]) for r in warned] == [(p, "snapshot.sections.fan_out")]
