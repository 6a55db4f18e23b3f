"""``mcpmon proxy`` as deployed: a subprocess on stdio (launched by an SDK client, as an MCP
client's configuration would) and on streamable HTTP with verified bearer tokens and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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
from tests.proxy.support import deny, stdio
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
        (
            ["proxy", "--jwt-key", "/nonexistent.pem", "--listen", "127.0.0.1:1", "--", "x"],
            "--jwt-key /nonexistent.pem",
        ),
        # issue 13 item 7: aud and iss are required unless turned off by name
        (
            ["proxy", "--jwt-key", "/dev/null", "--listen", "127.0.0.1:1", "--", "x"],
            "--jwt-audience AUD is required",
        ),
        (
            ["proxy", "--jwt-key", "/dev/null", "--listen", "127.0.0.1:1",
             "--jwt-audience", "a", "--", "x"],
            "--jwt-issuer ISS is required",
        ),
        (
            ["proxy", "--jwt-jwks-url", "http://idp/jwks", "--jwt-no-audience",
             "--jwt-no-issuer", "--", "x"],
            "they need --listen",
        ),
        (["proxy", "--jwt-audience", "a", "--", "x"], "--jwt-audience without --jwt-key"),
        # issue 13 item 14: no password on the command line
        (
            ["proxy", "--redis-url", "redis://:s3cret@127.0.0.1:1/0", "--agent-id", "a", "--", "x"],
            "--redis-url holds a password",
        ),
        (
            ["proxy", "--redis-url", "redis://u:s3cret@r:6379/0", "--agent-id", "a", "--", "x"],
            "MCPMON_REVOKER_REDIS_URL or in a file given with --redis-url-file",
        ),
        (["proxy", "--redis-url-file", "/nonexistent", "--", "x"], "--redis-url-file /nonexistent"),
    ],
)  # fmt: skip
def test_configuration_errors_exit_1_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "s3cret" not in err  # the error names the flag, never repeats the password


def test_help_shows_only_a_safe_identity_mapping(capsys: pytest.CaptureFixture) -> None:
    """Issue 13 item 4: the example names who calls from verified claims only."""
    with pytest.raises(SystemExit):
        main(["proxy", "--help"])
    text = capsys.readouterr().out
    example = text[text.index("  fields:") : text.index("  defaults:")]
    for line in example.splitlines()[1:]:
        field, _, paths = line.strip().partition(":")
        if field in ("agent_id", "sponsor", "credential_id", "task_id", "tenant"):
            assert "headers." not in paths and "meta." not in paths, line
            assert "claims." in paths, line
    for want in ("--jwt-no-audience", "--jwt-jwks-url", "--redis-url-file", "--no-redact"):
        assert want in text
    assert "MCPMON_METRICS_ADDR (default 127.0.0.1" in text


def test_metrics_listen_on_loopback_unless_told_otherwise() -> None:
    """Issue 13 item 14: every service's /metrics binds MCPMON_METRICS_ADDR, loopback by default."""
    from prometheus_client import CollectorRegistry

    from monitor.metrics import serve
    from monitor.settings import load_settings

    assert load_settings(env={}).metrics_addr == "127.0.0.1"
    server = serve(CollectorRegistry(), 0)
    try:
        assert server.server.server_address[0] == "127.0.0.1"
    finally:
        server.close()


