"""A lost upstream is opened again, and the proxy stays up: a stdio server that exits is
started again; an HTTP server that goes away is waited for (calls refused meanwhile, at
once) and reconnected to; a -32000 error of the server's own is not taken for a loss."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp.types import CONNECTION_CLOSED, INTERNAL_ERROR
from structlog.testing import capture_logs

from monitor.proxy import upstream as upstream_module
from monitor.proxy.emit import FileEmitter
from monitor.proxy.exceptions import ProxyError
from monitor.proxy.gateway import Gateway
from monitor.proxy.identity import IdentityResolver
from monitor.proxy.metrics import ProxyMetrics
from monitor.proxy.upstream import UpstreamLink, connect_upstream, describe
from tests.proxy.processes import FLEET_CMD, ROOT
from tests.proxy.support import AGENT, FLEET, proxied, stdio
from tests.revoker.servers import free_port
from tests.waiting import until


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 90))


def _reconnects(metrics: ProxyMetrics) -> float:
    return metrics.registry.get_sample_value("mcpmon_proxy_upstream_reconnects_total") or 0.0


def test_a_stdio_server_that_exits_is_started_again(tmp_path: Path) -> None:
    async def go() -> tuple[Any, MCPError, Any, Any]:
        async with proxied(tmp_path, redis_url=None) as p:
            first = await p.client.call_tool("count", {})
            with pytest.raises(MCPError) as lost:
                await p.client.call_tool("exit_now", {})
            await until(lambda: _reconnects(p.metrics) >= 1, 30, "the server started again")
            again = await p.client.call_tool("count", {})
            # what the first connection said of the server is still there to read
            assert p.link.server_info is not None and p.link.server_info.name == "fleet"
            assert p.link.protocol_version and p.link.server_capabilities.tools is not None
            assert p.link.instructions == "Fleet tools for the proxy tests."
            assert p.link.generation == 2
            return p, lost.value, first, again

    with capture_logs() as logs:
        p, lost, first, again = _run(go())
    assert first.structured_content == {"result": 1}
    assert (lost.error.code, lost.error.message) == (CONNECTION_CLOSED, "Connection closed")
    # a new server process: its count starts again from 1
    assert again.structured_content == {"result": 1} and not again.is_error
    assert _reconnects(p.metrics) == 1
    assert [(e["tool"], e["outcome"]) for e in p.events()] == [
        ("count", "ok"),
        ("exit_now", "error"),
        ("count", "ok"),
    ]
    said = [e["event"] for e in logs if e["event"].startswith("upstream_")]
    assert said == ["upstream_probed", "upstream_lost", "upstream_reconnected"]
    (probe,) = [e for e in logs if e["event"] == "upstream_probed"]
    assert (probe["alive"], probe["upstream"]) == (False, "fleet")
    (lost_log,) = [e for e in logs if e["event"] == "upstream_lost"]
    assert (lost_log["upstream"], lost_log["error"], lost_log["log_level"]) == (
        "fleet",
        "Connection closed",
        "error",
    )
    (back,) = [e for e in logs if e["event"] == "upstream_reconnected"]
    assert (back["upstream"], back["log_level"]) == ("fleet", "warning")


def test_a_servers_own_minus_32000_error_is_passed_on_and_the_connection_kept(
    tmp_path: Path,
) -> None:
    async def go() -> tuple[Any, MCPError, list[Any]]:
        async with proxied(tmp_path, redis_url=None) as p:
            with pytest.raises(MCPError) as own:
                await p.client.call_tool("closed_error", {})
            await until(lambda: any(e["event"] == "upstream_probed" for e in logs), 30, "the probe")
            counts = [await p.client.call_tool("count", {}) for _ in range(2)]
            return p, own.value, counts

    with capture_logs() as logs:
        p, own, counts = _run(go())
    assert (own.error.code, own.error.message) == (CONNECTION_CLOSED, "Connection closed")
    # the same server process throughout: its count goes on
    assert [c.structured_content for c in counts] == [{"result": 1}, {"result": 2}]
    assert _reconnects(p.metrics) == 0 and p.link.generation == 1
    probes = [e for e in logs if e["event"] == "upstream_probed"]
    assert [e["alive"] for e in probes] == [True]
    assert not [e for e in logs if e["event"] in ("upstream_lost", "upstream_unavailable")]


@contextlib.contextmanager
def _http_fleet(port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [*FLEET_CMD, "--http", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the HTTP fleet server did not listen on {port}")
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_an_http_server_that_goes_away_is_waited_for_and_the_proxy_stays_up(
    tmp_path: Path,
) -> None:
    port = free_port()
    metrics = ProxyMetrics()
    refused: list[MCPError] = []

    async def call_until_refused(client: Client) -> None:
        """Calls fail while the server is away; once the link knows it, at once (-32603)."""
        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            try:
                await client.call_tool("count", {})
            except MCPError as err:
                if err.error.code == INTERNAL_ERROR:
                    refused.append(err)
                    return
            await asyncio.sleep(0.05)
        raise AssertionError("no call was refused as unavailable")

    async def go() -> tuple[Any, Any]:
        sink = FileEmitter(tmp_path / "events.jsonl", metrics)
        await sink.start()
        link = UpstreamLink.to(f"http://127.0.0.1:{port}/mcp", metrics, backoff=(0.05, 0.2))
        try:
            with _http_fleet(port) as fleet:
                await link.start()
                identity = IdentityResolver.build(None, AGENT, upstream_name="fleet", jwt=None)
                gateway = Gateway(link, identity, sink, metrics)
                async with Client(gateway.server()) as client:
                    before = await client.call_tool("count", {})
                    fleet.kill()
                    fleet.wait()
                    await call_until_refused(client)
                    await until(
                        lambda: sum(e["event"] == "upstream_unavailable" for e in logs) >= 3,
                        30,
                        "three attempts to reconnect",
                    )
                    with _http_fleet(port):
                        await until(lambda: _reconnects(metrics) >= 1, 30, "reconnected")
                        after = await client.call_tool("count", {})
                    return before, after
        finally:
            await link.aclose()
            await sink.close()

    with capture_logs() as logs:
        before, after = _run(go())
    assert before.structured_content == {"result": 1}
    assert after.structured_content == {"result": 1}  # the new server process
    assert refused[0].error.message == (
        "upstream MCP server unavailable: the proxy is reconnecting"
    )
    assert _reconnects(metrics) == 1
    gone = [e for e in logs if e["event"] == "upstream_unavailable"]
    url = f"http://127.0.0.1:{port}/mcp"
    assert all((e["upstream"], e["log_level"]) == (url, "error") for e in gone)
    # the connection's own tasks failed, then each attempt to open a new one
    assert gone[0]["error"].startswith("ConnectError: ")
    assert gone[1]["error"].startswith(f"upstream MCP server {url!r} could not be connected (")
    # from the floor, doubling up to the cap
    assert [e["retry_in"] for e in gone[:3]] == [0.05, 0.1, 0.2]
    assert [e["event"] for e in logs if e["event"] == "upstream_reconnected"] == [
        "upstream_reconnected"
    ]


def test_a_server_that_cannot_be_reached_at_start_is_a_start_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    link = UpstreamLink.to(url, ProxyMetrics())
    with pytest.raises(ProxyError, match=r"could not be connected \(ConnectError: "):
        _run(link.start())
    assert link.current is None


@pytest.mark.parametrize(
    ("target", "named"),
    [
        ("https://bot:s3cret@mcp.corp:8443/mcp?token=abc#x", "https://mcp.corp:8443/mcp"),
        ("http://[::1]:9000/mcp", "http://[::1]:9000/mcp"),
        ("http://fleet/mcp", "http://fleet/mcp"),
        ("http:///mcp", "http:///mcp"),  # no host: none made up
        (StdioServerParameters(command="npx", args=["srv", "--api-key", "k-123"]), "npx"),
    ],
)
def test_the_upstream_is_named_without_what_may_be_a_secret(target: Any, named: str) -> None:
    assert describe(target) == named


class _Session:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    async def list_tools(self) -> Any:
        if isinstance(self.answer, BaseException):
            raise self.answer
        if self.answer == "hang":
            await asyncio.sleep(3600)
        return self.answer


class _Client:
    def __init__(self, answer: Any) -> None:
        self.session = _Session(answer)


@pytest.mark.parametrize(
    ("answer", "alive"),
    [
        ("tools", True),
        (MCPError(-32601, "Method not found"), True),  # an answer: the server is there
        (MCPError(CONNECTION_CLOSED, "Connection closed"), False),
        (RuntimeError("transport failed"), False),
        ("hang", False),
    ],
    ids=["answers", "answers with an error", "closed", "transport error", "no answer"],
)
def test_the_probe_counts_any_answer_and_nothing_else(
    answer: Any, alive: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_module, "PROBE_SECONDS", 0.2)
    assert _run(asyncio.wait_for(upstream_module._alive(_Client(answer)), 5)) is alive  # type: ignore[arg-type]


def test_a_late_or_unconnected_report_of_a_loss_is_ignored() -> None:
    link = UpstreamLink.to("http://fleet/mcp", ProxyMetrics(), backoff=(1.0, 2.0))
    assert (link.where, link.backoff) == ("http://fleet/mcp", (1.0, 2.0))
    with pytest.raises(RuntimeError, match=r"^UpstreamLink read before start\(\)$"):
        _ = link.server_info
    link.lost(0)  # no connection yet
    assert not link._suspect.is_set()
    link._client = _Client("tools")  # type: ignore[assignment]
    link.generation = 2
    link.lost(1)  # a request on an earlier connection
    assert not link._suspect.is_set()
    link.lost(2)
    assert link._suspect.is_set()


def test_closing_the_link_ends_its_task_and_stops_the_server(tmp_path: Path) -> None:
    async def go() -> tuple[bool, bool, Any]:
        async with proxied(tmp_path, redis_url=None) as p:
            task = p.link._task
            await p.link.aclose()
            assert task is not None
            with pytest.raises(MCPError) as err:
                _ = p.link.session  # closed: unavailable, not a half-closed client
            return task.done(), p.link._task is None and p.link.current is None, err.value

    done, cleared, err = _run(go())
    assert (done, cleared, err.error.code) == (True, True, INTERNAL_ERROR)


def test_the_upstream_is_started_with_its_command_and_named_when_it_cannot_be(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stdio server is started from its parameters, its stderr on this process's own
    stderr file even when sys.stderr is a stream without one (a test's capture, a caller's
    redirect); a command that cannot be run is named with why."""

    async def go() -> list[str]:
        async with contextlib.AsyncExitStack() as stack:
            client = await connect_upstream(stack, FLEET)
            return [t.name for t in (await client.session.list_tools()).tools]

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert "count" in _run(go())
    missing = StdioServerParameters(command="no-such-mcp-server", args=["--key", "k-1"])

    async def fail() -> None:
        async with contextlib.AsyncExitStack() as stack:
            await connect_upstream(stack, missing)

    with pytest.raises(ProxyError) as err:
        _run(fail())
    assert str(err.value) == (
        "upstream MCP server 'no-such-mcp-server' could not be connected "
        "(No such file or directory: no-such-mcp-server)"
    )


