"""A bearer token past its own expiry: refused as its own check, with an event saying so.

Issue 18 lists "the token's own expiry" among the proxy's inline checks. A token
that verifies (signature, audience, issuer) but is past ``exp`` is a known
caller whose time is up: -32015 ``token_expired`` naming the check, and the
call's event says ``outcome: denied``, ``denied_by: token_expired``, under the
identity its verified claims name. A token that does not verify stays -32012
``no_identity`` with no event (nothing in it can be trusted).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from monitor.errors import DecodeError
from monitor.proxy import refusal
from monitor.proxy.identity import IdentityResolver, JwtConfig, TokenExpired
from tests.proxy.processes import FLEET_CMD, ProxyProcess
from tests.proxy.test_command import _env
from tests.revoker.servers import free_port

SECRET = "a-test-hmac-secret-of-at-least-32-bytes!"
FORGER = "someone-elses-key-of-32-bytes-or-more"
HS = JwtConfig(key=SECRET, algorithms=("HS256",), audience="mcp-fleet", issuer="https://idp.corp")
MAPPING = (
    "fields:\n  agent_id: [claims.act.sub, claims.sub]\n  sponsor: claims.sub\n"
    "  credential_id: claims.jti\n"
)
EXPIRED_AT = int(time.time()) - 60


def _token(key: str = SECRET, **claims: Any) -> str:
    payload = {"sub": "alice@corp", "act": {"sub": "agent:code/3"}, "jti": "tok-9",
               "aud": "mcp-fleet", "iss": "https://idp.corp", "exp": EXPIRED_AT, **claims}  # fmt: skip
    return jwt.encode(payload, key, "HS256")


def _resolver(tmp_path: Path) -> IdentityResolver:
    (tmp_path / "identity.yaml").write_text(MAPPING)
    return IdentityResolver.build(tmp_path / "identity.yaml", {}, upstream_name="fleet", jwt=HS)


def test_an_expired_verified_token_resolves_to_its_identity_but_is_refused(
    tmp_path: Path,
) -> None:
    r = _resolver(tmp_path)
    with pytest.raises(TokenExpired) as expired:
        r.resolve("t", {}, None, {"Authorization": f"Bearer {_token()}"})
    err = expired.value
    assert isinstance(err, DecodeError) and err.field == "claims"
    assert "Signature has expired" in err.reason and err.expired_at == EXPIRED_AT
    assert err.identity is not None
    assert (err.identity.agent_id, err.identity.ids["credential_id"]) == ("agent:code/3", "tok-9")


@pytest.mark.parametrize(
    "claims", [{"aud": "elsewhere"}, {"iss": "https://evil.example"}], ids=["aud", "iss"]
)
def test_an_expired_token_that_does_not_verify_is_no_identity_as_before(
    tmp_path: Path, claims: dict[str, Any]
) -> None:
    r = _resolver(tmp_path)
    for token in (_token(FORGER), _token(**claims)):
        with pytest.raises(DecodeError) as refused:
            r.resolve("t", {}, None, {"Authorization": f"Bearer {token}"})
        assert not isinstance(refused.value, TokenExpired)
    live = _token(exp=int(time.time()) + 600)  # near miss: not expired, resolves
    assert r.resolve("t", {}, None, {"Authorization": f"Bearer {live}"}).agent_id == "agent:code/3"


def test_the_proxy_refuses_an_expired_token_naming_the_check_and_emits_a_denied_event(
    tmp_path: Path,
) -> None:
    (tmp_path / "hs.key").write_text(SECRET)
    (tmp_path / "identity.yaml").write_text(MAPPING)
    port, metrics_port = free_port(), free_port()
    events = tmp_path / "calls.jsonl"
    proxy = ProxyProcess(
        [
            "--listen", f"127.0.0.1:{port}", "--mapping", str(tmp_path / "identity.yaml"),
            "--jwt-key", str(tmp_path / "hs.key"), "--jwt-algorithm", "HS256",
            "--jwt-audience", "mcp-fleet", "--jwt-issuer", "https://idp.corp",
            "--no-enforce", "--to-file", str(events), "--", *FLEET_CMD,
        ],
        _env(MCPMON_PROXY_METRICS_PORT=str(metrics_port)),
        tmp_path / "proxy.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"

    def client(token: str) -> Client:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        return Client(streamable_http_client(url, http_client=http))

    async def refused(token: str) -> list[MCPError]:
        out = []
        async with client(token) as c:
            for request in (c.call_tool("read_file", {"path": "/srv/app.py"}), c.list_tools()):
                with pytest.raises(MCPError) as err:
                    await request
                out.append(err.value)
        return out

    async def go() -> tuple[list[MCPError], list[MCPError], str]:
        expired, forged = await refused(_token()), await refused(_token(FORGER))
        async with httpx.AsyncClient() as h:
            text = (await h.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        return expired, forged, text

    try:
        proxy.wait_listening(port)
        expired, forged, metrics = asyncio.run(asyncio.wait_for(go(), 60))
    finally:
        assert proxy.stop() == 0, proxy.tail()
    for err in expired:
        assert err.code == refusal.TOKEN_EXPIRED
        assert err.data["reason"] == err.data["check"] == "token_expired"
        assert err.data["expired_at"].endswith("Z") and "expired" in err.message
    for err in forged:  # a bad signature: refused as before, no event
        assert err.code == refusal.NO_IDENTITY
    (event,) = [orjson.loads(x) for x in events.read_bytes().splitlines()]  # the call, not the list
    assert (event["outcome"], event["denied_by"], event["tool"]) == (
        "denied",
        "token_expired",
        "read_file",
    )
    assert (event["agent_id"], event["sponsor"], event["credential_id"]) == (
        "agent:code/3",
        "alice@corp",
        "tok-9",
    )
    logged = [r for r in proxy.logs() if r.get("reason") == "token_expired"]
    assert {r["tool"] for r in logged} == {"read_file", "tools/list"}
    assert f'mcpmon_proxy_refused_total{{reason="token_expired"}} {len(logged)}.0' in metrics
    assert 'mcpmon_proxy_calls_total{outcome="denied"} 2.0' in metrics  # expired and forged
