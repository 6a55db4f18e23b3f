"""A proxy assembled in-process around the real fleet server, and a real SDK client on it.

The upstream is ``tests/proxy/fleet_server.py`` launched over stdio, as the
proxy launches any server, and kept by an :class:`UpstreamLink` as the proxy keeps it
(a server that exits is started again); the client talks to the proxy's MCP server through
the SDK's in-process connection (the same handlers, no stdio framing), so
tests can look at the proxy's metrics. ``tests/proxy/test_command.py`` runs
the real ``mcpmon proxy`` subprocess on stdio and HTTP.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from monitor.core.redact import DEFAULT_REDACTION, Redactor
from monitor.events import ToolCall
from monitor.output_contracts import RevocationCommand
from monitor.proxy.emit import FileEmitter
from monitor.proxy.gateway import Gateway
from monitor.proxy.guard import DenyListGuard, FailMode
from monitor.proxy.identity import IdentityResolver, JwtConfig
from monitor.proxy.metrics import ProxyMetrics
from monitor.proxy.policy import InlinePolicy
from monitor.proxy.upstream import UpstreamLink
from monitor.revoker.actuators.denylist import RedisDenyList, connect

ROOT = Path(__file__).resolve().parents[2]
FLEET = StdioServerParameters(
    command=sys.executable, args=["-m", "tests.proxy.fleet_server"], cwd=str(ROOT)
)


def stdio(params: StdioServerParameters) -> Any:
    """A stdio connection whose server writes its stderr to this process's stderr file: the
    SDK's default is the sys.stderr of its import, which pytest's capture may have closed
    since (a second session in one process, as mutation testing runs)."""
    return stdio_client(params, errlog=sys.__stderr__ or sys.stderr)


AGENT = {"agent_id": "agent-1", "credential_id": "cred-1", "task_id": "task-1"}


def tool_call(i: int = 0, **fields: Any) -> ToolCall:
    """A ``tool_call`` event ``e{i}`` at 12:00:``i`` by agent-1 (``fields`` override any field)."""
    base: dict[str, Any] = {
        "event_id": f"e{i}",
        "ts": datetime(2026, 3, 1, 12, 0, i, tzinfo=UTC),
        "agent_id": "agent-1",
        "server": "fleet",
        "tool": "list_hosts",
        "outcome": "ok",
    }
    return ToolCall(**(base | fields))


@dataclass
class Proxied:
    client: Client
    metrics: ProxyMetrics
    events_path: Path
    link: UpstreamLink

    @property
    def upstream(self) -> Client:
        """The proxy's own session with the fleet server: around the proxy."""
        client = self.link.current
        assert client is not None, "the proxy has no upstream connection now"
        return client

    async def upstream_read(self, uri: str) -> Any:
        return await self.upstream.read_resource(uri)

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.exists() or not self.events_path.is_file():
            return []
        return [orjson.loads(ln) for ln in self.events_path.read_bytes().splitlines()]

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels or None) or 0.0


@asynccontextmanager
async def proxied(
    tmp: Path,
    *,
    redis_url: str | None,
    constants: Mapping[str, str | None] | None = None,
    mapping: Path | None = None,
    fail_mode: FailMode = "closed",
    timeout: float = 0.5,
    jwt: JwtConfig | None = None,
    session_id: str | None = "sess-1",
    redact: bool = True,
    events_path: Path | None = None,
    policy: InlinePolicy | None = None,
    resolver: type[IdentityResolver] = IdentityResolver,
    redact_args: bool = False,
) -> AsyncIterator[Proxied]:
    metrics = ProxyMetrics()
    events = events_path or tmp / "events.jsonl"
    sink = FileEmitter(events, metrics)
    await sink.start()
    guard = None
    if redis_url is not None:
        guard = DenyListGuard(connect(redis_url, timeout), timeout=timeout, fail_mode=fail_mode)
    link = UpstreamLink(
        lambda stack: stack.enter_async_context(Client(stdio(FLEET))),
        "fleet",
        metrics,
        backoff=(0.05, 0.2),
    )
    try:
        await link.start()
        info = link.server_info
        identity = resolver.build(
            mapping,
            AGENT if constants is None else constants,
            upstream_name=info.name if info else None,
            jwt=jwt,
            session_id=session_id,
        )
        redactor = Redactor(DEFAULT_REDACTION) if redact else None
        if policy is not None:
            policy.metrics = metrics
        gateway = Gateway(
            link,
            identity,
            sink,
            metrics,
            guard=guard,
            redactor=redactor,
            policy=policy,
            redact_args=redact_args,
        )
        async with Client(gateway.server()) as client:
            yield Proxied(client, metrics, events, link)
    finally:
        await link.aclose()
        await sink.close()
        if guard is not None:
            await guard.aclose()


async def deny(redis_url: str, command: RevocationCommand) -> None:
    """Write the deny-list entries of ``command`` as the revoker's actuator does."""
    actuator = RedisDenyList(redis_url)
    try:
        await actuator.apply(command)
    finally:
        await actuator.aclose()


async def cancel_once_forwarded(p: Proxied, done: Callable[[], bool]) -> None:
    """Start a long ``sleep`` call, cancel it once the fleet server has it (the call was
    forwarded), see the cancellation reach the caller, then wait (at most 2 s) for ``done()``:
    what the proxy does after it (an event, a log line)."""
    call = asyncio.ensure_future(p.client.call_tool("sleep", {"seconds": 30}))
    while (await p.upstream.call_tool("count", {"peek": True})).structured_content["result"] == 0:
        await asyncio.sleep(0.02)  # until the sleep has reached the server
    call.cancel()
    try:
        await call
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the cancelled call returned")
    for _ in range(100):
        if done():
            return
        await asyncio.sleep(0.02)