def test_while_the_link_reopens_a_request_is_refused_as_unavailable(tmp_path: Path) -> None:
    opened: list[int] = []

    async def opener(stack: contextlib.AsyncExitStack) -> Client:
        opened.append(len(opened))
        if len(opened) > 1:
            await asyncio.sleep(3600)  # the second opening never finishes here
        return await stack.enter_async_context(Client(stdio(FLEET)))

    async def go() -> MCPError:
        link = UpstreamLink(opener, "fleet", ProxyMetrics(), backoff=(0.01, 0.02))
        await link.start()
        try:
            with pytest.raises(MCPError):
                await link.session.call_tool("exit_now", {})
            link.lost(link.generation)
            await until(lambda: len(opened) == 2, 30, "the second opening")
            assert link.current is None
            with pytest.raises(MCPError) as err:
                _ = link.session
            return err.value
        finally:
            await link.aclose()

    err = _run(go())
    assert (err.error.code, err.error.message) == (
        INTERNAL_ERROR,
        "upstream MCP server unavailable: the proxy is reconnecting",
    )


def test_a_link_never_started_closes_quietly() -> None:
    _run(UpstreamLink.to("http://fleet/mcp", ProxyMetrics()).aclose())


@pytest.mark.parametrize(
    ("err", "said"),
    [
        (
            FileNotFoundError(2, "No such file or directory", "srv"),
            "No such file or directory: srv",
        ),
        (BrokenPipeError(32, "Broken pipe"), "Broken pipe: fleet"),  # no file: the upstream
        (ExceptionGroup("tasks", [ValueError("bad frame")]), "ValueError: bad frame"),
        (TimeoutError(), "TimeoutError"),
    ],
)
def test_why_an_upstream_failed_names_the_deepest_cause(err: BaseException, said: str) -> None:
    assert upstream_module._why(err, "fleet") == said
