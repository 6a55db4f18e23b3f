"""The proxy's Kafka sink on the real broker: started while Kafka is unreachable, it buffers,
retries, and delivers everything in order once the broker answers; nothing is lost."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import orjson
import pytest
from structlog.testing import capture_logs

from monitor.events import ToolCall
from monitor.kafka_io import TopicSpec, ensure_topics, read_topics
from monitor.proxy.emit import KafkaEmitter
from monitor.proxy.metrics import ProxyMetrics
from tests.integration.workers import Run
from tests.proxy.support import tool_call
from tests.revoker.servers import free_port
from tests.waiting import until

pytestmark = pytest.mark.kafka


async def _forward(port: int, target: tuple[str, int]) -> asyncio.Server:
    """A TCP forwarder to the broker: the bootstrap address starts answering when it starts."""

    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        w.close()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection(*target)
        await asyncio.gather(pipe(r, uw), pipe(ur, w))

    return await asyncio.start_server(handle, "127.0.0.1", port)


def _emitted(metrics: ProxyMetrics) -> float:
    return metrics.registry.get_sample_value("mcpmon_proxy_events_emitted_total") or 0.0


def _failures(metrics: ProxyMetrics) -> float:
    return (
        metrics.registry.get_sample_value("mcpmon_proxy_emit_failures_total", {"reason": "connect"})
        or 0.0
    )


def test_events_wait_for_an_unreachable_broker_and_arrive_in_order(run: Run) -> None:
    host, _, bport = run.bootstrap.partition(":")
    port = free_port()
    metrics = ProxyMetrics()
    sink = KafkaEmitter(
        f"127.0.0.1:{port}", run.topics["events"], metrics, backoff=(0.1, 0.5), partitions=4
    )
    events = [
        ToolCall(
            event_id=f"e{i}",
            ts=datetime(2026, 3, 1, 12, 0, i, tzinfo=UTC),
            agent_id=f"agent-{i % 3}",
            server="fleet",
            tool="list_hosts",
            outcome="ok",
        )
        for i in range(30)
    ]

    async def go() -> None:
        await sink.start()
        for e in events[:20]:
            sink.emit(e)
        # nothing answers: the sink retries (more than once), the calls go on
        await until(lambda: _failures(metrics) >= 2, 30, "the sink to retry an unreachable broker")
        assert _emitted(metrics) == 0
        forwarder = await _forward(port, (host, int(bport)))
        try:
            for e in events[20:]:
                sink.emit(e)
            await until(lambda: _emitted(metrics) >= 30, 60, "all 30 events emitted", every=0.1)
            await sink.close()
        finally:
            forwarder.close()

    with capture_logs() as logs:
        asyncio.run(asyncio.wait_for(go(), 120))
    recs = asyncio.run(
        read_topics(run.bootstrap, [run.topics["events"]], until=lambda r: len(r) >= 30, timeout=60)
    )
    got = [orjson.loads(r.value) for r in recs]
    assert sorted(e["event_id"] for e in got) == sorted(e.event_id for e in events)
    for agent in ("agent-0", "agent-1", "agent-2"):  # keyed by agent: per agent in order
        mine = [r for r in recs if r.key == agent.encode()]
        assert [orjson.loads(r.value)["event_id"] for r in mine] == [
            e.event_id for e in events if e.agent_id == agent
        ]
    assert _failures(metrics) >= 2
    assert not [e for e in logs if e["event"] == "event_not_emitted"]


def _call(i: int, content: str) -> ToolCall:
    return tool_call(i, server="fs", tool="write_file", args={"content": content})


def test_an_oversized_call_is_cut_a_refused_record_is_logged_and_neither_holds_up_the_rest(
    run: Run,
) -> None:
    """One call of 3 MB (over the producer's limit) is sent cut; one of 60 KB, which this
    topic's ``max.message.bytes`` refuses, is logged in full and counted; the calls after
    each arrive, in order. Before, the first was retried for ever and held up every event."""
    topic = run.topics["events"]
    asyncio.run(ensure_topics(run.bootstrap, [TopicSpec(topic, 1, max_message_bytes=20_000)]))
    metrics = ProxyMetrics()
    sink = KafkaEmitter(run.bootstrap, topic, metrics, partitions=1)
    calls = [
        _call(0, "small"),
        _call(1, "HEAD" + "x" * 3_000_000 + "TAIL"),
        _call(2, "small"),
        _call(3, "y" * 60_000),
        _call(4, "small"),
    ]

    async def go() -> None:
        await sink.start()
        for c in calls:
            sink.emit(c)
        await until(lambda: _emitted(metrics) >= 4, 60, "4 events emitted", every=0.1)
        await sink.close()

    with capture_logs() as logs:
        asyncio.run(asyncio.wait_for(go(), 120))
    recs = asyncio.run(read_topics(run.bootstrap, [topic], until=lambda r: len(r) >= 4, settle=1))
    got = [orjson.loads(r.value) for r in recs]
    assert [e["event_id"] for e in got] == ["e0", "e1", "e2", "e4"]
    cut = got[1]["args"]["content"]
    assert cut.startswith("HEAD") and cut.endswith("TAIL") and "characters cut" in cut
    lost = [e for e in logs if e["event"] == "event_not_emitted"]
    assert [(e["reason"], e["tool_call"]["event_id"]) for e in lost] == [("rejected", "e3")]
    assert lost[0]["tool_call"]["args"]["content"] == "y" * 60_000  # in full: recoverable
    assert "MessageSizeTooLarge" in lost[0]["error"] or "RecordTooLarge" in lost[0]["error"]
    sample = metrics.registry.get_sample_value
    assert sample("mcpmon_proxy_events_lost_total", {"reason": "rejected"}) == 1
    assert sample("mcpmon_proxy_events_cut_total") == 1
