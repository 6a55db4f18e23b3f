"""The upstream MCP server, kept connected: a lost connection is opened again, not fatal.

An upstream goes away in two ways, and before this module the proxy met each badly:

- a **stdio** server that exits (a crash, an OOM kill) leaves a session whose every
  request fails with ``Connection closed`` (-32000): the proxy stayed up and refused
  every call for ever;
- a **streamable-HTTP** server that restarts makes the SDK client's own tasks fail
  (``ConnectError``), which cancelled the task that opened it: the whole proxy, with
  a traceback.

:class:`UpstreamLink` opens the connection in a task of its own (so a failure of the
client's tasks ends that task, not the proxy) and keeps it. When the client's tasks fail,
or a request reports ``Connection closed`` (:meth:`UpstreamLink.lost`) and a probe
(``tools/list``, :data:`PROBE_SECONDS`) confirms it (an upstream may send -32000 for
errors of its own), it closes that connection (a stdio server is stopped) and opens a new
one (a stdio server is started again), with backoff. It logs ``upstream_lost`` or
``upstream_unavailable`` (each failed attempt), then ``upstream_reconnected``, counted in
``mcpmon_proxy_upstream_reconnects_total``. While there is no connection, a request is
refused at once with JSON-RPC -32603 ``upstream MCP server unavailable``: nothing waits on
a server that is not there, and nothing bypasses the guard. The first connection is not
retried: a server that cannot be started or reached at start is a configuration error
(:class:`ProxyError`).

The client-facing server keeps the capabilities, name and instructions of the first
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import mcp.types as types
import structlog
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientSession
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from monitor.errors import described
from monitor.proxy.exceptions import ProxyError
from monitor.proxy.metrics import ProxyMetrics

log = structlog.get_logger("monitor.proxy")

#: Opens one connection inside the given stack (closing the stack closes it).
Opener = Callable[[contextlib.AsyncExitStack], Awaitable[Client]]

#: How long a connection suspected closed has to answer the probe.
PROBE_SECONDS = 5.0


def _leaf(err: BaseException) -> BaseException:
    """The first exception at the bottom of an exception group (the one that says why)."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


def _why(err: BaseException, where: str) -> str:
    leaf = _leaf(err)
    if isinstance(leaf, OSError) and leaf.strerror:
        return f"{leaf.strerror}: {leaf.filename or where}"
    return described(leaf)


def describe(target: StdioServerParameters | str) -> str:
    """The upstream as logs and errors name it: a URL without its user, password, query or
    fragment; a stdio server by its command alone (arguments often carry keys)."""
    if not isinstance(target, str):
        return target.command
    parts = urlsplit(target)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


async def connect_upstream(
    stack: contextlib.AsyncExitStack, target: StdioServerParameters | str
) -> Client:
    """The connected upstream; a server that cannot be started or reached is a ProxyError."""
    where = describe(target)
    # the upstream's stderr goes to this process's own stderr file (a child needs a real file
    # descriptor): the SDK's default is whatever sys.stderr was when it was imported, which a
    # caller may have swapped for a stream with no descriptor, or closed, since
    errlog = sys.__stderr__ or sys.stderr
    server = target if isinstance(target, str) else stdio_client(target, errlog=errlog)
    try:
        return await stack.enter_async_context(Client(server))
    except Exception as err:
        why = _why(err, where)
        raise ProxyError(f"upstream MCP server {where!r} could not be connected ({why})") from None


@dataclass(frozen=True, slots=True)
class _Opened:
    """What the first connection said of the server (a closed client says nothing)."""

    capabilities: types.ServerCapabilities
    info: types.Implementation | None
    instructions: str | None
    protocol_version: str


async def _alive(client: Client) -> bool:
    """Does the connection still answer? Any answer counts, an error of the server's too."""
    try:
        await asyncio.wait_for(client.session.list_tools(), PROBE_SECONDS)
    except MCPError as err:
        return err.error.code != types.CONNECTION_CLOSED
    except Exception:  # no answer in time, or the transport failed
        return False
    return True


