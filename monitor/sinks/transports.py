"""Where formatted alerts go: one small class per target behind one Protocol.

Every transport's :meth:`send` returns only when the alert is as delivered as
the protocol can say, and raises :class:`DeliveryError` otherwise; the service
retries and does not commit. What "delivered" means per transport:

* ``ocsf-file`` — the JSON line is written, flushed and fsync'ed.
* ``cef-syslog`` TCP — the octet-counted frame is in the kernel's send buffer
  of a connection the receiver has not closed (syslog has no application ack).
* ``cef-syslog`` UDP — the datagram was sent. UDP cannot confirm delivery: a
  receiver that is down loses it. Use TCP where loss matters.
* ``splunk-hec`` — HTTP 200 with ``{"code": 0}`` from the collector.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sys
from pathlib import Path
from typing import Protocol

import httpx
import orjson

from monitor.output_contracts import Alert
from monitor.sinks.exceptions import DeliveryError
from monitor.sinks.formats import octet_counted, syslog_line, to_cef, to_hec, to_ocsf

__all__ = ["DeliveryError", "OcsfFile", "SplunkHec", "SyslogTcp", "SyslogUdp", "Transport"]

HEC_PATH = "/services/collector/event"


class Transport(Protocol):
    name: str

    async def send(self, alert: Alert) -> None: ...

    async def aclose(self) -> None: ...


class OcsfFile:
    """OCSF Detection Findings, one JSON object a line, appended and fsync'ed."""

    name = "ocsf-file"

    def __init__(self, path: str | Path, revoke_min_severity: str = "high") -> None:
        self.path = Path(path)
        self.revoke_min_severity = revoke_min_severity  # for action_id / disposition_id

    async def send(self, alert: Alert) -> None:
        line = orjson.dumps(to_ocsf(alert, self.revoke_min_severity)) + b"\n"
        try:
            await asyncio.to_thread(self._append, line)
        except BrokenPipeError:
            if str(self.path) == "-":
                raise  # stdout's reader is gone (| head): nothing to retry, the run ends
            raise DeliveryError(f"ocsf-file {self.path}: broken pipe") from None
        except OSError as err:
            raise DeliveryError(f"ocsf-file {self.path}: {err}") from err

    def _append(self, line: bytes) -> None:
        if str(self.path) == "-":  # stdout: mcpmon sink --from-file a.jsonl --file - | jq
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    async def aclose(self) -> None:
        return None


class SyslogUdp:
    """CEF in RFC 5424 syslog, one datagram per alert."""

    name = "cef-syslog-udp"

    def __init__(self, host: str, port: int, *, hostname: str, facility: int = 10) -> None:
        self.addr = (host, port)
        self.hostname = hostname
        self.facility = facility
        self._sock: socket.socket | None = None

    def frame(self, alert: Alert) -> bytes:
        return syslog_line(alert, to_cef(alert), hostname=self.hostname, facility=self.facility)

    async def send(self, alert: Alert) -> None:
        data = self.frame(alert)
        try:
            if self._sock is None:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    *self.addr, type=socket.SOCK_DGRAM
                )
                family, _, _, _, sockaddr = infos[0]
                self._sock = socket.socket(family, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
                self._sock.connect(sockaddr)
            self._sock.send(data)
        except OSError as err:  # e.g. ICMP port unreachable reported on a later send
            await self.aclose()
            raise DeliveryError(
                f"syslog udp {self.addr[0]}:{self.addr[1]}: {err}",
                permanent=err.errno == errno.EMSGSIZE,  # this one is too large for a datagram
            ) from err

    async def aclose(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class SyslogTcp:
    """CEF in RFC 5424 syslog over TCP, octet-counting framing (RFC 6587 §3.4.1).

    One connection, reopened when the receiver closed it or a write failed.
    """

    name = "cef-syslog-tcp"

    def __init__(
        self, host: str, port: int, *, hostname: str, facility: int = 10, timeout: float = 5.0
    ) -> None:
        self.host, self.port = host, port
        self.hostname = hostname
        self.facility = facility
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def frame(self, alert: Alert) -> bytes:
        line = syslog_line(alert, to_cef(alert), hostname=self.hostname, facility=self.facility)
        return octet_counted(line)

    async def send(self, alert: Alert) -> None:
        data = self.frame(alert)
        try:
            await asyncio.wait_for(self._send(data), self.timeout)
        except (OSError, TimeoutError) as err:
            await self.aclose()
            what = str(err) or type(err).__name__
            raise DeliveryError(f"syslog tcp {self.host}:{self.port}: {what}") from err

    async def _send(self, data: bytes) -> None:
        await asyncio.sleep(0)  # let a pending EOF from the receiver be noticed
        if self._writer is not None and (
            self._writer.is_closing() or (self._reader is not None and self._reader.at_eof())
        ):
            await self.aclose()  # the receiver went away: never write into a dead connection
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            # drain() returns only once every byte is in the kernel (the delivery this
            # transport promises); by default it returns with up to 64 KiB still in this
            # process's buffer, lost with the process after the offset was committed
            self._writer.transport.set_write_buffer_limits(high=0)
        self._writer.write(data)
        await self._writer.drain()

    async def aclose(self) -> None:
        w, self._writer, self._reader = self._writer, None, None
        if w is not None:
            w.close()
            try:
                await asyncio.wait_for(w.wait_closed(), 1.0)
            except (OSError, TimeoutError):
                # a receiver that stopped reading would keep this closing connection open
                # for ever, holding the bytes of alerts that are being retried on a new one
                # (and one more connection a stall): dropped
                w.transport.abort()


class SplunkHec:
    """``POST {url}/services/collector/event`` with ``Authorization: Splunk <token>``."""

    name = "splunk-hec"

    def __init__(
        self,
        url: str,
        token: str,
        *,
        host: str,
        source: str = "mcpmon",
        sourcetype: str = "mcpmon:alert",
        index: str = "",
        timeout: float = 5.0,
        verify: bool = True,
    ) -> None:
        base = url.rstrip("/")
        self.url = base if base.endswith(HEC_PATH) else base + HEC_PATH
        self.host, self.source, self.sourcetype, self.index = host, source, sourcetype, index
        self._client = httpx.AsyncClient(
            timeout=timeout, verify=verify, headers={"Authorization": f"Splunk {token}"}
        )

    async def send(self, alert: Alert) -> None:
        body = to_hec(
            alert,
            host=self.host,
            source=self.source,
            sourcetype=self.sourcetype,
            index=self.index,
        )
        try:
            resp = await self._client.post(
                self.url,
                content=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as err:
            raise DeliveryError(f"splunk-hec {self.url}: {type(err).__name__}: {err}") from err
        if resp.status_code != 200:
            raise DeliveryError(
                f"splunk-hec {self.url}: HTTP {resp.status_code}: {resp.text[:200]}",
                permanent=resp.status_code == 413,  # this one is too large for the collector
            )
        try:
            code = orjson.loads(resp.content).get("code")
        except (orjson.JSONDecodeError, AttributeError):
            code = None
        if code != 0:
            raise DeliveryError(f"splunk-hec {self.url}: unexpected answer {resp.text[:200]}")

    async def aclose(self) -> None:
        await self._client.aclose()