def test_a_mapping_from_headers_starts_with_a_warning(tmp_path: Path) -> None:
    """Issue 13 item 4: identity from the caller's word is said out loud at start."""
    (tmp_path / "identity.yaml").write_text(
        "fields:\n  agent_id: headers.x-agent-id\n  credential_id: headers.x-credential-id\n"
    )
    port = free_port()
    proxy = ProxyProcess(
        ["--listen", f"127.0.0.1:{port}", "--mapping", str(tmp_path / "identity.yaml"),
         "--no-enforce", "--to-file", str(tmp_path / "e.jsonl"), "--", *FLEET_CMD],
        _env(),
        tmp_path / "proxy.log",
    )  # fmt: skip
    try:
        proxy.wait_listening(port)
    finally:
        assert proxy.stop() == 0, proxy.tail()
    (warning,) = [r for r in proxy.logs() if r.get("event") == "identity_from_unverified_source"]
    assert warning["level"] == "warning"
    assert warning["fields"] == {
        "agent_id": ["headers.x-agent-id"],
        "credential_id": ["headers.x-credential-id"],
    }


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
    (tmp_path / "redis-url").write_text(redis_url + "\n")  # how a URL with a password is given
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m", "monitor.cli", "proxy",
            "--agent-id", "spiffe://corp/agents/patcher-7", "--agent-kind", "autonomous",
            "--credential-id", "tok-81f2", "--to-file", str(events),
            "--redis-url-file", str(tmp_path / "redis-url"),
            "--", *FLEET_CMD,
        ],
        env=_env(MCPMON_REVOKER_REDIS_URL="redis://127.0.0.1:1/0"),  # the file wins
        cwd=str(ROOT),
    )  # fmt: skip

    async def go() -> tuple[Any, MCPError]:
        async with Client(stdio(params)) as client:
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


def test_a_call_whose_client_goes_away_mid_call_is_still_written(tmp_path: Path) -> None:
    """An MCP client that forwards a call and exits before the answer: the server got the
    call and may act on it, so the proxy writes its event (outcome unknown) before it ends."""
    events = tmp_path / "calls.jsonl"
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m", "monitor.cli", "proxy", "--agent-id", "agent-9", "--no-enforce",
            "--to-file", str(events), "--", *FLEET_CMD,
        ],
        env=_env(),
        cwd=str(ROOT),
    )  # fmt: skip

    async def go() -> None:
        async with Client(stdio(params)) as client:
            await client.call_tool("list_hosts", {})
            pending = asyncio.ensure_future(client.call_tool("sleep", {"seconds": 60}))
            await asyncio.sleep(1.0)  # the proxy has it forwarded well before
        with contextlib.suppress(BaseException):
            await pending

    asyncio.run(asyncio.wait_for(go(), 60))
    got = [orjson.loads(x) for x in events.read_bytes().splitlines()]
    assert [(e["tool"], e["outcome"], e["agent_id"]) for e in got] == [
        ("list_hosts", "ok", "agent-9"),
        ("sleep", "unknown", "agent-9"),
    ]


