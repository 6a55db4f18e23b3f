"""Real loopback receivers the sink tests start: syslog over UDP and TCP, a Splunk HEC server.

The HEC server is the revoker tests' recording HTTP server
(:class:`tests.revoker.servers.HTTPServer`) with the collector's behaviour.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

import orjson

from tests.revoker.servers import HTTPServer, Reply, Request

HEC_OK = orjson.dumps({"text": "Success", "code": 0})


@dataclass
class HecBehaviour:
    """The collector: checks path and token, answers ``{"text":"Success","code":0}``.

    ``script`` (consumed one reply per request) lets a test return errors or be slow first.
    """

    token: str
    script: list[Reply] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    def __call__(self, req: Request) -> Reply:
        if self.script:
            return self.script.pop(0)
        if req.method != "POST" or req.path != "/services/collector/event":
            return Reply(404, orjson.dumps({"text": "Not found", "code": 404}))
        if req.headers.get("authorization") != f"Splunk {self.token}":
            return Reply(403, orjson.dumps({"text": "Invalid token", "code": 4}))
        try:
            body = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            return Reply(400, orjson.dumps({"text": "Invalid data format", "code": 6}))
        self.events.append(body)
        return Reply(200, HEC_OK)


class HecServer(HTTPServer):
    """The recording HTTP server, optionally on a given port (a receiver that comes back)."""

    def __init__(self, behaviour: HecBehaviour, port: int = 0) -> None:
        self._want_port = port
        super().__init__(behaviour)

    def __post_init__(self) -> None:
        if not self._want_port:
            super().__post_init__()
            return
        orig = ThreadingHTTPServer.server_bind
        port = self._want_port

        def bind(srv: ThreadingHTTPServer) -> None:
            srv.server_address = ("127.0.0.1", port)
            orig(srv)

        ThreadingHTTPServer.server_bind = bind  # type: ignore[method-assign]
        try:
            super().__post_init__()
        finally:
            ThreadingHTTPServer.server_bind = orig  # type: ignore[method-assign]


class UdpReceiver:
    """Records every datagram on 127.0.0.1."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.messages: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            self.messages.append(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


class TcpReceiver:
    """A syslog TCP receiver: parses RFC 6587 octet-counted frames on each connection.

    ``delay`` sleeps before reading each frame (a slow receiver).
    """

    def __init__(self, port: int = 0, delay: float = 0.0) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", port))
        self.server.listen()
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.delay = delay
        self.messages: list[bytes] = []
        self.connections = 0
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        conn.settimeout(0.05)
        while not self._stop.is_set():
            frame = self._frame(buf)
            if frame is not None:
                msg, buf = frame
                if self.delay:
                    time.sleep(self.delay)
                self.messages.append(msg)
                continue
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
        with contextlib.suppress(OSError):
            conn.close()

    @staticmethod
    def _frame(buf: bytes) -> tuple[bytes, bytes] | None:
        sp = buf.find(b" ")
        if sp <= 0:
            return None
        n = int(buf[:sp])
        if len(buf) < sp + 1 + n:
            return None
        return buf[sp + 1 : sp + 1 + n], buf[sp + 1 + n :]

    def close(self) -> None:
        self._stop.set()
        for c in self._conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
                c.close()
        self.server.close()
        for t in self._threads:
            t.join(5)


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()
