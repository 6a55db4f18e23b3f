"""Failure tests: receiver down, slow, returning errors — the alert is delivered once it is
back, or delivery reports it was not (the service then does not commit)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson
from structlog.testing import capture_logs

from monitor.metrics import CollectorRegistry, SinkMetrics
from monitor.output_contracts import Alert
from monitor.retry import RetryPolicy
from monitor.sinks.service import Deliverer, Undeliverable
from monitor.sinks.transports import (
    DeliveryError,
    OcsfFile,
    SplunkHec,
    SyslogTcp,
    SyslogUdp,
    Transport,
)
from tests.revoker.servers import Reply, free_port
from tests.sinks.receivers import HecBehaviour, HecServer, TcpReceiver
from tests.sinks.support import alert
from tests.waiting import until, wait_until

TOKEN = "tok-1"
FAST = RetryPolicy(attempts=3, base_seconds=0.05, max_seconds=0.2)


def deliver(
    t: Transport,
    *,
    stop_when: Callable[[], bool] | None = None,
    during: Callable[[], None] | None = None,
) -> bool:
    """Run one delivery; optionally run ``during`` (in a thread) meanwhile, or stop it once
    ``stop_when()`` holds."""

    async def go() -> bool:
        d = Deliverer(t, FAST)
        task = asyncio.create_task(d.deliver(alert(alert_id="d1")))
        if during is not None:
            await asyncio.to_thread(during)
        if stop_when is not None:
            await until(stop_when, 30, "the condition to stop the delivery")
            d.stop()
        try:
            return await asyncio.wait_for(task, 30)
        finally:
            await t.aclose()

    return asyncio.run(go())


def test_hec_errors_then_success_delivers_once() -> None:
    busy = orjson.dumps({"text": "Server is busy", "code": 9})
    hec = HecBehaviour(TOKEN, script=[Reply(503, busy), Reply(500, b"oops"), Reply(200, b"{}")])
    srv = HecServer(hec)
    try:
        with capture_logs() as logs:
            assert deliver(SplunkHec(srv.url(), TOKEN, host="h")) is True
    finally:
        srv.close()
    assert len(srv.requests) == 4  # 503, 500, 200 without code 0, then success
    assert [e["alert_id"] for e in (b["event"] for b in hec.events)] == ["d1"]
    events = [e["event"] for e in logs]
    assert events.count("sink_retry") == 2
    assert "sink_delivery_failed" in events  # the 3rd failure (attempts=3) is logged as error
    assert events[-1] == "sink_delivered_after_retry"


def test_hec_slow_answer_times_out_and_is_retried() -> None:
    hec = HecBehaviour(TOKEN, script=[Reply(200, b'{"text":"Success","code":0}', delay=1.0)])
    srv = HecServer(hec)
    try:
        with capture_logs() as logs:
            assert deliver(SplunkHec(srv.url(), TOKEN, host="h", timeout=0.3)) is True
    finally:
        srv.close()
    assert len(srv.requests) == 2 and len(hec.events) == 1  # the slow one was not counted
    # the first attempt was given up at the client's timeout, not answered late
    (retry,) = [e for e in logs if e["event"] == "sink_retry"]
    assert "ReadTimeout" in retry["error"]


def _failed_once(logs: list[dict[str, Any]]) -> Callable[[], None]:
    """Wait (in the ``during`` thread) until the delivery has failed and is retrying."""
    return lambda: wait_until(
        lambda: any(e["event"] == "sink_retry" for e in logs), 10, "a failed first attempt"
    )


def test_hec_down_then_back_is_delivered() -> None:
    port = free_port()
    hec = HecBehaviour(TOKEN)
    servers: list[HecServer] = []

    def come_back() -> None:
        _failed_once(logs)()
        servers.append(HecServer(hec, port=port))

    try:
        with capture_logs() as logs:
            ok = deliver(
                SplunkHec(f"http://127.0.0.1:{port}", TOKEN, host="h", timeout=1), during=come_back
            )
    finally:
        for s in servers:
            s.close()
    assert ok is True
    assert [b["event"]["alert_id"] for b in hec.events] == ["d1"]
    assert any(e["event"] == "sink_retry" for e in logs)


def test_syslog_tcp_down_then_back_is_delivered() -> None:
    port = free_port()
    rxs: list[TcpReceiver] = []

    def come_back() -> None:
        _failed_once(logs)()
        rxs.append(TcpReceiver(port=port))

    try:
        with capture_logs() as logs:
            ok = deliver(SyslogTcp("127.0.0.1", port, hostname="h", timeout=1), during=come_back)
        assert ok is True
        wait_until(lambda: rxs[0].messages, 5, "the message at the receiver")
        assert len(rxs[0].messages) == 1 and b"externalId=d1" in rxs[0].messages[0]
    finally:
        for r in rxs:
            r.close()


def test_file_unwritable_then_fixed_is_delivered(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.mkdir()  # a directory where the file should be: appending fails

    def fix() -> None:
        _failed_once(logs)()
        shutil.rmtree(path)

    with capture_logs() as logs:
        assert deliver(OcsfFile(path), during=fix) is True
    assert any(e["event"] == "sink_retry" for e in logs)  # it did fail while unwritable
    (row,) = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    assert row["finding_info"]["uid"] == "d1"


def test_keeps_failing_is_logged_and_reported_undelivered() -> None:
    hec = HecBehaviour(TOKEN, script=[Reply(500, b"down")] * 1000)
    srv = HecServer(hec)
    try:
        with capture_logs() as logs:
            ok = deliver(
                SplunkHec(srv.url(), TOKEN, host="h"),
                stop_when=lambda: any(e["event"] == "sink_delivery_failed" for e in logs),
            )
    finally:
        srv.close()
    assert ok is False  # the service does not commit it
    assert hec.events == []
    failed = [e for e in logs if e["event"] == "sink_delivery_failed"]
    assert failed and failed[0]["attempts"] == 3 and "HTTP 500" in failed[0]["error"]
    assert failed[0]["detail"] == "not committed; still retrying"
    assert logs[-1]["event"] == "sink_stopped_undelivered"


class _Exploding:
    """A transport with a bug one alert triggers (e.g. its formatting raises)."""

    name = "exploding"

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, alert: Alert) -> None:
        self.calls += 1
        raise ValueError("cannot format this alert")

    async def aclose(self) -> None:
        return None


def _undeliverable(t: Transport, a: Alert) -> str:
    async def go() -> str:
        try:
            await asyncio.wait_for(Deliverer(t, FAST).deliver(a), 10)
        except Undeliverable as err:
            return str(err)
        finally:
            await t.aclose()
        raise AssertionError("delivered")

    return asyncio.run(go())


def test_an_alert_the_transport_keeps_failing_on_is_given_up_not_retried_for_ever() -> None:
    t = _Exploding()
    error = _undeliverable(t, alert(alert_id="boom"))
    assert t.calls == FAST.attempts
    assert error == "exploding: ValueError: cannot format this alert (3 attempts)"


def test_an_alert_too_large_for_a_datagram_is_undeliverable_at_once() -> None:
    huge = alert(alert_id="big", reason="r" * 70_000)  # over UDP's 65,507 bytes

    class Counting(SyslogUdp):
        sends = 0

        async def send(self, alert: Alert) -> None:
            Counting.sends += 1
            await super().send(alert)

    error = _undeliverable(Counting("127.0.0.1", free_port(), hostname="h"), huge)
    assert "syslog udp" in error and "Message too long" in error
    assert Counting.sends == 1  # at once: not retried


def test_an_alert_the_collector_refuses_as_too_large_is_undeliverable_at_once() -> None:
    hec = HecBehaviour(TOKEN, script=[Reply(413, b"Content too large")] * 10)
    srv = HecServer(hec)
    try:
        error = _undeliverable(SplunkHec(srv.url(), TOKEN, host="h"), alert(alert_id="d1"))
    finally:
        srv.close()
    assert "HTTP 413" in error and len(srv.requests) == 1


class _Scripted:
    """A transport that fails as scripted (one outcome per call, then succeeds); ``stop_on``:
    the call during which the sink is stopped (as ``mcpmon sink`` is on SIGTERM)."""

    name = "scripted"

    def __init__(self, *outcomes: Exception | None, stop_on: int = 0) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.stop_on = stop_on
        self.deliverer: Deliverer | None = None

    async def send(self, alert: Alert) -> None:
        self.calls += 1
        if self.calls == self.stop_on and self.deliverer is not None:
            self.deliverer.stop()
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome

    async def aclose(self) -> None:
        return None


def _run(
    t: _Scripted, policy: RetryPolicy, metrics: SinkMetrics | None = None
) -> tuple[bool, list[MutableMapping[str, Any]]]:
    """Deliver alert ``d1`` through ``t``; what ``deliver`` returned and every log event."""

    async def go() -> bool:
        d = Deliverer(t, policy, metrics)
        t.deliverer = d
        return await asyncio.wait_for(d.deliver(alert(alert_id="d1")), 10)

    with capture_logs() as logs:
        ok = asyncio.run(go())
    return ok, logs


def _retries(reg: CollectorRegistry, sink: str) -> float | None:
    return reg.get_sample_value("mcpmon_sink_retries_total", {"sink": sink})


def test_delivered_at_once_logs_nothing_and_counts_no_retry() -> None:
    reg = CollectorRegistry()
    t = _Scripted()
    ok, logs = _run(t, FAST, SinkMetrics(reg))
    assert ok is True and t.calls == 1
    assert logs == []  # no "delivered after retry" for a first-time delivery
    assert not _retries(reg, "scripted")


def test_a_retried_delivery_is_logged_and_counted_per_sink() -> None:
    # What an operator reads: each failed attempt (warning, its number, the error and the
    # wait before the next), then the delivery with how many attempts it took; the retries
    # counter by sink (dashboards: sum by (sink) (rate(mcpmon_sink_retries_total)))
    reg = CollectorRegistry()
    policy = RetryPolicy(attempts=5, base_seconds=0.01, max_seconds=1.0)
    t = _Scripted(DeliveryError("down"), DeliveryError("still down"))
    ok, logs = _run(t, policy, SinkMetrics(reg))
    assert ok is True and t.calls == 3
    common = {"alert_id": "d1", "sink": "scripted"}
    assert logs == [
        {"event": "sink_retry", **common, "attempt": 1, "error": "down", "retry_in": 0.01,
         "log_level": "warning"},
        {"event": "sink_retry", **common, "attempt": 2, "error": "still down", "retry_in": 0.02,
         "log_level": "warning"},
        {"event": "sink_delivered_after_retry", **common, "attempts": 3, "log_level": "info"},
    ]  # fmt: skip
    assert _retries(reg, "scripted") == 2


def test_delivered_on_the_second_attempt_is_logged_as_after_retry() -> None:
    t = _Scripted(DeliveryError("down"))
    ok, logs = _run(t, FAST)
    assert ok is True
    assert [e["event"] for e in logs] == ["sink_retry", "sink_delivered_after_retry"]
    assert logs[-1]["attempts"] == 2


def test_every_policy_attempts_failures_an_error_then_stopped_undelivered() -> None:
    # attempts=2: the 2nd failure in a row is an error (alerting on it is how an operator
    # learns the SIEM is unreachable), with the wait before the next attempt; the sink is
    # stopped meanwhile, so the alert is reported undelivered (not committed)
    policy = RetryPolicy(attempts=2, base_seconds=0.01, max_seconds=1.0)
    t = _Scripted(*[DeliveryError("down")] * 5, stop_on=2)
    ok, logs = _run(t, policy)
    assert ok is False and t.calls == 2
    common = {"alert_id": "d1", "sink": "scripted"}
    assert logs == [
        {"event": "sink_retry", **common, "attempt": 1, "error": "down", "retry_in": 0.01,
         "log_level": "warning"},
        {"event": "sink_delivery_failed", **common, "attempts": 2, "error": "down",
         "detail": "not committed; still retrying", "retry_in": 0.02, "log_level": "error"},
        {"event": "sink_stopped_undelivered", **common, "log_level": "warning"},
    ]  # fmt: skip


def test_a_transport_bug_is_given_up_only_after_policy_attempts_in_a_row() -> None:
    # attempts=3: two bugs, an ordinary delivery failure (the receiver is down: nothing
    # wrong with this alert), two bugs again, then delivered. The delivery failure breaks
    # the run of bugs, so the alert is never dead-lettered as undeliverable.
    policy = RetryPolicy(attempts=3, base_seconds=0.001, max_seconds=0.01)
    bug = ValueError("cannot format")
    t = _Scripted(bug, bug, DeliveryError("down"), bug, bug)
    ok, _ = _run(t, policy)
    assert ok is True and t.calls == 6
