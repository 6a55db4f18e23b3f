"""Vault lease revocation against a real local server with Vault's API shape."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
import pytest

from monitor.revoker.actuators.vault import VaultLeases
from monitor.revoker.exceptions import ActuatorError
from tests.revoker.servers import Behaviour, HTTPServer, Reply, Request, closed_url
from tests.revoker.support import command

Start = Callable[[Behaviour], HTTPServer]
TOKEN = "hvs.test"


class Vault:
    """``PUT /v1/sys/leases/revoke`` and ``/revoke-prefix/<prefix>``: 204, 403 bad token."""

    def __init__(self) -> None:
        self.leases = {"cred-1", "cred-2", "mcp/creds/a1/x", "mcp/creds/a1/y", "mcp/creds/b2/z"}
        self.calls: list[tuple[str, str]] = []

    def __call__(self, req: Request) -> Reply:
        if req.headers.get("x-vault-token") != TOKEN:
            return Reply(403, b'{"errors":["permission denied"]}')
        if req.method != "PUT":
            return Reply(405)
        if req.path == "/v1/sys/leases/revoke":
            lease = orjson.loads(req.body)["lease_id"]
            self.calls.append(("revoke", lease))
            self.leases.discard(lease)
            return Reply(204)
        prefix_path = "/v1/sys/leases/revoke-prefix/"
        if req.path.startswith(prefix_path):
            prefix = req.path[len(prefix_path) :]
            self.calls.append(("revoke-prefix", prefix))
            self.leases = {x for x in self.leases if not x.startswith(prefix)}
            return Reply(204)
        return Reply(404, b'{"errors":[]}')


def leases(addr: str, token: str = TOKEN, template: str = "", timeout: float = 2.0) -> VaultLeases:
    return VaultLeases(addr, token, prefix_template=template, timeout=timeout)


async def apply(act: VaultLeases, **kw: object) -> str:
    try:
        return await act.apply(command(**kw))
    finally:
        await act.aclose()


def test_revokes_each_credential_lease(http_server: Start) -> None:
    v = Vault()
    srv = http_server(v)
    detail = asyncio.run(apply(leases(srv.url(""))))
    assert sorted(v.calls) == [("revoke", "cred-1"), ("revoke", "cred-2")]
    assert detail == "revoked 2 lease(s)" and "cred-1" not in v.leases


def test_revoke_prefix_for_a_wider_scope(http_server: Start) -> None:
    v = Vault()
    srv = http_server(v)
    detail = asyncio.run(
        apply(
            leases(srv.url(""), template="mcp/creds/{agent_id}/"),
            scope="agent",
            agent_id="a1",
            credential_ids=[],
        )
    )
    assert v.calls == [("revoke-prefix", "mcp/creds/a1/")]
    assert v.leases == {"cred-1", "cred-2", "mcp/creds/b2/z"}
    assert detail == "revoked 0 lease(s) and prefix mcp/creds/a1/"


def test_an_empty_placeholder_never_widens_the_prefix(http_server: Start) -> None:
    srv = http_server(Vault())
    with pytest.raises(ActuatorError) as err:
        asyncio.run(
            apply(leases(srv.url(""), template="mcp/{task_id}/"), scope="agent", task_id=None)
        )
    assert not err.value.retryable and "unsafe prefix" in str(err.value)
    assert srv.requests == []


def test_permission_denied_is_final(http_server: Start) -> None:
    srv = http_server(Vault())
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(leases(srv.url(""), token="wrong")))
    assert not err.value.retryable and "HTTP 403" in str(err.value)


def test_sealed_vault_503_is_retryable(http_server: Start) -> None:
    srv = http_server(lambda r: Reply(503, b'{"errors":["Vault is sealed"]}'))
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(leases(srv.url(""))))
    assert err.value.retryable and "sealed" in str(err.value)


def test_down_is_retryable() -> None:
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(leases(closed_url(""))))
    assert err.value.retryable


def test_slow_is_retryable(http_server: Start) -> None:
    srv = http_server(lambda r: Reply(204, delay=0.6))
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(leases(srv.url(""), timeout=0.1)))
    assert err.value.retryable
