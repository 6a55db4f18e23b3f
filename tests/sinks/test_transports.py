"""Transports against real loopback receivers: syslog UDP and TCP, a Splunk HEC server, a file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from monitor.sinks.formats import to_cef
from monitor.sinks.transports import DeliveryError, OcsfFile, SplunkHec, SyslogTcp, SyslogUdp
from tests.revoker.servers import closed_url, free_port
from tests.sinks.receivers import HecBehaviour, HecServer, TcpReceiver, UdpReceiver, wait_for
from tests.sinks.support import alert

TOKEN = "11111111-2222-3333-4444-555555555555"


def test_ocsf_file_appends_one_finding_per_line(tmp_path: Path) -> None:
    path = tmp_path / "out" / "alerts.ocsf.jsonl"
    t = OcsfFile(path)

    async def go() -> None:
        await t.send(alert(alert_id="x1"))
        await t.send(alert(alert_id="x2"))
        await t.aclose()

    asyncio.run(go())
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [r["finding_info"]["uid"] for r in rows] == ["x1", "x2"]
    assert all(r["class_uid"] == 2004 for r in rows)


def test_ocsf_file_unwritable_is_a_delivery_error(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    t = OcsfFile(tmp_path / "dir")  # a directory: cannot be opened for appending
    with pytest.raises(DeliveryError, match="ocsf-file"):
        asyncio.run(t.send(alert()))


def test_syslog_udp_one_datagram_per_alert() -> None:
    rx = UdpReceiver()
    try:
        t = SyslogUdp("127.0.0.1", rx.port, hostname="mon-1")

        async def go() -> None:
            await t.send(alert(alert_id="u1"))
            await t.send(alert(alert_id="u2", severity="critical"))
            await t.aclose()

        asyncio.run(go())
        assert wait_for(lambda: len(rx.messages) == 2)
    finally:
        rx.close()
    first, second = rx.messages
    assert first.startswith(b"<83>1 2026-03-01T12:00:00.250Z mon-1 mcpmon - forbidden_chain - ")
    assert first.endswith(to_cef(alert(alert_id="u1")).encode())
    assert second.startswith(b"<82>1 ")
    assert b"externalId=u2" in second


def test_syslog_tcp_octet_counted_frames_on_one_connection() -> None:
    rx = TcpReceiver()
    try:
        t = SyslogTcp("127.0.0.1", rx.port, hostname="mon-1")

        async def go() -> None:
            for i in range(3):
                await t.send(alert(alert_id=f"t{i}", reason=f"line\nbreak {i}"))
            await t.aclose()

        asyncio.run(go())
        assert wait_for(lambda: len(rx.messages) == 3)
    finally:
        rx.close()
    assert rx.connections == 1
    for i, m in enumerate(rx.messages):
        assert m.startswith(
            b"<83>1 2026-03-01T12:00:00.250Z mon-1 mcpmon - forbidden_chain - CEF:0|"
        )
        assert f"externalId=t{i}".encode() in m
        assert b"\n" not in m  # the newline in the reason is escaped in CEF


def test_syslog_tcp_receiver_down_then_back_reconnects() -> None:
    port = free_port()
    t = SyslogTcp("127.0.0.1", port, hostname="h", timeout=1.0)

    async def first() -> None:
        with pytest.raises(DeliveryError, match="syslog tcp"):
            await t.send(alert(alert_id="r1"))

    asyncio.run(first())
    rx = TcpReceiver(port=port)
    try:

        async def second() -> None:
            await t.send(alert(alert_id="r1"))
            await t.aclose()

        asyncio.run(second())
        assert wait_for(lambda: len(rx.messages) == 1)
        assert b"externalId=r1" in rx.messages[0]
    finally:
        rx.close()


def test_syslog_tcp_receiver_restart_is_noticed_before_writing() -> None:
    rx = TcpReceiver()
    port = rx.port
    t = SyslogTcp("127.0.0.1", port, hostname="h", timeout=1.0)

    async def go() -> None:
        nonlocal rx
        await t.send(alert(alert_id="k1"))
        assert wait_for(lambda: len(rx.messages) == 1)
        rx.close()  # the receiver closes the connection and goes away
        await asyncio.sleep(0.2)
        rx = TcpReceiver(port=port)
        await t.send(alert(alert_id="k2"))  # not written into the dead connection
        await t.aclose()

    try:
        asyncio.run(go())
        assert wait_for(lambda: len(rx.messages) == 1)
        assert b"externalId=k2" in rx.messages[0]
    finally:
        rx.close()


def test_hec_posts_with_token_and_body() -> None:
    hec = HecBehaviour(TOKEN)
    srv = HecServer(hec)
    try:
        t = SplunkHec(srv.url(), TOKEN, host="mon-1", index="sec")

        async def go() -> None:
            await t.send(alert(alert_id="h1"))
            await t.aclose()

        asyncio.run(go())
    finally:
        srv.close()
    (req,) = srv.requests
    assert req.method == "POST" and req.path == "/services/collector/event"
    assert req.headers["authorization"] == f"Splunk {TOKEN}"
    assert req.headers["content-type"] == "application/json"
    (body,) = hec.events
    assert body["event"]["alert_id"] == "h1"
    assert body["host"] == "mon-1" and body["index"] == "sec"
    assert body["fields"]["owasp_agentic"] == ["ASI01", "ASI02"]


def test_hec_full_endpoint_url_is_not_doubled() -> None:
    t = SplunkHec("http://x:8088/services/collector/event", TOKEN, host="h")
    assert t.url == "http://x:8088/services/collector/event"
    asyncio.run(t.aclose())


@pytest.mark.parametrize(
    ("token", "match"),
    [("wrong", "HTTP 403"), (TOKEN, None)],
)
def test_hec_wrong_token_is_refused(token: str, match: str | None) -> None:
    hec = HecBehaviour(TOKEN)
    srv = HecServer(hec)
    t = SplunkHec(srv.url(), token, host="h")

    async def go() -> None:
        try:
            await t.send(alert())
        finally:
            await t.aclose()

    try:
        if match:
            with pytest.raises(DeliveryError, match=match):
                asyncio.run(go())
            assert hec.events == []
        else:
            asyncio.run(go())
            assert len(hec.events) == 1
    finally:
        srv.close()


def test_hec_down_is_a_delivery_error() -> None:
    t = SplunkHec(closed_url(), TOKEN, host="h", timeout=1.0)

    async def go() -> None:
        try:
            await t.send(alert())
        finally:
            await t.aclose()

    with pytest.raises(DeliveryError, match="ConnectError"):
        asyncio.run(go())
