"""The refusals an agent receives: JSON-RPC error code, message and ``data``, exactly.

MCP clients and gateways in front of the proxy read these (``monitor/proxy/refusal.py``
documents the table): the code tells the refusals apart, ``data.reason`` and the other
keys say why, and the message is what a person reading the client's error sees. Each
builder is pinned here, and the token-expiry refusal also end to end in-process: a
real SDK client on the gateway, the real fleet server upstream, the real JWT check.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from monitor.proxy import refusal
from monitor.proxy.emit import FileEmitter
from monitor.proxy.gateway import Gateway
from monitor.proxy.identity import IdentityResolver, JwtConfig
from monitor.proxy.metrics import ProxyMetrics
from tests.proxy.support import FLEET, stdio

ENTRY = {"command_id": "cmd-1", "scope": "credential", "reason": "exfil", "ts": "2026-01-01T00:00:00Z"}  # fmt: skip


def test_denied_names_every_kind_on_the_deny_list_and_the_first_kinds_reason() -> None:
    entries = {
        "task": {**ENTRY, "scope": "task", "reason": "task hijacked"},
        "credential": ENTRY,
    }
    err = refusal.denied("read_file", entries)
    assert err.code == refusal.DENIED == -32010
    assert err.message == (
        "call to read_file refused: access revoked (credential, task on the deny-list): exfil"
    )
    assert err.data == {"reason": "denied", "denied": entries}


def test_denied_without_a_reason_says_revoked_by_the_monitor() -> None:
    for entry in ({**ENTRY, "reason": None}, {k: v for k, v in ENTRY.items() if k != "reason"}):
        err = refusal.denied("read_file", {"agent": entry})
        assert err.message == (
            "call to read_file refused: access revoked (agent on the deny-list): "
            "revoked by the monitor"
        )


def test_denylist_unavailable_says_the_proxy_fails_closed_and_carries_the_error() -> None:
    err = refusal.unavailable("tools/list", "TimeoutError: 0.5 s")
    assert err.code == refusal.DENYLIST_UNAVAILABLE == -32011
    assert err.message == (
        "call to tools/list refused: the deny-list could not be checked (TimeoutError: 0.5 s); "
        "this proxy fails closed"
    )
    assert err.data == {"reason": "denylist_unavailable", "error": "TimeoutError: 0.5 s"}


def test_no_identity_carries_the_error_and_the_field_only_when_one_is_named() -> None:
    err = refusal.no_identity("read_file", "no bearer token", "claims")
    assert err.code == refusal.NO_IDENTITY == -32012
    assert err.message == (
        "call to read_file refused: the caller's identity is unknown or refused (no bearer token)"
    )
    assert err.data == {"reason": "no_identity", "error": "no bearer token", "field": "claims"}
    assert refusal.no_identity("read_file", "bad").data == {"reason": "no_identity", "error": "bad"}


def test_policy_names_the_check_the_clause_key_and_text_and_the_detail() -> None:
    err = refusal.policy(
        "delete_repo", "out_of_charter_tool:tools", "tools", "fleet/list_hosts", "not granted"
    )
    assert err.code == refusal.POLICY == -32013
    assert err.message == (
        "call to delete_repo refused by the agent's charter (tools: fleet/list_hosts): not granted"
    )
    assert err.data == {
        "reason": "policy",
        "check": "out_of_charter_tool:tools",
        "clause": {"key": "tools", "text": "fleet/list_hosts"},
        "detail": "not granted",
    }


def test_policy_unavailable_says_inline_fails_closed_and_carries_the_error() -> None:
    err = refusal.policy_unavailable("read_file", "KeyError: 'x'")
    assert err.code == refusal.POLICY_UNAVAILABLE == -32014
    assert err.message == (
        "call to read_file refused: the charter decision could not be made (KeyError: 'x'); "
        "--policy inline fails closed"
    )
    assert err.data == {"reason": "policy_unavailable", "error": "KeyError: 'x'"}


def test_token_expired_names_the_check_and_the_expiry_in_rfc3339_utc() -> None:
    err = refusal.token_expired("read_file", 1767225600.25)  # 2026-01-01, a quarter second on
    assert err.code == refusal.TOKEN_EXPIRED == -32015
    when = "2026-01-01T00:00:00.250000Z"
    assert err.message == f"call to read_file refused: the bearer token expired at {when}"
    assert err.data == {"reason": "token_expired", "check": "token_expired", "expired_at": when}


# ------------------------------------------------- token_expired, as the client receives it

SECRET = "a-test-hmac-secret-of-at-least-32-bytes!"
HS = JwtConfig(key=SECRET, algorithms=("HS256",), audience="mcp-fleet", issuer="https://idp.corp")
MAPPING = "fields:\n  agent_id: [claims.sub]\n  credential_id: claims.jti\n"
EXPIRED_AT = 1767225600  # 2026-01-01T00:00:00Z, long past


class BearerResolver(IdentityResolver):
    """The proxy's resolver, given the ``Authorization`` header an HTTP client sends with
    every request: the in-process connection carries no HTTP headers of its own."""

    token = ""

    def resolve(
        self,
        tool: str,
        arguments: Any,
        meta: Any = None,
        headers: Any = None,
        **kw: Any,
    ) -> Any:
        return super().resolve(
            tool, arguments, meta, {"Authorization": f"Bearer {self.token}"}, **kw
        )


def _expired_token() -> str:
    claims = {"sub": "agent:code/3", "jti": "tok-9", "aud": "mcp-fleet",
              "iss": "https://idp.corp", "exp": EXPIRED_AT}  # fmt: skip
    return jwt.encode(claims, SECRET, "HS256")


def test_an_expired_token_reaches_the_client_as_token_expired_with_its_data(
    tmp_path: Path,
) -> None:
    (tmp_path / "identity.yaml").write_text(MAPPING)
    events = tmp_path / "events.jsonl"

    async def go() -> list[MCPError]:
        metrics = ProxyMetrics()
        sink = FileEmitter(events, metrics)
        await sink.start()
        try:
            async with Client(stdio(FLEET)) as upstream:
                identity = BearerResolver.build(
                    tmp_path / "identity.yaml", {}, upstream_name="fleet", jwt=HS
                )
                assert isinstance(identity, BearerResolver)
                identity.token = _expired_token()
                gateway = Gateway(upstream, identity, sink, metrics)
                out = []
                async with Client(gateway.server()) as client:
                    for request in (
                        client.call_tool("read_file", {"path": "/srv/app.py"}),
                        client.list_tools(),
                    ):
                        with pytest.raises(MCPError) as err:
                            await request
                        out.append(err.value)
                return out
        finally:
            await sink.close()

    call, listing = asyncio.run(asyncio.wait_for(go(), 60))
    when = "2026-01-01T00:00:00Z"
    for err, what in ((call, "read_file"), (listing, "tools/list")):
        assert err.code == -32015
        assert err.message == f"call to {what} refused: the bearer token expired at {when}"
        assert err.data == {"reason": "token_expired", "check": "token_expired", "expired_at": when}
    [event] = [orjson.loads(x) for x in events.read_bytes().splitlines()]  # the call's only
    assert (event["outcome"], event["denied_by"], event["agent_id"]) == (
        "denied",
        "token_expired",
        "agent:code/3",
    )
