"""The Kafka sender's own rules, against a stand-in for aiokafka's producer: records go in order
to the topic keyed by agent; a record refused for itself is logged in full and counted, never
retried; a passing failure is retried from the failed record with doubling backoff, on a new
producer; stop waits for what is buffered; a sender that fails says so at once.

The same rules on the real broker: tests/integration/test_proxy_sink.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError, RecordTooLargeError
from structlog.testing import capture_logs

from monitor.events import ToolCall, encode_event
from monitor.proxy.emit import KafkaEmitter
from monitor.proxy.metrics import ProxyMetrics
from tests.proxy.support import tool_call
from tests.waiting import until

TOPIC = "mcp.events.t"


def _call(i: int, agent: str = "agent-1") -> ToolCall:
    return tool_call(i, agent_id=agent, server="fs")


def _sample(m: ProxyMetrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, labels or None) or 0.0


@dataclass
class _Broker:
    """What every producer the sender opens talks to. ``plan``: event_id → the outcome of
    each attempt to send it, in turn: ``("send", err)`` the producer raises, ``("ack", err)``
    its future fails; attempts past the plan are acknowledged."""

    plan: dict[str, list[tuple[str, Exception]]] = field(default_factory=dict)
    stop_error: Exception | None = None
    connect_delay: float = 0.0
    producers: list[_Producer] = field(default_factory=list)

    async def connect(self) -> _Producer:
        await asyncio.sleep(self.connect_delay)
        self.producers.append(_Producer(self))
        return self.producers[-1]

    def sent(self) -> list[list[str]]:
        """Per producer, the event ids it sent (acknowledged or not)."""
        return [[r[2] for r in p.records] for p in self.producers]


@dataclass
class _Producer:
    broker: _Broker
    records: list[tuple[str, bytes, str]] = field(default_factory=list)
    stopped: int = 0

    async def send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[None]:
        event_id = orjson.loads(value)["event_id"]
        turns = self.broker.plan.get(event_id) or []
        when, err = turns.pop(0) if turns else ("", None)
        if when == "send" and err is not None:
            raise err
        self.records.append((topic, key, event_id))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if when == "ack" and err is not None:
            fut.set_exception(err)
        else:
            fut.set_result(None)
        return fut

    async def stop(self) -> None:
        self.stopped += 1
        if self.broker.stop_error is not None:
            raise self.broker.stop_error


def _sink(broker: _Broker, metrics: ProxyMetrics, **kw: Any) -> KafkaEmitter:
    kw.setdefault("backoff", (0.01, 30.0))  # a retry at the cap would outlast every wait here
    sink = KafkaEmitter("127.0.0.1:1", TOPIC, metrics, **kw)
    sink._connect = broker.connect  # type: ignore[method-assign,assignment]
    return sink


def _deliver(
    plan: dict[str, list[tuple[str, Exception]]], n: int
) -> tuple[int, Exception | None, bool, _Producer, ProxyMetrics, list[Any]]:
    metrics = ProxyMetrics()
    broker = _Broker(plan)
    sink = _sink(broker, metrics)
    producer = _Producer(broker)
    batch = [(f"agent-{i}".encode(), encode_event(_call(i, f"agent-{i}"))) for i in range(n)]
    with capture_logs() as logs:
        done, failure, refused = asyncio.run(sink._deliver(producer, batch))  # type: ignore[arg-type]
    return done, failure, refused, producer, metrics, logs


def test_records_go_to_the_topic_keyed_by_agent_in_order() -> None:
    done, failure, refused, producer, metrics, _ = _deliver({}, 3)
    assert (done, failure, refused) == (3, None, False)
    assert producer.records == [(TOPIC, f"agent-{i}".encode(), f"e{i}") for i in range(3)]
    assert _sample(metrics, "mcpmon_proxy_events_emitted_total") == 3


def test_a_record_refused_by_size_is_lost_logged_in_full_and_the_rest_delivered() -> None:
    plan = {
        "e1": [("send", MessageSizeTooLargeError("the producer's own check"))],
        "e3": [("ack", RecordTooLargeError("the broker's answer"))],
    }
    done, failure, refused, producer, metrics, logs = _deliver(plan, 5)
    assert (done, failure, refused) == (5, None, True)  # the broker refused e3
    assert [r[2] for r in producer.records] == ["e0", "e2", "e3", "e4"]
    lost = [e for e in logs if e["event"] == "event_not_emitted"]
    assert [(e["reason"], e["tool_call"]["event_id"]) for e in lost] == [
        ("rejected", "e1"),
        ("rejected", "e3"),
    ]
    assert lost[0]["tool_call"] == orjson.loads(encode_event(_call(1, "agent-1")))
    assert lost[0]["error"].startswith("MessageSizeTooLargeError: ")
    assert lost[1]["error"].startswith("RecordTooLargeError: ")
    assert _sample(metrics, "mcpmon_proxy_events_lost_total", reason="rejected") == 2
    assert _sample(metrics, "mcpmon_proxy_events_emitted_total") == 3


@pytest.mark.parametrize("when", ["send", "ack"])
def test_a_passing_failure_stops_the_batch_there_to_be_retried(when: str) -> None:
    err = KafkaConnectionError("broker gone")
    plan = {"e0": [("send", MessageSizeTooLargeError("too big"))], "e2": [(when, err)]}
    done, failure, refused, producer, metrics, logs = _deliver(plan, 4)
    # e0 is done with (rejected), e1 delivered; from e2 on everything is sent again
    assert done == 2
    assert failure is err
    assert not refused  # e0 was the producer's own refusal: nothing reached the broker
    assert [r[2] for r in producer.records] == (["e1"] if when == "send" else ["e1", "e2", "e3"])
    assert [e["tool_call"]["event_id"] for e in logs if e["event"] == "event_not_emitted"] == ["e0"]
    assert _sample(metrics, "mcpmon_proxy_events_emitted_total") == 1


def test_retries_start_again_from_the_failed_record_on_a_new_producer_with_doubling_backoff() -> (
    None
):
    gone = KafkaConnectionError("broker gone")
    broker = _Broker({"e1": [("ack", gone), ("ack", gone)], "e3": [("ack", gone)]})
    metrics = ProxyMetrics()
    sink = _sink(broker, metrics)

    async def go() -> None:
        await sink.start()
        for i in range(3):
            sink.emit(_call(i))
        await until(lambda: _sample(metrics, "mcpmon_proxy_events_emitted_total") >= 3, 10, "3")
        sink.emit(_call(3))  # after a success the backoff starts again from its floor
        await until(lambda: _sample(metrics, "mcpmon_proxy_events_emitted_total") >= 4, 10, "4")
        await sink.close(timeout=1)

    with capture_logs() as logs:
        asyncio.run(asyncio.wait_for(go(), 30))
    # each failure: a new producer, which starts from the failed record (e2 arrives again)
    assert broker.sent() == [["e0", "e1", "e2"], ["e1", "e2"], ["e1", "e2", "e3"], ["e3"]]
    assert [p.stopped for p in broker.producers] == [1, 1, 1, 1]  # the last one at close
    failed = [e for e in logs if e["event"] == "emit_failed"]
    assert [(e["retry_in"], e["buffered"]) for e in failed] == [(0.01, 2), (0.02, 2), (0.01, 1)]
    assert failed[0]["error"] == "KafkaConnectionError: KafkaConnectionError: broker gone"
    assert _sample(metrics, "mcpmon_proxy_emit_failures_total", reason="send") == 3
    assert _sample(metrics, "mcpmon_proxy_emit_buffer_events") == 0
    assert not [e for e in logs if e["event"] == "event_not_emitted"]


def test_after_a_record_the_broker_refused_the_producer_is_replaced() -> None:
    broker = _Broker({"e1": [("ack", MessageSizeTooLargeError("topic limit"))]})
    metrics = ProxyMetrics()
    sink = _sink(broker, metrics)

    async def go() -> None:
        await sink.start()
        for i in range(2):
            sink.emit(_call(i))
        await until(lambda: len(broker.producers) == 2, 10, "a second producer")
        sink.emit(_call(2))
        await until(lambda: _sample(metrics, "mcpmon_proxy_events_emitted_total") >= 2, 10, "2")
        await sink.close(timeout=1)

    with capture_logs() as logs:
        asyncio.run(asyncio.wait_for(go(), 30))
    assert broker.sent() == [["e0", "e1"], ["e2"]]  # a new sequence: not out of order with e1's
    assert [e["tool_call"]["event_id"] for e in logs if e["event"] == "event_not_emitted"] == ["e1"]
    assert not [e for e in logs if e["event"] == "emit_failed"]


def test_a_producer_that_fails_to_stop_does_not_stop_the_sender_or_the_close() -> None:
    gone = KafkaConnectionError("broker gone")
    broker = _Broker({"e0": [("ack", gone)]}, stop_error=RuntimeError("stop failed"))
    metrics = ProxyMetrics()
    sink = _sink(broker, metrics)

    async def go() -> None:
        await sink.start()
        sink.emit(_call(0))
        await until(lambda: _sample(metrics, "mcpmon_proxy_events_emitted_total") >= 1, 10, "1")
        await sink.close(timeout=1)

    asyncio.run(asyncio.wait_for(go(), 30))
    assert broker.sent() == [["e0"], ["e0"]]
    assert [p.stopped for p in broker.producers] == [1, 1]


def test_stop_waits_for_what_is_buffered() -> None:
    broker = _Broker(connect_delay=0.3)  # the broker answers only after the stop began
    metrics = ProxyMetrics()
    sink = _sink(broker, metrics)

    async def go() -> bool:
        await sink.start()
        for i in range(3):
            sink.emit(_call(i))
        await sink.close(timeout=10)
        return sink._task is not None and sink._task.done()

    with capture_logs() as logs:
        sender_ended = asyncio.run(asyncio.wait_for(go(), 30))
    assert broker.sent() == [["e0", "e1", "e2"]]
    assert not [e for e in logs if e["event"] == "event_not_emitted"]
    assert sender_ended


def test_a_sink_never_started_closes_quietly() -> None:
    metrics = ProxyMetrics()
    with capture_logs() as logs:
        asyncio.run(KafkaEmitter("127.0.0.1:1", TOPIC, metrics).close(timeout=0))
    assert logs == []


def test_a_sender_that_fails_says_so_at_once_and_stop_still_logs_every_event() -> None:
    broker = _Broker({"e0": [("send", RuntimeError("a bug in the sender"))]})
    metrics = ProxyMetrics()
    sink = _sink(broker, metrics)

    async def go() -> None:
        await sink.start()
        sink.emit(_call(0))
        await until(
            lambda: _sample(metrics, "mcpmon_proxy_emit_failures_total", reason="sender") >= 1,
            10,
            "the sender's failure",
        )
        sink.emit(_call(1))
        await sink.close(timeout=0.2)

    with capture_logs() as logs:
        asyncio.run(asyncio.wait_for(go(), 30))
    (failed,) = [e for e in logs if e["event"] == "emit_sender_failed"]
    assert failed["error"] == "RuntimeError: a bug in the sender"
    assert failed["log_level"] == "error" and failed["buffered"] == 1
    lost = [e for e in logs if e["event"] == "event_not_emitted"]
    assert [(e["reason"], e["tool_call"]["event_id"]) for e in lost] == [
        ("shutdown", "e0"),
        ("shutdown", "e1"),
    ]
