"""A stored agent record that cannot be read back: skipped, dead-lettered, counted.

One corrupt record in the state table used to make the whole assignment of its
partition fail (``load_partitions`` let the ``ValueError`` through ``_assign``).
"""

from __future__ import annotations

import asyncio

import orjson
from prometheus_client import CollectorRegistry

from monitor.charter import load_charter_dir
from monitor.core.policy import CharterSet
from monitor.core.state import AgentState
from monitor.metrics import WorkerMetrics
from monitor.settings import load_settings
from monitor.worker.app import WorkerApp
from monitor.worker.processor import Processor
from monitor.worker.store import Corrupt, Record, encode, load_partitions
from tests.worker.support import EXAMPLE_CHARTERS, EXAMPLE_EVENTS
from tests.worker.test_app import Kafka

SECRET = "sk-live-0123456789abcdef0123456789abcdef"


def _good(agent: str, partition: int, n_calls: int = 7) -> bytes:
    st = AgentState(agent)
    st.n_calls = n_calls
    return encode(partition, st.snapshot())


def _bad_section(agent: str, partition: int, outbox: list[Record] | None = None) -> bytes:
    """A snapshot whose ``fan_out`` section a detector cannot take back."""
    snap = orjson.loads(AgentState(agent).snapshot())
    snap[5] = {"fan_out": {SECRET: [1]}}  # the sections slot of snapshot version 6
    return encode(partition, orjson.dumps(snap), outbox or [])


def _table() -> dict[bytes, bytes]:
    alert = Record("mcp.alerts", b"b", b'{"alert_id": "x"}')
    return {
        b"a": _good("a", 1),
        b"b": _bad_section("b", 1, [alert]),  # a corrupt snapshot, its outbox intact
        b"c": b"\x01\x00",  # not even a header
        b"d": encode(1, b"[6, not json"),
        b"\xff\xfe": _good("e", 1),  # a key that is not UTF-8
        b"f": encode(1, AgentState("f").snapshot())[:7] + b"\x00" * 4,  # wrong length
        b"g": _good("g", 1)[:-1] + b"]{}",  # an outbox that is not a list of entries
        b"h": encode(1, AgentState("h").snapshot(), [Record("elsewhere", b"h", b"{}")]),
        b"z": _bad_section("z", 2),  # another partition's: not looked at
    }


def test_load_skips_corrupt_records_reports_each_and_keeps_the_rest() -> None:
    bad: list[Corrupt] = []
    got = load_partitions(_table().items(), [1], bad.append, ("mcp.alerts", "mcp.revocations"))
    assert set(got) == {1}
    assert set(got[1].states) == {"a"} and got[1].states["a"].n_calls == 7
    # the corrupt snapshot's outbox is still there to publish again: never lost
    assert [r.key for r in got[1].outbox["b"]] == [b"b"]
    by_agent = {c.agent_id: c for c in bad}
    assert set(by_agent) == {"b", "c", "d", "\ufffd\ufffd", "f", "g", "h"}
    assert by_agent["b"].field == "snapshot.sections.fan_out"
    assert "section 'fan_out'" in by_agent["b"].reason
    assert by_agent["c"].partition is None and by_agent["c"].field == "envelope"
    assert by_agent["d"].field == "snapshot" and by_agent["d"].partition == 1
    assert by_agent["\ufffd\ufffd"].field == "key"
    assert by_agent["g"].field == "outbox"
    assert by_agent["h"].field == "outbox" and "topic" in by_agent["h"].reason
    assert all(c.raw == _table()[c.agent_id.encode()] for c in bad if c.field != "key")


def _app(reg: CollectorRegistry) -> tuple[WorkerApp, Kafka]:
    metrics = WorkerMetrics(reg)
    proc = Processor(CharterSet(load_charter_dir(EXAMPLE_CHARTERS)), metrics=metrics)
    proc.assign(0, {}, now=0.0)
    kafka = Kafka({0, 1})
    app = WorkerApp(
        load_settings({}, env={}), proc, clock=lambda: 0.0, metrics=metrics, ports=kafka.ports()
    )
    app.checkpoint.reassigned({0, 1})
    for k, v in _table().items():
        app.table.data[k] = v  # what Faust restored from the changelog
    return app, kafka


class _Ev:
    def __init__(self, partition: int, offset: int, value: bytes) -> None:
        from types import SimpleNamespace

        self.message = SimpleNamespace(
            partition=partition, offset=offset, key=None, topic="mcp.events", acked=False
        )
        self.value = value


def test_a_corrupt_stored_agent_does_not_stop_its_partition_being_assigned() -> None:
    reg = CollectorRegistry()
    app, kafka = _app(reg)
    line = next(ln for ln in EXAMPLE_EVENTS.read_bytes().splitlines() if ln.strip())

    async def go() -> None:
        await app.take(_Ev(1, 0, line))  # partition 1 assigned, not yet owned: loaded now
        assert app.processor.owns(1)
        # a later assignment of the same partition: the records are still in the table
        app.processor.revoke(1)
        await app.take(_Ev(1, 1, line))

    asyncio.run(go())
    proc = app.processor
    assert proc.engine(1).states["a"].n_calls == 7  # the good agent is restored
    assert proc.counters["events"] == 2
    dead = [
        (k, v) for (t, k), v in zip(kafka.sent, kafka.values, strict=True) if t == "mcp.deadletter"
    ]
    # one dead letter per corrupt record, once per process, keyed by the agent
    assert sorted(k for k, _ in dead) == sorted(
        [b"b", b"c", b"d", b"\xef\xbf\xbd" * 2, b"f", b"g", b"h"]
    )
    assert proc.counters["corrupt_state"] == 7
    got = reg.get_sample_value("mcpmon_worker_deadletters_total", {"reason": "corrupt_state"})
    assert got == 7
    rec = orjson.loads(next(v for k, v in dead if k == b"b"))
    assert rec["reason"].startswith("corrupt agent state of agent 'b': ")
    assert "section 'fan_out'" in rec["reason"] and rec["field"] == "snapshot.sections.fan_out"
    assert rec["topic"] == "mcpmon-agent_state-changelog" and rec["partition"] == 1
    assert SECRET not in rec["reason"]
    # the corrupt snapshot's undelivered alert is published again
    assert ("mcp.alerts", b"b") in kafka.sent
