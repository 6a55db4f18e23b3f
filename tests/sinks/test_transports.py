"""Transports against real loopback receivers: syslog UDP and TCP, a Splunk HEC server, a file."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from monitor.output_contracts import Alert
from monitor.sinks.formats import to_cef
from monitor.sinks.transports import (
    DeliveryError,
    OcsfFile,
    SplunkHec,
    SyslogTcp,
    SyslogUdp,
    Transport,
)
from tests.revoker.servers import Reply, closed_url, free_port
from tests.sinks.receivers import HecBehaviour, HecServer, TcpReceiver, UdpReceiver, wait_for
from tests.sinks.sockets import read_exactly, read_frames, tcp_listener
from tests.sinks.support import alert
from tests.sinks.tls import TlsHecServer

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


def _run_send(t: Transport, a: Alert, guard: float = 5.0) -> None:
    async def go() -> None:
        try:
            await asyncio.wait_for(t.send(a), guard)
        finally:
            await t.aclose()

    asyncio.run(go())


def test_ocsf_file_dash_writes_to_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    # mcpmon sink --from-file a.jsonl --file - | jq: the findings go to stdout, no file "-"
    monkeypatch.chdir(tmp_path)
    _run_send(OcsfFile("-"), alert(alert_id="o1"))
    out = capsysbinary.readouterr().out
    assert out.endswith(b"\n") and out.count(b"\n") == 1
    assert orjson.loads(out)["finding_info"]["uid"] == "o1"
    assert list(tmp_path.iterdir()) == []


def test_ocsf_file_dash_whose_reader_left_ends_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # ... | head: once the reader of stdout is gone the run must end (BrokenPipeError, as
    # every pipe does), not retry an alert that has nowhere to go
    r, w = os.pipe()
    os.close(r)
    with open(w, "wb", buffering=0) as gone:
        monkeypatch.setattr(sys, "stdout", SimpleNamespace(buffer=gone))
        with pytest.raises(BrokenPipeError):
            _run_send(OcsfFile("-"), alert())


def test_ocsf_file_fifo_whose_reader_left_is_a_delivery_error(tmp_path: Path) -> None:
    # A named pipe as the file (a log shipper reading it): its reader going away is a
    # failed delivery, retried until one reads again, not the end of the run, and the
    # error names the file. The finding is larger than a pipe holds, so the reader leaves
    # while it is being written.
    path = tmp_path / "alerts.fifo"
    os.mkfifo(path)

    def read_one_byte_and_leave() -> None:
        fd = os.open(path, os.O_RDONLY)  # waits for the sink to open it
        os.read(fd, 1)
        os.close(fd)

    reader = threading.Thread(target=read_one_byte_and_leave, daemon=True)
    reader.start()
    try:
        with pytest.raises(DeliveryError) as err:
            _run_send(OcsfFile(path), alert(reason="r" * 1_000_000))
    finally:
        reader.join(5)
    assert str(err.value) == f"ocsf-file {path}: broken pipe"


def test_ocsf_file_creates_missing_directories(tmp_path: Path) -> None:
    path = tmp_path / "var" / "log" / "mcpmon" / "alerts.ocsf.jsonl"
    _run_send(OcsfFile(path), alert(alert_id="m1"))
    (row,) = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    assert row["finding_info"]["uid"] == "m1"


def test_hec_defaults_source_sourcetype_and_no_index() -> None:
    # Splunk apps and saved searches match source=mcpmon sourcetype=mcpmon:alert; without an
    # index the token's default index is used (no "index" key at all)
    hec = HecBehaviour(TOKEN)
    srv = HecServer(hec)
    try:
        _run_send(SplunkHec(srv.url(), TOKEN, host="h"), alert())
    finally:
        srv.close()
    (body,) = hec.events
    assert body["source"] == "mcpmon" and body["sourcetype"] == "mcpmon:alert"
    assert "index" not in body


@pytest.mark.parametrize("suffix", ["/", "//"])
def test_hec_base_url_with_trailing_slashes(suffix: str) -> None:
    hec = HecBehaviour(TOKEN)
    srv = HecServer(hec)
    try:
        t = SplunkHec(srv.url().rstrip("/") + suffix, TOKEN, host="h")
        assert t.url == srv.url("/services/collector/event")
        _run_send(t, alert(alert_id="s1"))
    finally:
        srv.close()
    assert [r.path for r in srv.requests] == ["/services/collector/event"]
    assert [b["event"]["alert_id"] for b in hec.events] == ["s1"]


def test_hec_base_url_with_a_path_keeps_it() -> None:
    # behind a gateway: only the trailing slash goes, the path (whatever it ends with) stays
    t = SplunkHec("https://gw.corp/splunk/HEC-X/", TOKEN, host="h")
    assert t.url == "https://gw.corp/splunk/HEC-X/services/collector/event"
    asyncio.run(t.aclose())


def _hec_error(reply: Reply) -> tuple[str, str]:
    srv = HecServer(HecBehaviour(TOKEN, script=[reply]))
    try:
        t = SplunkHec(srv.url(), TOKEN, host="h")
        with pytest.raises(DeliveryError) as err:
            _run_send(t, alert())
    finally:
        srv.close()
    return str(err.value), t.url


def test_hec_error_names_the_status_and_at_most_200_chars_of_the_answer() -> None:
    # the collector's answer is quoted in the log (sink_retry), bounded: a proxy's HTML
    # error page must not flood it
    error, url = _hec_error(Reply(503, b"b" * 300, content_type="text/html"))
    assert error == f"splunk-hec {url}: HTTP 503: " + "b" * 200


@pytest.mark.parametrize("answer", [b'{"text":"Success"}', b"[0]", b"c" * 300])
def test_hec_200_without_code_0_is_an_unexpected_answer(answer: bytes) -> None:
    error, url = _hec_error(Reply(200, answer))
    assert error == f"splunk-hec {url}: unexpected answer " + answer.decode()[:200]


def test_hec_verifies_the_collectors_certificate_by_default(tmp_path: Path) -> None:
    hec = HecBehaviour(TOKEN)
    srv = TlsHecServer(hec, tmp_path)
    try:
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            _run_send(SplunkHec(srv.url(), TOKEN, host="h"), alert(alert_id="v1"))
        _run_send(SplunkHec(srv.url(), TOKEN, host="h", verify=False), alert(alert_id="v2"))
    finally:
        srv.close()
    assert [b["event"]["alert_id"] for b in hec.events] == ["v2"]


def test_syslog_udp_error_names_the_receiver() -> None:
    port = free_port()
    huge = alert(reason="r" * 70_000)  # over UDP's 65,507 bytes
    with pytest.raises(DeliveryError) as err:
        _run_send(SyslogUdp("127.0.0.1", port, hostname="h"), huge)
    assert str(err.value).startswith(f"syslog udp 127.0.0.1:{port}: ")
    assert "Message too long" in str(err.value) and err.value.permanent


def test_syslog_tcp_refused_error_names_the_receiver_and_the_cause() -> None:
    port = free_port()
    with pytest.raises(DeliveryError) as err:
        _run_send(SyslogTcp("127.0.0.1", port, hostname="h", timeout=1.0), alert())
    assert str(err.value).startswith(f"syslog tcp 127.0.0.1:{port}: ")
    assert "Connect call failed" in str(err.value)  # the OS's reason, not a class name


def test_syslog_tcp_connection_reset_by_the_receiver_is_closed_quietly_then_reopened() -> None:
    # The receiver resets the connection (crash, RST). Closing it must not raise the
    # reset (send calls aclose on every failure: a raw OSError from there would look like
    # a transport bug and get a good alert dead-lettered; the service calls it on stop);
    # the next alert goes on a new connection.
    with tcp_listener() as srv:
        t = SyslogTcp("127.0.0.1", srv.getsockname()[1], hostname="h", timeout=1.0)

        def reset() -> None:
            conn, _ = srv.accept()
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # linger 0: RST

        async def go() -> None:
            await t.send(alert(alert_id="r1"))
            await asyncio.to_thread(reset)
            await t.aclose()
            await t.send(alert(alert_id="r2"))
            await t.aclose()

        asyncio.run(go())
        conn, _ = srv.accept()
        with conn:
            (frame,) = read_frames(conn, 1)
    assert b"externalId=r2" in frame


async def _fill(t: SyslogTcp) -> tuple[bytes, str]:
    """Send alerts of 20 kB to a receiver that does not read until one fails (the buffers
    are full): the frames of those it reported delivered, and the failure."""
    delivered: list[bytes] = []
    for i in range(2000):
        a = alert(alert_id=f"f{i}", reason="r" * 20_000)
        try:
            await t.send(a)
        except DeliveryError as err:
            return b"".join(delivered), str(err)
        delivered.append(t.frame(a))
    raise AssertionError("the buffers never filled")


def test_syslog_tcp_delivered_means_in_the_kernel_and_a_stalled_receiver_fails_sends() -> None:
    # syslog has no ack: an alert is delivered (its offset committed) once its frame is in
    # the kernel's send buffer, which the kernel goes on sending after the sink stopped or
    # died. Once a receiver that stopped reading has filled the buffers, a send must fail
    # (retried, not committed), never return with the frame still in this process, lost
    # with it. The failure is the timeout, and closing that connection (its unsent bytes
    # can never be flushed) does not wait for ever (the guard of 10 s only keeps a hung
    # close from hanging the test).
    with tcp_listener(rcvbuf=4096) as srv:
        port = srv.getsockname()[1]
        t = SyslogTcp("127.0.0.1", port, hostname="h", timeout=0.2)

        async def go() -> tuple[bytes, bytes, str]:
            delivered, error = await asyncio.wait_for(_fill(t), 10)
            # the event loop does not run from here on: no more bytes leave the process
            conn, _ = srv.accept()
            with conn:
                return delivered, read_exactly(conn, len(delivered)), error

        delivered, received, error = asyncio.run(go())
    assert received == delivered  # every frame reported delivered, whole, in order
    assert error == f"syslog tcp 127.0.0.1:{port}: TimeoutError"


def test_syslog_tcp_a_stalled_connection_is_dropped_not_left_open() -> None:
    # after a send to a receiver that stopped reading failed, its connection (whose unsent
    # bytes are being retried on a new one) is gone: the receiver sees its end, not a
    # connection held open by the sink for ever, one more at each stall
    with tcp_listener(rcvbuf=4096) as srv:
        t = SyslogTcp("127.0.0.1", srv.getsockname()[1], hostname="h", timeout=0.2)

        async def go() -> str:
            await asyncio.wait_for(_fill(t), 10)
            await asyncio.sleep(0.1)  # the loop runs the drop
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(3)
                try:
                    while conn.recv(65536):
                        pass
                except ConnectionResetError:
                    return "reset"
                except TimeoutError:
                    return "still open"
                return "ended"

        assert asyncio.run(go()) in ("reset", "ended")


class _SaysWhenClosing(SyslogTcp):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.closing = asyncio.Event()

    async def aclose(self) -> None:
        self.closing.set()
        await super().aclose()


def test_syslog_tcp_close_cancelled_stays_a_cancellation() -> None:
    # mcpmon sink stopped (its task cancelled) while closing a connection that still has
    # unsent bytes: a cancellation, as asyncio expects, not another error
    with tcp_listener(rcvbuf=4096) as srv:
        t = _SaysWhenClosing("127.0.0.1", srv.getsockname()[1], hostname="h", timeout=0.2)

        async def go() -> None:
            filling = asyncio.create_task(_fill(t))
            await asyncio.wait_for(t.closing.wait(), 10)  # the send timed out: closing
            filling.cancel()
            with pytest.raises(asyncio.CancelledError):
                await filling

        asyncio.run(go())
