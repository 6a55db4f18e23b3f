"""Prometheus metrics: counters driven by the processor and the revoker, and a real scrape."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from monitor.charter import load_charter_dir
from monitor.core.policy import CharterSet
from monitor.deadletter import reason_class
from monitor.metrics import (
    CollectorRegistry,
    RevokerMetrics,
    SinkMetrics,
    WorkerMetrics,
    serve,
)
from monitor.retry import RetryPolicy
from monitor.revoker.ledger import MemoryLedger
from monitor.revoker.revoker import Revoker
from monitor.revoker.service import RevokerService
from monitor.settings import RevokerSettings, Settings, SinkSettings
from monitor.worker.processor import Processor
from tests.revoker.support import T0, Scripted, Sleeps, command, final, transient
from tests.worker.support import EXAMPLE_CHARTERS, EXAMPLE_EVENTS


def _value(reg: CollectorRegistry, name: str, **labels: str) -> float:
    v = reg.get_sample_value(name, labels)
    return 0.0 if v is None else v


def _worker(idle: float = 0.0) -> tuple[Processor, CollectorRegistry]:
    reg = CollectorRegistry()
    proc = Processor(
        CharterSet(load_charter_dir(EXAMPLE_CHARTERS)),
        idle_seconds=idle,
        metrics=WorkerMetrics(reg),
    )
    proc.assign(0, {}, now=0.0)
    return proc, reg


# ---------------------------------------------------------------- worker
def test_worker_counts_events_alerts_revocations_and_dead_letters() -> None:
    proc, reg = _worker()
    lines = [ln for ln in EXAMPLE_EVENTS.read_bytes().splitlines() if ln.strip()]
    alerts: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    types: Counter[str] = Counter()
    for offset, line in enumerate(lines):
        before = proc.counters["events"]
        out = proc.handle(0, offset, line, now=1000.0)  # fixed clock
        for r in out.decisions:
            doc = orjson.loads(r.value)
            if r.topic == proc.topics.alerts:
                alerts[doc["detector"]] += 1
            else:
                modes[doc["mode"]] += 1
        if proc.counters["events"] > before:  # applied: not a duplicate, not a dead letter
            types[orjson.loads(line)["type"]] += 1
    proc.handle(0, len(lines), lines[0], now=1000.0)  # a redelivery
    proc.handle(0, len(lines) + 1, b"not json", now=1000.0)
    proc.handle(0, len(lines) + 2, b"[1]", now=1000.0)
    proc.handle(0, len(lines) + 3, b'{"type":"nope","event_id":"x"}', now=1000.0)

    assert alerts and modes
    for detector, n in alerts.items():
        assert _value(reg, "mcpmon_worker_alerts_total", detector=detector) == n
    for mode, n in modes.items():
        assert _value(reg, "mcpmon_worker_revocations_total", mode=mode) == n
    for typ, n in types.items():
        assert _value(reg, "mcpmon_worker_events_total", type=typ) == n
    assert sum(types.values()) == proc.counters["events"]
    # the example holds a duplicate, a broken line and a misspelt type of its own
    assert _value(reg, "mcpmon_worker_duplicate_events_total") == proc.counters["duplicates"] == 2
    dead = "mcpmon_worker_deadletters_total"
    assert _value(reg, dead, reason="not_json") == 2
    assert _value(reg, dead, reason="not_object") == 1
    assert _value(reg, dead, reason="unknown_type") == 2
    assert proc.counters["deadletter"] == 5


def test_processor_without_metrics_still_counts() -> None:
    proc = Processor(CharterSet(load_charter_dir(EXAMPLE_CHARTERS)))
    proc.assign(0, {}, now=0.0)
    proc.handle(0, 0, b"nope", now=0.0)
    assert proc.counters["deadletter"] == 1


@pytest.mark.parametrize(
    ("reason", "cls"),
    [
        ("message of 9 bytes exceeds the limit of 1", "too_large"),
        ("not JSON: EOF", "not_json"),
        ("not a JSON object", "not_object"),
        ("Input should be an object", "not_object"),
        ("unknown event type 'x'", "unknown_type"),
        ("engine error: KeyError: 1", "engine_error"),
        ("invalid revocation command: Field required", "invalid"),
        ("ts: Input should be a valid datetime", "invalid_event"),
        (
            "ts: 2199-01-01T00:00:00+00:00 is more than max_future_seconds=300 ahead of the judging clock",
            "future_event",
        ),
        ("duplicate JSON key 'agent_id': which value wins is parser-dependent", "duplicate_key"),
    ],
)
def test_dead_letter_reasons_fall_in_a_few_classes(reason: str, cls: str) -> None:
    assert reason_class(reason) == cls


# ---------------------------------------------------------------- revoker
POLICY = RetryPolicy(attempts=3, base_seconds=0.5, factor=2.0, max_seconds=30)


def _revoker(*acts: Scripted) -> tuple[Revoker, CollectorRegistry]:
    reg = CollectorRegistry()
    r = Revoker(
        list(acts),
        MemoryLedger(),
        POLICY,
        sleep=Sleeps(),
        clock=lambda: T0,
        metrics=RevokerMetrics(reg),
    )
    return r, reg


def test_revoker_counts_commands_acks_retries_and_failures() -> None:
    ok = Scripted("denylist")
    flaky = Scripted("oauth", [transient(), transient()])  # applied on the third attempt
    broken = Scripted("webhook", [final(), final()])
    r, reg = _revoker(ok, flaky, broken)

    asyncio.run(r.handle(command()))
    asyncio.run(r.handle(command()))  # redelivered
    asyncio.run(r.handle(command(command_id="cmd-2", mode="observe")))

    acks = "mcpmon_revoker_acks_total"
    assert _value(reg, acks, actuator="denylist", status="applied") == 2  # enforce + observe
    assert _value(reg, acks, actuator="denylist", status="already_applied") == 1
    assert _value(reg, acks, actuator="oauth", status="applied") == 2
    assert _value(reg, acks, actuator="oauth", status="already_applied") == 1
    assert _value(reg, acks, actuator="webhook", status="failed") == 2  # never recorded
    assert _value(reg, acks, actuator="webhook", status="applied") == 1  # observe
    assert _value(reg, "mcpmon_revoker_retries_total", actuator="oauth") == 2
    assert _value(reg, "mcpmon_revoker_retries_total", actuator="webhook") == 0
    assert _value(reg, "mcpmon_revoker_failures_total", actuator="webhook") == 2
    assert _value(reg, "mcpmon_revoker_alerts_total") == 2
    assert _value(reg, "mcpmon_revoker_commands_total", mode="enforce") == 2
    assert _value(reg, "mcpmon_revoker_commands_total", mode="observe") == 1


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> Any:
        self.sent.append((topic, key, value))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def _record(value: bytes, offset: int = 0) -> ConsumerRecord:
    return ConsumerRecord("mcp.revocations", 0, offset, 0, 0, None, value, None, 0, len(value), [])


def test_revoker_service_times_commands_and_counts_dead_letters() -> None:
    r, reg = _revoker(Scripted("denylist"))
    ticks = iter([10.0, 10.25])  # the shell's wall clock, fixed
    service = RevokerService(Settings(), r, perf=lambda: next(ticks))
    producer = _Producer()

    async def go() -> None:
        assert await service._process(producer, _record(command().to_json()))  # type: ignore[arg-type]
        assert await service._process(producer, _record(b"{}", 1))  # type: ignore[arg-type]

    asyncio.run(go())
    assert _value(reg, "mcpmon_revoker_handle_seconds_count") == 1
    assert _value(reg, "mcpmon_revoker_handle_seconds_sum") == pytest.approx(0.25)
    assert _value(reg, "mcpmon_revoker_deadletters_total", reason="invalid") == 1
    assert [t for t, _, _ in producer.sent] == ["mcp.revocation-acks", "mcp.deadletter"]


def test_revoker_service_builds_metrics_only_when_a_port_is_set() -> None:
    plain = Revoker([Scripted("denylist")], MemoryLedger(), POLICY)
    assert RevokerService(Settings(), plain).metrics is None
    assert plain.metrics is None
    service = RevokerService(Settings(revoker=RevokerSettings(metrics_port=9465)), plain)
    assert service.metrics is not None and plain.metrics is service.metrics


# ---------------------------------------------------------------- exposition
def test_exposition_server_serves_the_registry_over_http() -> None:
    proc, reg = _worker()
    proc.handle(0, 0, b"not json", now=0.0)
    m = proc.metrics
    assert m is not None
    m.latency.observe(0.0003)
    m.lag.labels("0").set(7)
    sink = SinkMetrics(CollectorRegistry())  # separate registries never clash
    sink.delivered.labels("ocsf-file").inc()
    server = serve(reg, 0, "127.0.0.1")
    try:
        resp = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    finally:
        server.close()
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert 'mcpmon_worker_deadletters_total{reason="not_json"} 1.0' in text
    assert 'mcpmon_worker_consumer_lag{partition="0"} 7.0' in text
    assert 'mcpmon_worker_processing_seconds_bucket{le="0.0005"} 1.0' in text
    assert "mcpmon_worker_processing_seconds_count 1.0" in text
    assert "# TYPE mcpmon_worker_events_total counter" in text
    assert "mcpmon_sink" not in text


def test_worker_app_times_handle_with_its_wall_clock_and_reports_lag() -> None:
    from types import SimpleNamespace

    from monitor.worker.app import WorkerApp

    proc, reg = _worker()
    ticks = iter([5.0, 5.002])
    app = WorkerApp(Settings(), proc, metrics=proc.metrics, perf=lambda: next(ticks))

    async def no_commits() -> dict[int, int]:
        return {}

    app.ports.committed = no_commits  # the group's commit: none yet (no broker asked)
    line = EXAMPLE_EVENTS.read_bytes().splitlines()[0]
    msg = SimpleNamespace(partition=0, offset=41, key=None, topic="mcp.events")
    asyncio.run(app.on_message(msg, line))
    assert _value(reg, "mcpmon_worker_processing_seconds_count") == 1
    assert _value(reg, "mcpmon_worker_processing_seconds_sum") == pytest.approx(0.002)
    assert _value(reg, "mcpmon_worker_events_total", type=orjson.loads(line)["type"]) == 1

    tp = SimpleNamespace(topic="mcp.events", partition=0)
    app.app = SimpleNamespace(  # type: ignore[assignment]
        consumer=SimpleNamespace(highwater=lambda _tp: 50),
        assignor=SimpleNamespace(assigned_actives=lambda: [tp]),
    )
    asyncio.run(app._lag())
    assert _value(reg, "mcpmon_worker_consumer_lag", partition="0") == 50 - 42


# ---------------------------------------------------------------- sink
class _Flaky:
    name = "ocsf-file"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[str] = []

    async def send(self, alert: Any) -> None:
        from monitor.sinks.transports import DeliveryError

        if self.failures:
            self.failures -= 1
            raise DeliveryError("receiver down")
        self.sent.append(alert.alert_id)

    async def aclose(self) -> None:
        pass


def test_sink_service_counts_deliveries_retries_and_dead_letters() -> None:
    from monitor.sinks.service import SinkService
    from tests.sinks.support import alert

    reg = CollectorRegistry()
    transport = _Flaky(failures=2)
    ticks = iter([3.0, 3.5])
    settings = Settings(sink=SinkSettings(retry_base_seconds=0, retry_max_seconds=0))
    service = SinkService(
        settings,
        transport,  # type: ignore[arg-type]
        metrics=SinkMetrics(reg),
        perf=lambda: next(ticks),
    )
    producer = _Producer()

    async def go() -> None:
        assert await service._process(producer, _record(alert(alert_id="s1").to_json()))  # type: ignore[arg-type]
        assert await service._process(producer, _record(b"[]", 1))  # type: ignore[arg-type]

    asyncio.run(go())
    assert transport.sent == ["s1"]
    assert _value(reg, "mcpmon_sink_delivered_total", sink="ocsf-file") == 1
    assert _value(reg, "mcpmon_sink_retries_total", sink="ocsf-file") == 2
    assert _value(reg, "mcpmon_sink_deadletters_total", reason="invalid") == 1
    assert _value(reg, "mcpmon_sink_delivery_seconds_sum") == pytest.approx(0.5)
    assert SinkService(Settings(), transport).metrics is None  # type: ignore[arg-type]
    assert (
        SinkService(Settings(sink=SinkSettings(metrics_port=9466)), transport).metrics is not None
    )  # type: ignore[arg-type]


def test_lag_tracker_counts_what_is_fetched_but_not_yet_handled() -> None:
    from aiokafka.structs import TopicPartition

    from monitor.metrics import LagTracker

    reg = CollectorRegistry()
    lag = LagTracker(RevokerMetrics(reg).lag)
    tp0_, tp1_ = TopicPartition("t", 0), TopicPartition("t", 1)
    highwater = {tp0_: 10, tp1_: 3}
    assigned = [tp0_, tp1_]

    class _Consumer:
        def assignment(self) -> list[Any]:
            return assigned

        def highwater(self, tp: Any) -> int:
            return highwater[tp]

    c = _Consumer()
    lag.update(c)
    assert reg.get_sample_value("mcpmon_revoker_consumer_lag", {"partition": "0"}) is None
    lag.fetched(tp0_, 4)  # a batch 4..9 in hand: all of it is lag until handled
    lag.update(c)
    assert _value(reg, "mcpmon_revoker_consumer_lag", partition="0") == 6
    lag.handled(tp0_, 4)
    lag.fetched(tp0_, 4)  # a later fetch never moves it back
    lag.update(c)
    assert _value(reg, "mcpmon_revoker_consumer_lag", partition="0") == 5
    lag.handled(tp0_, 9)
    lag.update(c)
    assert _value(reg, "mcpmon_revoker_consumer_lag", partition="0") == 0
    assigned.remove(tp0_)  # rebalanced away: its series goes
    lag.update(c)
    assert reg.get_sample_value("mcpmon_revoker_consumer_lag", {"partition": "0"}) is None
