"""``mcpmon proxy`` as deployed: a subprocess on stdio (launched by an SDK client, as an MCP
client's configuration would) and on streamable HTTP with verified bearer tokens and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from monitor.cli import main
from monitor.proxy import refusal
from tests.proxy.processes import FLEET_CMD, ROOT, ProxyProcess
from tests.proxy.support import deny
from tests.revoker.servers import free_port
from tests.revoker.support import command

SECRET = "a-test-hmac-secret-of-at-least-32-bytes!"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPMON_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def test_help_explains_refusals_fail_mode_and_configuration(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["proxy", "--help"])
    text = capsys.readouterr().out
    for want in ("-32010", "-32011", "-32012", "MCPMON_PROXY_FAIL_MODE", '"mcpServers"', "--"):
        assert want in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["proxy", "--agent-id", "a"], "either as a command after -- (stdio) or as --upstream-url"),
        (["proxy", "--upstream-url", "fleet:8000", "--agent-id", "a"], "expected an http://"),
        (["proxy", "--listen", "8931", "--", "x"], "--listen '8931': expected HOST:PORT"),
        (["proxy", "--jwt-key", "/nonexistent.pem", "--", "x"], "--jwt-key /nonexistent.pem"),
    ],
)
def test_configuration_errors_exit_1_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_a_mapping_that_reads_unverified_claims_is_refused_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    m = tmp_path / "identity.yaml"
    m.write_text("fields:\n  agent_id: claims.sub\n")
    assert main(["proxy", "--mapping", str(m), "--to-file", str(tmp_path / "e"), "--", "x"]) == 1
    assert "reads claims.* but no --jwt-key" in capsys.readouterr().err


def test_an_upstream_that_cannot_start_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = str(tmp_path / "e.jsonl")
    assert main(["proxy", "--agent-id", "a", "--to-file", out, "--", "no-such-mcp-server"]) == 1
    err = capsys.readouterr().err
    assert "upstream MCP server 'no-such-mcp-server' could not be connected" in err
    assert "No such file or directory" in err


def test_stdio_proxy_forwards_then_refuses_once_revoked(tmp_path: Path, redis_url: str) -> None:
    events = tmp_path / "calls.jsonl"
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m", "monitor.cli", "proxy",
            "--agent-id", "spiffe://corp/agents/patcher-7", "--agent-kind", "autonomous",
            "--credential-id", "tok-81f2", "--to-file", str(events),
            "--", *FLEET_CMD,
        ],
        env=_env(MCPMON_REVOKER_REDIS_URL=redis_url),
        cwd=str(ROOT),
    )  # fmt: skip

    async def go() -> tuple[Any, MCPError]:
        async with Client(params) as client:
            ok = await client.call_tool("list_hosts", {})
            await deny(redis_url, command(scope="credential", credential_ids=["tok-81f2"]))
            with pytest.raises(MCPError) as refused:
                await client.call_tool("list_hosts", {})
            return ok, refused.value

    ok, err = asyncio.run(asyncio.wait_for(go(), 60))
    assert ok.structured_content == {"result": ["web-1", "web-2", "db-1"]}
    assert err.code == refusal.DENIED and list(err.data["denied"]) == ["credential"]
    got = [orjson.loads(x) for x in events.read_bytes().splitlines()]
    assert [(e["tool"], e["outcome"]) for e in got] == [
        ("list_hosts", "ok"),
        ("list_hosts", "denied"),
    ]
    assert {e["agent_id"] for e in got} == {"spiffe://corp/agents/patcher-7"}
    assert {e["agent_kind"] for e in got} == {"autonomous"}
    assert len({e["session_id"] for e in got}) == 1  # one stdio proxy, one session


def test_http_proxy_takes_identity_from_verified_tokens_and_serves_metrics(
    tmp_path: Path, redis_url: str
) -> None:
    (tmp_path / "hs.key").write_text(SECRET)
    (tmp_path / "identity.yaml").write_text(
        "fields:\n  agent_id: [claims.act.sub, claims.sub]\n  sponsor: claims.sub\n"
        "  credential_id: claims.jti\n  resources: [arguments.path]\n"
        "defaults: {agent_kind: delegated, tenant: corp}\n"
    )
    port, metrics_port = free_port(), free_port()
    events = tmp_path / "calls.jsonl"
    proxy = ProxyProcess(
        [
            "--listen", f"127.0.0.1:{port}", "--mapping", str(tmp_path / "identity.yaml"),
            "--jwt-key", str(tmp_path / "hs.key"), "--jwt-algorithm", "HS256",
            "--to-file", str(events), "--", *FLEET_CMD,
        ],
        _env(
            MCPMON_REVOKER_REDIS_URL=redis_url,
            MCPMON_PROXY_METRICS_PORT=str(metrics_port),
            MCPMON_METRICS_ADDR="127.0.0.1",
        ),
        tmp_path / "proxy.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"

    def client(key: str) -> Client:
        token = jwt.encode(
            {"sub": "alice@corp", "act": {"sub": "agent:code/3"}, "jti": "tok-9"}, key, "HS256"
        )
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        return Client(streamable_http_client(url, http_client=http))

    async def go() -> tuple[Any, MCPError, str]:
        async with client(SECRET) as c:
            ok = await c.call_tool("read_file", {"path": "file:///repo/src/app.py"})
        async with client("someone-elses-key-of-32-bytes-or-more") as c:
            with pytest.raises(MCPError) as refused:
                await c.call_tool("read_file", {"path": "file:///repo/.env"})
        async with httpx.AsyncClient() as h:
            text = (await h.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        return ok, refused.value, text

    try:
        proxy.wait_listening(port)
        ok, err, metrics = asyncio.run(asyncio.wait_for(go(), 60))
    finally:
        assert proxy.stop() == 0, proxy.tail()
    assert not ok.is_error
    assert err.code == refusal.NO_IDENTITY and "Signature verification failed" in err.message
    (event,) = [orjson.loads(x) for x in events.read_bytes().splitlines()]
    assert (event["agent_id"], event["sponsor"], event["credential_id"]) == (
        "agent:code/3",
        "alice@corp",
        "tok-9",
    )
    assert event["resources"] == ["file:///repo/src/app.py"] and event["agent_kind"] == "delegated"
    assert 'mcpmon_proxy_calls_total{outcome="ok"} 1.0' in metrics
    assert 'mcpmon_proxy_refused_total{reason="no_identity"} 1.0' in metrics
    assert "mcpmon_proxy_events_emitted_total 1.0" in metrics
    assert any(r.get("event") == "proxy_stopped" for r in proxy.logs())


def test_stdio_proxy_in_front_of_a_streamable_http_upstream(tmp_path: Path) -> None:
    port = free_port()
    upstream = subprocess.Popen(
        [*FLEET_CMD, "--http", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    events = tmp_path / "calls.jsonl"
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m", "monitor.cli", "proxy", "--agent-id", "a1", "--no-enforce",
            "--to-file", str(events), "--upstream-url", f"http://127.0.0.1:{port}/mcp",
        ],
        env=_env(),
        cwd=str(ROOT),
    )  # fmt: skip

    async def go() -> Any:
        async with Client(params) as client:
            return await client.call_tool("read_file", {"path": "/etc/motd"})

    try:
        _wait_port(port)
        result = asyncio.run(asyncio.wait_for(go(), 60))
    finally:
        upstream.terminate()
        upstream.wait(10)
    assert result.structured_content == {"result": "contents of /etc/motd"}
    (event,) = [orjson.loads(x) for x in events.read_bytes().splitlines()]
    assert (event["agent_id"], event["server"], event["outcome"]) == ("a1", "fleet", "ok")


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {timeout} s")
