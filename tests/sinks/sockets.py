"""Raw loopback sockets for the syslog TCP tests that need what TcpReceiver does not give:
a receiver on another loopback address, one that never reads, reading on the test's terms."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


@contextlib.contextmanager
def tcp_listener(
    host: str = "127.0.0.1", *, backlog: int = 8, rcvbuf: int = 0
) -> Iterator[socket.socket]:
    """A listening socket that accepts nothing by itself: the kernel completes connections
    into its queue (``backlog``; 0 holds one, and connections past it are never
    established) and buffers what they send until the test accepts and reads.
    ``rcvbuf``: a small receive buffer, so a receiver that does not read is full sooner."""
    srv = socket.socket()
    if rcvbuf:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    srv.bind((host, 0))
    srv.listen(backlog)
    srv.settimeout(5)
    try:
        yield srv
    finally:
        srv.close()


def read_exactly(conn: socket.socket, n: int, timeout: float = 5.0) -> bytes:
    """``n`` bytes from ``conn``; AssertionError if they do not come within ``timeout`` s of
    silence or the connection ends first."""
    conn.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        try:
            chunk = conn.recv(min(1 << 20, n - len(buf)))
        except TimeoutError:
            raise AssertionError(f"{len(buf)} of {n} bytes came") from None
        assert chunk, f"the connection ended after {len(buf)} of {n} bytes"
        buf += chunk
    return buf


def read_frames(conn: socket.socket, n: int) -> list[bytes]:
    """``n`` RFC 6587 octet-counted frames from ``conn`` (the syslog messages)."""
    out: list[bytes] = []
    while len(out) < n:
        head = b""
        while not head.endswith(b" "):
            head += read_exactly(conn, 1)
        out.append(read_exactly(conn, int(head)))
    return out