def test_an_http_session_id_is_taken_only_when_the_transport_issued_it(tmp_path: Path) -> None:
    """Protocol 2026-07-28 has no sessions: an Mcp-Session-Id its client sends is the
    caller's word (a session-scoped revocation would be dodged by sending a new one), so
    the event carries none and the proxy says so once. A handshake-protocol client's
    session, issued by the proxy's transport (an unknown one is refused), is taken."""
    events = tmp_path / "calls.jsonl"
    port = free_port()
    proxy = ProxyProcess(
        ["--listen", f"127.0.0.1:{port}", "--agent-id", "agent-9", "--no-enforce",
         "--to-file", str(events), "--", *FLEET_CMD],
        _env(),
        tmp_path / "proxy.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"

    async def call(mode: Any, sid: str | None) -> None:
        headers = {"Mcp-Session-Id": sid} if sid else None
        async with (
            create_mcp_http_client(headers=headers) as http,
            Client(streamable_http_client(url, http_client=http), mode=mode) as c,
        ):
            await c.call_tool("list_hosts", {})
            await c.call_tool("read_file", {"path": "/srv/a"})

    try:
        proxy.wait_listening(port)
        for sid in ("forged-1", "forged-2"):
            asyncio.run(asyncio.wait_for(call("auto", sid), 60))
        asyncio.run(asyncio.wait_for(call("legacy", None), 60))
    finally:
        assert proxy.stop() == 0, proxy.tail()
    got = [orjson.loads(x) for x in events.read_bytes().splitlines()]
    sessions = [e.get("session_id") for e in got]
    assert sessions[:4] == [None] * 4, sessions
    assert sessions[4] == sessions[5] and len(sessions[4] or "") == 32, sessions  # issued
    told = [x for x in proxy.logs() if x.get("event") == "no_session_id"]
    assert [x["tool"] for x in told] == ["list_hosts"]


def _raw_sleep(url: str, seconds: float) -> str:
    """A protocol 2026-07-28 ``sleep`` call as one plain POST, whose connection stays open
    until the proxy answers or closes it (an SDK client gives up on its own when the proxy
    stops listening); the answer's text, or the error's name."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "sleep", "arguments": {"seconds": seconds}, "_meta": meta}}  # fmt: skip
    headers = {"accept": "application/json, text/event-stream", "mcp-protocol-version":
               "2026-07-28", "mcp-method": "tools/call", "mcp-name": "sleep"}  # fmt: skip
    try:
        return httpx.post(url, json=body, headers=headers, timeout=200).text
    except httpx.HTTPError as err:
        return type(err).__name__


def test_sigterm_drains_calls_under_way_then_cancels_the_rest_each_still_an_event(
    tmp_path: Path,
) -> None:
    """A hung call must not hold an HTTP proxy (and the events it buffers) past SIGTERM
    into the orchestrator's SIGKILL: calls get MCPMON_PROXY_DRAIN_SECONDS to end (a short
    one is answered), the rest are cancelled, each written with outcome unknown."""
    events = tmp_path / "calls.jsonl"
    port = free_port()
    proxy = ProxyProcess(
        ["--listen", f"127.0.0.1:{port}", "--agent-id", "agent-9", "--no-enforce",
         "--to-file", str(events), "--", *FLEET_CMD],
        _env(MCPMON_PROXY_DRAIN_SECONDS="3"),
        tmp_path / "proxy.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        proxy.wait_listening(port)
        with ThreadPoolExecutor(2) as pool:
            short, hung = (pool.submit(_raw_sleep, url, s) for s in (1.5, 120))
            time.sleep(1.0)  # both forwarded well before
            proxy.proc.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            assert proxy.proc.wait(30) == 0, proxy.tail()  # not the hung call's 120 s
            took = time.monotonic() - stopped
            answers = short.result(10), hung.result(10)
    finally:
        proxy.stop()
    assert 0.4 < took < 20, took  # the short call was waited for
    assert "slept 1.5" in answers[0] and "slept" not in answers[1]
    got = [orjson.loads(x) for x in events.read_bytes().splitlines()]
    assert sorted((e["args"]["seconds"], e["outcome"]) for e in got) == [
        (1.5, "ok"),
        (120, "unknown"),
    ]
    assert [x["tool"] for x in proxy.logs() if x.get("event") == "call_cancelled"] == ["sleep"]


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
            "--jwt-audience", "mcp-fleet", "--jwt-issuer", "https://idp.corp",
            "--to-file", str(events), "--", *FLEET_CMD,
        ],
        _env(
            MCPMON_REVOKER_REDIS_URL=redis_url,
            MCPMON_PROXY_METRICS_PORT=str(metrics_port),  # on the default address: loopback
        ),
        tmp_path / "proxy.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"

    def client(key: str, **claims: Any) -> Client:
        good = {"aud": "mcp-fleet", "iss": "https://idp.corp", "exp": int(time.time()) + 600}
        payload = {"sub": "alice@corp", "act": {"sub": "agent:code/3"}, "jti": "tok-9", **good}
        payload.update(claims)
        token = jwt.encode({k: v for k, v in payload.items() if v is not None}, key, "HS256")
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        return Client(streamable_http_client(url, http_client=http))

    async def refused(c: Client) -> list[MCPError]:
        """Issue 13 item 3: a bad token gets no tool, resource, prompt or listing."""
        out = []
        for request in (
            c.call_tool("read_file", {"path": "file:///repo/.env"}),
            c.read_resource("fleet://hosts"),
            c.get_prompt("triage", {"host": "web-1"}),
            c.list_tools(),
        ):
            with pytest.raises(MCPError) as err:
                await request
            out.append(err.value)
        return out

    async def go() -> tuple[Any, list[MCPError], list[MCPError], str]:
        async with client(SECRET) as c:
            ok = await c.call_tool("read_file", {"path": "file:///repo/src/app.py"})
        async with client("someone-elses-key-of-32-bytes-or-more") as c:
            forged = await refused(c)
        async with client(SECRET, exp=None) as c:  # issue 13 item 7: no exp, no entry
            no_exp = await refused(c)
        async with httpx.AsyncClient() as h:
            text = (await h.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        return ok, forged, no_exp, text

    try:
        proxy.wait_listening(port)
        ok, forged, no_exp, metrics = asyncio.run(asyncio.wait_for(go(), 60))
    finally:
        assert proxy.stop() == 0, proxy.tail()
    assert not ok.is_error
    for err in forged:
        assert err.code == refusal.NO_IDENTITY and "Signature verification failed" in err.message
    for err in no_exp:
        assert err.code == refusal.NO_IDENTITY and 'missing the "exp" claim' in err.message
    (serving,) = [r for r in proxy.logs() if r.get("event") == "metrics_serving"]
    assert serving["addr"] == "127.0.0.1"
    (event,) = [orjson.loads(x) for x in events.read_bytes().splitlines()]
    assert (event["agent_id"], event["sponsor"], event["credential_id"]) == (
        "agent:code/3",
        "alice@corp",
        "tok-9",
    )
    assert event["resources"] == ["file:///repo/src/app.py"] and event["agent_kind"] == "delegated"
    assert 'mcpmon_proxy_calls_total{outcome="ok"} 1.0' in metrics
    logged = [r["tool"] for r in proxy.logs() if r.get("event") == "call_refused"]
    assert {"read_file", "resources/read", "prompts/get", "tools/list"} == set(logged)
    # each refusal counted once (the SDK client may list tools before a call, too)
    refused_line = [x for x in metrics.splitlines() if x.startswith("mcpmon_proxy_refused_total")]
    assert refused_line == [f'mcpmon_proxy_refused_total{{reason="no_identity"}} {len(logged)}.0']
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
        async with Client(stdio(params)) as client:
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


def test_http_proxy_verifies_tokens_with_keys_from_a_jwks_url(tmp_path: Path) -> None:
    """Issue 13 item 7: --jwt-jwks-url, served by a real local JWKS endpoint."""
    from tests.proxy.jwks import AUDIENCE, ISSUER, JwksServer, SigningKey

    k1 = SigningKey("k1")
    jwks = JwksServer(k1)
    (tmp_path / "identity.yaml").write_text(
        "fields:\n  agent_id: claims.act.sub\n  credential_id: claims.jti\n"
    )
    port = free_port()
    events = tmp_path / "calls.jsonl"
    proxy = ProxyProcess(
        [
            "--listen", f"127.0.0.1:{port}", "--mapping", str(tmp_path / "identity.yaml"),
            "--jwt-jwks-url", jwks.url, "--jwt-audience", AUDIENCE, "--jwt-issuer", ISSUER,
            "--no-enforce", "--to-file", str(events), "--", *FLEET_CMD,
        ],
        _env(),
        tmp_path / "proxy.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"

    def client(token: str) -> Client:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        return Client(streamable_http_client(url, http_client=http))

    async def go() -> tuple[Any, MCPError]:
        async with client(k1.token(act={"sub": "agent:code/3"}, jti="tok-1")) as c:
            ok = await c.read_resource("fleet://hosts")
        unknown = SigningKey("k-unpublished").token(act={"sub": "agent:admin"}, jti="x")
        async with client(unknown) as c:
            with pytest.raises(MCPError) as refused:
                await c.read_resource("fleet://hosts")
        return ok, refused.value

    try:
        proxy.wait_listening(port)
        ok, err = asyncio.run(asyncio.wait_for(go(), 60))
    finally:
        assert proxy.stop() == 0, proxy.tail()
        jwks.close()
    assert ok.contents[0].text == "web-1\nweb-2\ndb-1"
    # even with --no-enforce a bad token is refused: verification is configured
    assert err.code == refusal.NO_IDENTITY and "Unable to find a signing key" in err.message
    (event,) = [orjson.loads(x) for x in events.read_bytes().splitlines()]
    assert (event["tool"], event["agent_id"], event["credential_id"]) == (
        "resources/read",
        "agent:code/3",
        "tok-1",
    )
