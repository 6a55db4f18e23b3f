"""The worker's Kafka-free middle against the replay runner, with bytes in and out."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest

from monitor.charter import load_charter_dir
from monitor.core import EngineSettings
from monitor.core.policy import CharterSet
from monitor.core.state import AgentState
from monitor.deadletter import HEAD_BYTES
from monitor.signing import Keyring, parse_keyring, sign_charter
from monitor.worker.processor import OutputTopics, Processor
from monitor.worker.store import decode, load_partitions
from tests.worker.support import (
    EXAMPLE_CHARTERS,
    EXAMPLE_EVENTS,
    agent_of,
    ids,
    kafka_partition,
    partitioned_outputs,
    replay_outputs,
)

T0 = "2026-03-02T09:"


def _ev(event_id: str, ts: str, agent: str, typ: str = "tool_call", **kw: object) -> bytes:
    doc = {"type": typ, "event_id": event_id, "ts": T0 + ts + "Z", "agent_id": agent, **kw}
    if typ == "tool_call":
        doc.setdefault("server", "fs")
        doc.setdefault("tool", "read_file")
        doc.setdefault("outcome", "ok")
    return orjson.dumps(doc)


def _processor(idle: float = 0.0, partitions: int = 4, keys: Keyring | None = None) -> Processor:
    settings = EngineSettings(charter_keys=keys)
    proc = Processor(CharterSet(load_charter_dir(EXAMPLE_CHARTERS)), settings, idle_seconds=idle)
    for p in range(partitions):
        proc.assign(p, {}, now=0.0)
    return proc


@pytest.mark.parametrize("partitions", [1, 3, 4])
def test_partitioned_processing_of_the_example_equals_replay(partitions: int) -> None:
    lines = EXAMPLE_EVENTS.read_bytes().splitlines()
    want_a, want_r = replay_outputs(lines, EXAMPLE_CHARTERS)
    got_a, got_r = partitioned_outputs(lines, EXAMPLE_CHARTERS, partitions)
    assert want_a and want_r
    assert ids(got_a, "alert_id") == ids(want_a, "alert_id")
    assert ids(got_r, "command_id") == ids(want_r, "command_id")
    assert sorted(map(orjson.dumps, got_r)) == sorted(map(orjson.dumps, want_r))


def test_bad_messages_become_dead_letters_with_reason_and_position() -> None:
    proc = _processor()
    cases = {
        b"not json at all": "not JSON",
        b'{"type":"tool_call","event_id":"x","ts":"2026-03-02T09:00:00Z","agent_id":"a",'
        b'"server":"s","tool":"t","bytes_out":"many"}': "bytes_out",
        b'{"type":"teleport","event_id":"x","ts":"2026-03-02T09:00:00Z","agent_id":"a"}': (
            "unknown event type"
        ),
        b"[1,2]": "object",
        b"\xff\xfe": "not JSON",
        b"{" + b" " * (1 << 20) + b"}": "exceeds the limit",
    }
    for n, (raw, reason) in enumerate(cases.items()):
        out = proc.handle(2, 100 + n, raw, b"k", topic="mcp.events")
        assert not out.decisions
        (rec,) = out.notes
        assert rec.topic == OutputTopics().deadletter and rec.key == b"k"
        doc = orjson.loads(rec.value)
        assert reason in doc["reason"]
        assert (doc["topic"], doc["partition"], doc["offset"]) == ("mcp.events", 2, 100 + n)
        assert doc["length"] == len(raw) and doc["sha256"] == hashlib.sha256(raw).hexdigest()
        if len(raw) > HEAD_BYTES:  # cut to a head, with the size and digest of the whole
            assert doc["truncated"] and doc["size"] == len(raw)
            assert len(doc["raw"]) == HEAD_BYTES and raw.startswith(doc["raw"].encode())
        elif "raw_base64" in doc:
            assert base64.b64decode(doc["raw_base64"]) == raw
        else:
            assert doc["raw"].encode() == raw
    assert proc.counters["deadletter"] == len(cases)
    assert proc.counters["events"] == 0
    assert proc.handle(2, 1, None).notes[0].topic == OutputTopics().deadletter  # tombstone


def test_outputs_are_keyed_by_agent_and_carry_the_model_json() -> None:
    proc = _processor()
    raw = _ev(
        "e1", "00:00", "spiffe://corp/agents/patcher-1", server="nope", tool="x", credential_id="c1"
    )
    out = proc.handle(0, 0, raw)
    kinds = sorted(r.topic for r in out.decisions)
    assert kinds == ["mcp.alerts", "mcp.revocations"]
    for rec in out.decisions:
        assert rec.key == b"spiffe://corp/agents/patcher-1"
        assert orjson.loads(rec.value)["agent_id"] == "spiffe://corp/agents/patcher-1"


def _run_into(
    proc: Processor, lines: list[bytes], start: int, table: dict[bytes, bytes], got: list[dict]
) -> None:
    """Feed lines as the worker does: handle, then write the changed agents to the table."""
    for offset, line in enumerate(lines, start):
        agent = agent_of(line)
        p = kafka_partition(agent, 4) if agent else 0
        out = proc.handle(p, offset, line)
        got.extend(orjson.loads(rec.value) for rec in out.decisions)
        proc.flush(p, table.__setitem__)


def test_state_written_back_and_restored_continues_as_if_never_stopped() -> None:
    """A crash between any two events: rebuild from the table, go on, same outputs."""
    lines = [ln for ln in EXAMPLE_EVENTS.read_bytes().splitlines() if ln.strip()]
    want_a, want_r = partitioned_outputs(lines, EXAMPLE_CHARTERS, 4)
    for cut in (5, 20, 33, 50):
        table: dict[bytes, bytes] = {}
        got: list[dict] = []
        _run_into(_processor(), lines[:cut], 0, table, got)
        restored = load_partitions(table.items(), range(4))
        proc2 = Processor(CharterSet(load_charter_dir(EXAMPLE_CHARTERS)))
        for p, states in restored.items():
            proc2.assign(p, states, now=0.0)
        _run_into(proc2, lines[cut:], cut, table, got)
        assert ids([d for d in got if "alert_id" in d], "alert_id") == ids(want_a, "alert_id")
        assert ids(
            [d for d in got if "command_id" in d and "alert_id" not in d], "command_id"
        ) == ids(want_r, "command_id")


def test_redelivered_events_after_a_restore_are_dropped_as_duplicates() -> None:
    table: dict[bytes, bytes] = {}
    proc = _processor()
    raw = _ev("e1", "00:00", "spiffe://corp/agents/patcher-1", server="nope", tool="x")
    assert proc.handle(1, 0, raw).decisions
    proc.flush(1, table.__setitem__)
    (value,) = table.values()
    assert decode(value)[0] == 1
    proc2 = Processor(proc.charters)
    proc2.assign(1, load_partitions(table.items(), [1])[1], now=0.0)
    assert not proc2.handle(1, 0, raw)
    assert proc2.counters["duplicates"] == 1


def test_load_skips_agents_stamped_with_partitions_not_owned() -> None:
    table = {b"a": AgentState("a"), b"b": AgentState("b")}
    proc = _processor()
    proc.handle(0, 0, _ev("e1", "00:00", "a"))
    proc.handle(3, 0, _ev("e2", "00:00", "b"))
    written: dict[bytes, bytes] = {}
    proc.flush(0, written.__setitem__)
    proc.flush(3, written.__setitem__)
    got = load_partitions(written.items(), [3])
    assert set(got) == {3} and set(got[3].states) == {"b"}
    assert table  # keys are bytes in the table, str in the engine


def test_idle_tick_advances_event_time_by_wall_clock_and_fires_timers() -> None:
    """sponsor_ended sets a timer at +task_grace_seconds; with no more traffic it fires on a tick."""
    proc = _processor(idle=5.0, partitions=1)
    agent = "agent:code-assistant/inst-9"
    proc.handle(
        0,
        0,
        _ev(
            "s1",
            "00:00",
            agent,
            "task_started",
            task_id="T1",
            sponsor="bob",
            agent_kind="delegated",
        ),
        now=100.0,
    )
    proc.handle(
        0,
        1,
        _ev(
            "s2",
            "00:01",
            agent,
            "credential_issued",
            credential_id="c9",
            task_id="T1",
            expires_at="2026-03-02T09:20:00Z",
        ),
        now=100.0,
    )
    proc.handle(0, 2, _ev("s3", "00:02", agent, "sponsor_ended", sponsor="bob"), now=101.0)
    engine = proc.engine(0)
    assert engine.states[agent].timers
    grace = proc.charters.for_agent(agent).limits.task_grace_seconds
    assert proc.tick(103.0) == []  # not idle long enough
    assert proc.tick(101.0 + grace - 1) == []  # idle, but event time not yet at the timer
    fired = proc.tick(101.0 + grace + 1)
    assert fired, "the timer should fire once wall time has carried event time past it"
    ((partition, out),) = fired
    cmds = [orjson.loads(r.value) for r in out.decisions if r.topic == "mcp.revocations"]
    assert partition == 0 and cmds and cmds[0]["task_id"] == "T1"
    assert agent in engine.dirty  # written with the partition's next event
    assert proc.tick(101.0 + grace + 50) == []  # fired once


def test_idle_tick_is_off_with_zero() -> None:
    proc = _processor(idle=0.0, partitions=1)
    proc.handle(0, 0, _ev("s1", "00:00", "a", "sponsor_ended", sponsor="bob"), now=0.0)
    assert proc.tick(1e9) == []


def test_charter_updates_are_broadcast_and_applied_once_everywhere() -> None:
    charter = {
        "agent": "spiffe://corp/agents/new-*",
        "kind": "autonomous",
        "mode": "enforce",
        "tools": [{"server": "fs", "tool": "read_file", "classes": ["read"]}],
    }
    keys = parse_keyring("policy-1:0123456789abcdef0123")
    assert keys is not None
    raw = _ev("c1", "00:00", "spiffe://corp/agents/new-1", "charter_updated", charter=charter,
              version=1, signature=sign_charter(charter, keys, 1))  # fmt: skip
    here, there = _processor(keys=keys), _processor(keys=keys)
    out = here.handle(1, 7, raw)
    (note,) = out.notes
    assert note.topic == "mcp.charters" and note.key == b"spiffe://corp/agents/new-*"
    assert here.charters.for_agent("spiffe://corp/agents/new-5") is not None
    assert there.charters.for_agent("spiffe://corp/agents/new-5") is None
    assert there.apply_charter_broadcast(note.value)
    assert there.charters.for_agent("spiffe://corp/agents/new-5") is not None
    assert not here.apply_charter_broadcast(note.value)  # its own echo is skipped
    bad = _ev("c2", "00:00", "x", "charter_updated", charter={"agent": "x", "kind": "nope"})
    assert not there.apply_charter_broadcast(bad)
    refused = here.handle(1, 8, bad)
    assert not refused.notes  # not broadcast: it would replace x's record on the compacted topic
    (alert,) = refused.decisions
    assert alert.topic == "mcp.alerts"
    assert orjson.loads(alert.value)["detector"] == "charter_rejected"
    # applied with an alert (a new pattern grants tools: charter_widened) is still broadcast
    assert [orjson.loads(r.value)["detector"] for r in out.decisions] == ["charter_widened"]


def test_undelivered_outputs_are_stored_with_the_state_and_published_again_on_restore() -> None:
    """The outbox: state and its unacknowledged outputs are one table record."""
    table: dict[bytes, bytes] = {}
    proc = _processor()
    agent = "spiffe://corp/agents/patcher-1"
    out = proc.handle(1, 0, _ev("e1", "00:00", agent, server="nope", tool="x", credential_id="c1"))
    assert len(out.decisions) == 2
    proc.flush(1, table.__setitem__)
    _, _, outbox = decode(table[agent.encode()])
    assert [r.value for r in outbox] == [r.value for r in out.decisions]

    # crash now: the restored owner publishes them again (same bytes, so same ids)
    again = Processor(proc.charters).assign(1, load_partitions(table.items(), [1])[1], now=0.0)
    assert [r.value for r in again] == [r.value for r in out.decisions]

    # delivered: gone from the stored value with the partition's next write
    for rec in out.decisions:
        proc.delivered(1, rec)
    assert agent in proc.engine(1).dirty
    proc.handle(1, 1, _ev("e2", "00:01", "spiffe://corp/agents/patcher-2"))
    proc.flush(1, table.__setitem__)
    assert decode(table[agent.encode()])[2] == []
    republished = Processor(proc.charters).assign(1, load_partitions(table.items(), [1])[1], 0.0)
    assert [r for r in republished if r.key == agent.encode()] == []


def test_an_event_far_ahead_of_event_time_is_a_dead_letter_with_its_reason() -> None:
    """The engine refuses it (issue 13); the processor dead-letters it, counts it, goes on."""
    proc = _processor()
    agent = "spiffe://corp/agents/patcher-7"
    proc.handle(0, 0, _ev("ok-1", "06:00", agent, server="fleet", tool="list_hosts"))
    future = orjson.loads(_ev("fut-1", "06:00", agent))
    future["ts"] = "2199-01-01T00:00:00Z"
    out = proc.handle(0, 1, orjson.dumps(future), agent.encode(), topic="mcp.events")
    [rec] = out.notes
    doc = orjson.loads(rec.value)
    assert rec.topic == OutputTopics().deadletter and not out.decisions
    assert doc["field"] == "ts" and "ahead of the judging clock" in doc["reason"]
    assert (doc["partition"], doc["offset"]) == (0, 1)
    assert proc.counters["deadletter"] == 1
    assert proc.engine(0).counters()["future_events"] == 1
    # event time did not move: the next call is on time, judged by its charter
    out = proc.handle(0, 2, _ev("after", "07:00", agent, server="shell", tool="exec"))
    alerts = [orjson.loads(r.value) for r in out.decisions if r.topic == OutputTopics().alerts]
    assert [a["detector"] for a in alerts] == ["out_of_charter_tool"]
    assert alerts[0]["agent_id"] == agent


def test_dirty_agents_are_taken_once_and_written_only_while_the_partition_is_owned() -> None:
    proc = Processor(CharterSet(load_charter_dir(EXAMPLE_CHARTERS)))
    proc.assign(0, {}, now=0.0)
    for i, agent in enumerate(("spiffe://corp/agents/a", "spiffe://corp/agents/b")):
        proc.handle(0, i, _ev(f"e{i}", f"00:0{i}", agent))
    taken = proc.take_dirty(0)
    assert sorted(taken) == ["spiffe://corp/agents/a", "spiffe://corp/agents/b"]
    assert proc.take_dirty(0) == []  # taken: the next flush writes only what changes after
    written: dict[bytes, bytes] = {}
    assert proc.write_agents(0, taken[:1], written.__setitem__) > 0
    assert list(written) == [taken[0].encode()] and proc.counters["state_writes"] == 1
    proc.revoke(0)  # a rebalance took the partition between two chunks
    assert proc.write_agents(0, taken[1:], written.__setitem__) == 0
    assert proc.take_dirty(0) == [] and len(written) == 1