async def _probe(client: Client, where: str) -> bool:
    alive = await _alive(client)
    log.info("upstream_probed", upstream=where, alive=alive)
    return alive


class UpstreamLink:
    """One upstream connection at a time, opened again when lost; see the module doc.

    Reads like the SDK :class:`~mcp.Client` where the gateway reads it (``session``,
    ``server_capabilities``, ``server_info``, ``instructions``, ``protocol_version``).
    ``generation`` counts connections; a request that found its connection closed
    reports the generation it used (:meth:`lost`), so a late report cannot close a
    newer connection.
    """

    def __init__(
        self,
        opener: Opener,
        where: str,
        metrics: ProxyMetrics,
        *,
        backoff: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        self.opener = opener
        self.where = where
        self.metrics = metrics
        self.backoff = backoff
        self.generation = 0
        self._client: Client | None = None
        self._first: _Opened | None = None
        self._suspect = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def to(
        cls, target: StdioServerParameters | str, metrics: ProxyMetrics, **kw: tuple[float, float]
    ) -> UpstreamLink:
        return cls(lambda stack: connect_upstream(stack, target), describe(target), metrics, **kw)

    # ------------------------------------------------------------------ what the gateway reads
    @property
    def current(self) -> Client | None:
        """The open connection; None while there is none."""
        return self._client

    @property
    def session(self) -> ClientSession:
        if self._client is None:
            raise MCPError(
                types.INTERNAL_ERROR, "upstream MCP server unavailable: the proxy is reconnecting"
            )
        return self._client.session

    @property
    def server_capabilities(self) -> types.ServerCapabilities:
        return self._opened().capabilities

    @property
    def server_info(self) -> types.Implementation | None:
        return self._opened().info

    @property
    def instructions(self) -> str | None:
        return self._opened().instructions

    @property
    def protocol_version(self) -> str:
        return self._opened().protocol_version

    def _opened(self) -> _Opened:
        if self._first is None:
            raise RuntimeError("UpstreamLink read before start()")
        return self._first

    # ------------------------------------------------------------------ keeping it
    async def start(self) -> None:
        """Open the first connection (its failure is raised: a ProxyError), then keep it."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._keep(ready), name="proxy-upstream")
        await ready

    def lost(self, generation: int) -> None:
        """A request on connection ``generation`` found it closed: probe it, and open a new one
        if it is."""
        if generation == self.generation and self._client is not None:
            self._suspect.set()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _suspected(self) -> bool:
        await self._suspect.wait()
        self._suspect.clear()
        return True

    async def _keep(self, ready: asyncio.Future[None]) -> None:
        delay = self.backoff[0]
        while True:
            try:
                async with contextlib.AsyncExitStack() as stack:
                    client = await self.opener(stack)
                    self._suspect.clear()
                    self.generation += 1
                    self._client = client
                    if ready.done():
                        self.metrics.upstream_reconnects.inc()
                        log.warning("upstream_reconnected", upstream=self.where)
                    else:
                        self._first = _Opened(
                            client.server_capabilities,
                            client.server_info,
                            client.instructions,
                            client.protocol_version,
                        )
                        ready.set_result(None)
                    delay = self.backoff[0]
                    while await self._suspected() and await _probe(client, self.where):
                        pass
                    self._client = None
                    log.error("upstream_lost", upstream=self.where, error="Connection closed")
            except asyncio.CancelledError:
                self._client = None
                raise
            except Exception as err:  # the client's own tasks failed, or it could not open
                self._client = None
                if not ready.done():
                    ready.set_exception(err)
                    return
                why = str(err) if isinstance(err, ProxyError) else _why(err, self.where)
                log.error("upstream_unavailable", upstream=self.where, error=why, retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(self.backoff[1], delay * 2)
