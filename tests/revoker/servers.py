"""Real local servers the revoker tests start: a recording HTTP server and redis-server.

Loopback only, free ports, bounded waits. A missing ``redis-server`` fails the
test with the command that installs it — never a skip.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_url(path: str = "/") -> str:
    """A loopback URL nothing listens on: connections are refused."""
    return f"http://127.0.0.1:{free_port()}{path}"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    content_type: str = "application/json"


Behaviour = Callable[[Request], Reply]


@dataclass
class HTTPServer:
    """Serves ``behaviour(request)`` on 127.0.0.1 and records every request."""

    behaviour: Behaviour
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                req = Request(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(n),
                )
                outer.requests.append(req)
                reply = outer.behaviour(req)
                if reply.delay:
                    time.sleep(reply.delay)
                with contextlib.suppress(OSError):  # the client may have given up
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = _any

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def redis_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        pytest.fail(
            "redis-server is not installed: the revoker's deny-list tests need a real Redis. "
            "Install it with `bash scripts/redis.sh install` (apt-get install -y redis-server), "
            "or run `make test`, which does. These tests are never skipped.",
            pytrace=False,
        )
    return path


class RedisServer:
    """``redis-server`` on a free loopback port, no persistence, in ``tmp``."""

    def __init__(self, tmp: Path, *extra: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = tmp / f"redis-{self.port}.log"
        self.proc = subprocess.Popen(
            [
                redis_binary(),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(tmp),
                "--logfile", str(self.log),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited: {self.log.read_text(errors='replace')}")
            if self.command("PING") == b"+PONG\r\n":
                return
            time.sleep(0.05)
        self.stop()
        raise AssertionError("redis-server did not answer PING in 15 s")

    def command(self, *args: str) -> bytes:
        """One raw RESP command (stdlib only); b'' when the server does not answer."""
        req = f"*{len(args)}\r\n".encode() + b"".join(
            f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args
        )
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(req)
                return s.recv(65536)
        except OSError:
            return b""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
