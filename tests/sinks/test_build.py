"""``mcpmon sink``'s settings reach the wire: the transport and retry policy built from them.

Each MCPMON_SINK_* setting an operator sets must change what the receiver gets (host, port,
HOSTNAME and facility of the syslog header, HEC host/source/sourcetype/index and token), or
how a delivery fails (its timeout, TLS verification). Every test here builds the transport
with :func:`build_transport` from settings and delivers to a real loopback receiver.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from monitor.retry import RetryPolicy
from monitor.settings import load_settings
from monitor.sinks.formats import syslog_line, to_cef
from monitor.sinks.service import build_transport, retry_policy
from monitor.sinks.transports import DeliveryError, SplunkHec, SyslogTcp, SyslogUdp, Transport
from tests.revoker.servers import Reply
from tests.sinks.receivers import HEC_OK, HecBehaviour, HecServer, UdpReceiver, wait_for
from tests.sinks.sockets import read_frames, tcp_listener
from tests.sinks.support import alert
from tests.sinks.tls import TlsHecServer

TOKEN = "11111111-2222-3333-4444-555555555555"
#: Not the default facility 10: the header's PRI must come from the setting
#: (facility 4 * 8 + severity high 3 = 35).
FACILITY = "4"


def _send(t: Transport, *alerts_: object, guard: float = 5.0) -> None:
    """Deliver ``alerts_`` in order and close; ``guard`` only stops a hung delivery."""

    async def go() -> None:
        try:
            for a in alerts_:
                await asyncio.wait_for(t.send(a), guard)  # type: ignore[arg-type]
        finally:
            await t.aclose()

    asyncio.run(go())


def _syslog_env(port: int, protocol: str, host: str = "127.0.0.1") -> dict[str, str]:
    return {
        "MCPMON_SINK_TO": "cef-syslog",
        "MCPMON_SINK_SYSLOG_PROTOCOL": protocol,
        "MCPMON_SINK_SYSLOG_HOST": host,
        "MCPMON_SINK_SYSLOG_PORT": str(port),
        "MCPMON_SINK_SYSLOG_FACILITY": FACILITY,
        "MCPMON_SINK_HOSTNAME": "mon-1",
    }


def test_udp_syslog_goes_to_the_configured_receiver_with_hostname_and_facility() -> None:
    rx = UdpReceiver()
    try:
        t = build_transport(load_settings(env=_syslog_env(rx.port, "udp")))
        assert isinstance(t, SyslogUdp)
        a = alert(alert_id="u1")
        _send(t, a)
        assert wait_for(lambda: len(rx.messages) == 1, 5)
    finally:
        rx.close()
    (msg,) = rx.messages
    assert msg == syslog_line(a, to_cef(a), hostname="mon-1", facility=4)
    assert msg.startswith(b"<35>1 2026-03-01T12:00:00.250Z mon-1 mcpmon - forbidden_chain - CEF:0|")


def test_tcp_syslog_goes_to_the_configured_host_and_port_with_hostname_and_facility() -> None:
    # 127.0.0.2, not 127.0.0.1: a receiver on a host of its own (what getaddrinfo gives
    # for no host at all is the loopback's first address, so the host must be the one set)
    with tcp_listener("127.0.0.2") as srv:
        port = srv.getsockname()[1]
        t = build_transport(load_settings(env=_syslog_env(port, "tcp", host="127.0.0.2")))
        assert isinstance(t, SyslogTcp)
        a = alert(alert_id="t1", severity="critical")
        _send(t, a)
        conn, _ = srv.accept()
        with conn:
            (frame,) = read_frames(conn, 1)
    assert frame == syslog_line(a, to_cef(a), hostname="mon-1", facility=4)
    assert frame.startswith(b"<34>1 2026-03-01T12:00:00.250Z mon-1 mcpmon - forbidden_chain - ")


def test_tcp_syslog_gives_up_a_delivery_at_the_configured_timeout() -> None:
    # A receiver whose accept queue is full: the connection is never established (the
    # SYN is dropped), so only the sink's own timeout (0.2 s, not the default 5 s) ends
    # the attempt; the guard of 3 s only keeps a hung delivery from hanging the test.
    with tcp_listener(backlog=0) as srv:
        port = srv.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port), timeout=5)  # fills the queue
        try:
            env = {**_syslog_env(port, "tcp"), "MCPMON_SINK_TIMEOUT_SECONDS": "0.2"}
            t = build_transport(load_settings(env=env))
            with pytest.raises(DeliveryError) as err:
                _send(t, alert(), guard=3.0)
        finally:
            filler.close()
    assert str(err.value) == f"syslog tcp 127.0.0.1:{port}: TimeoutError"


def _hec_env(url: str, **extra: str) -> dict[str, str]:
    return {
        "MCPMON_SINK_TO": "splunk-hec",
        "MCPMON_SINK_HEC_URL": url,
        "MCPMON_SINK_HEC_TOKEN": TOKEN,
        **extra,
    }


def test_hec_body_and_token_come_from_the_settings() -> None:
    hec = HecBehaviour(TOKEN)
    srv = HecServer(hec)
    try:
        env = _hec_env(
            srv.url(),
            MCPMON_SINK_HOSTNAME="mon-1",
            MCPMON_SINK_HEC_SOURCE="mcpmon-prod",
            MCPMON_SINK_HEC_SOURCETYPE="mcpmon:alert:v1",
            MCPMON_SINK_HEC_INDEX="sec",
        )
        t = build_transport(load_settings(env=env))
        assert isinstance(t, SplunkHec)
        _send(t, alert(alert_id="h1"))
    finally:
        srv.close()
    (req,) = srv.requests
    assert req.headers["authorization"] == f"Splunk {TOKEN}"  # the collector took it
    (body,) = hec.events
    assert body["event"]["alert_id"] == "h1"
    assert body["host"] == "mon-1"
    assert body["source"] == "mcpmon-prod"
    assert body["sourcetype"] == "mcpmon:alert:v1"
    assert body["index"] == "sec"


def test_unset_hostname_is_this_machines_name() -> None:
    hec = HecBehaviour(TOKEN)
    srv = HecServer(hec)
    try:
        _send(build_transport(load_settings(env=_hec_env(srv.url()))), alert())
    finally:
        srv.close()
    (body,) = hec.events
    assert body["host"] == socket.gethostname()


def test_hec_gives_up_a_request_at_the_configured_timeout() -> None:
    # The collector answers after 1 s; the sink was told 0.3 s (the default is 5 s).
    hec = HecBehaviour(TOKEN, script=[Reply(200, HEC_OK, delay=1.0)])
    srv = HecServer(hec)
    try:
        env = _hec_env(srv.url(), MCPMON_SINK_TIMEOUT_SECONDS="0.3")
        with pytest.raises(DeliveryError, match="ReadTimeout"):
            _send(build_transport(load_settings(env=env)), alert())
    finally:
        srv.close()


def test_hec_verify_tls_false_delivers_to_a_self_signed_collector(tmp_path: Path) -> None:
    hec = HecBehaviour(TOKEN)
    srv = TlsHecServer(hec, tmp_path)
    try:
        env = _hec_env(srv.url(), MCPMON_SINK_HEC_VERIFY_TLS="false")
        _send(build_transport(load_settings(env=env)), alert(alert_id="tls1"))
        verified = build_transport(load_settings(env=_hec_env(srv.url())))  # the default
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            _send(verified, alert(alert_id="tls2"))
    finally:
        srv.close()
    assert [b["event"]["alert_id"] for b in hec.events] == ["tls1"]


def test_retry_policy_comes_from_the_settings() -> None:
    s = load_settings(
        env={
            "MCPMON_SINK_RETRY_ATTEMPTS": "7",
            "MCPMON_SINK_RETRY_BASE_SECONDS": "0.25",
            "MCPMON_SINK_RETRY_MAX_SECONDS": "4",
        }
    )
    assert retry_policy(s) == RetryPolicy(attempts=7, base_seconds=0.25, max_seconds=4.0)
    assert retry_policy(s).schedule() == (0.25, 0.5, 1.0, 2.0, 4.0, 4.0)
