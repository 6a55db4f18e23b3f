"""The Redis deny-list and the applied-set ledger against a real redis-server."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from monitor.revoker.actuators.denylist import RedisDenyList, connect, denied, deny_keys
from monitor.revoker.exceptions import ActuatorError, LedgerUnavailable
from monitor.revoker.ledger import RedisLedger
from monitor.revoker.plan import RetryPolicy
from monitor.revoker.revoker import Revoker
from tests.revoker.servers import RedisServer, free_port
from tests.revoker.support import command


async def apply(url: str, ttl: int = 600, timeout: float = 2.0, **kw: object) -> str:
    act = RedisDenyList(url, ttl_seconds=ttl, timeout=timeout)
    try:
        return await act.apply(command(**kw))
    finally:
        await act.aclose()


async def lookup(url: str, **ids: str | None) -> dict[str, dict[str, str]]:
    client = connect(url, 2.0)
    try:
        return await denied(client, deny_keys(**ids))
    finally:
        await client.aclose()


async def ttl_of(url: str, key: str) -> int:
    client = aioredis.Redis.from_url(url)
    try:
        return int(await client.ttl(key))
    finally:
        await client.aclose()


def test_task_scope_denies_its_credentials_and_the_task_with_expiry(redis_url: str) -> None:
    detail = asyncio.run(apply(redis_url, ttl=600))
    assert detail.startswith("denied 3 key(s) for 600 s: mcpmon:deny:credential:cred-1")
    hit = asyncio.run(lookup(redis_url, credential_id="cred-2", task_id="task-1", agent_id="x"))
    assert set(hit) == {"credential", "task"}
    assert hit["task"] == {
        "command_id": "cmd-1",
        "scope": "task",
        "reason": "lingering_access: call after task end",
        "ts": "2026-03-01T12:00:00+00:00",
    }
    assert 590 < asyncio.run(ttl_of(redis_url, "mcpmon:deny:task:task-1")) <= 600
    # another agent's call is not denied
    assert asyncio.run(lookup(redis_url, credential_id="cred-9", agent_id="other")) == {}


@pytest.mark.parametrize(
    ("scope", "extra", "kind", "value"),
    [
        ("agent", {}, "agent", "spiffe://corp/agents/a1"),
        ("session", {"session_id": "sess-7"}, "session", "sess-7"),
        ("credential", {}, "credential", "cred-1"),
    ],
)
def test_each_scope_denies_its_target(
    redis_url: str, scope: str, extra: dict[str, str], kind: str, value: str
) -> None:
    asyncio.run(apply(redis_url, scope=scope, **extra))
    assert kind in asyncio.run(lookup(redis_url, **{f"{kind}_id": value}))
    if scope == "credential":  # a credential command denies neither the task nor the agent
        assert asyncio.run(lookup(redis_url, task_id="task-1", agent_id=command().agent_id)) == {}


def test_ttl_zero_keeps_entries_and_repeats_are_harmless(redis_url: str) -> None:
    asyncio.run(apply(redis_url, ttl=0, scope="agent"))
    asyncio.run(apply(redis_url, ttl=0, scope="agent"))
    assert asyncio.run(ttl_of(redis_url, "mcpmon:deny:agent:spiffe://corp/agents/a1")) == -1


def test_server_down_is_retryable() -> None:
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5))
    assert err.value.retryable and "ConnectionError" in str(err.value)


def test_slow_server_times_out_retryably(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_server.command("CLIENT", "PAUSE", "400", "ALL") == b"+OK\r\n"
    try:
        with pytest.raises(ActuatorError) as err:
            asyncio.run(apply(redis_url, timeout=0.1))
        assert err.value.retryable and "Timeout" in str(err.value)
    finally:
        redis_server.command("CLIENT", "UNPAUSE")


def test_permission_error_is_final(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_server.command(
        "ACL", "SETUSER", "gw", "on", ">pw", "~*", "-@all", "+get", "+mget"
    ).startswith(b"+OK")
    url = redis_url.replace("redis://", "redis://gw:pw@")
    try:
        with pytest.raises(ActuatorError) as err:
            asyncio.run(apply(url))
        assert not err.value.retryable and "NoPermission" in str(err.value)
    finally:
        redis_server.command("ACL", "DELUSER", "gw")


def test_redis_ledger_survives_a_new_client_and_expires(redis_url: str) -> None:
    async def go() -> tuple[str | None, str | None, int]:
        first = RedisLedger(connect(redis_url, 2.0), ttl_seconds=3600)
        await first.record("cmd-1", "denylist", "denied 3 key(s)")
        await first.aclose()
        second = RedisLedger(connect(redis_url, 2.0), ttl_seconds=3600)  # a restarted revoker
        try:
            return (
                await second.applied("cmd-1", "denylist"),
                await second.applied("cmd-1", "oauth"),
                await second._client.ttl(second.key("cmd-1", "denylist")),
            )
        finally:
            await second.aclose()

    got, other, ttl = asyncio.run(go())
    assert got == "denied 3 key(s)" and other is None and 3590 < ttl <= 3600


def test_ledger_down_raises_ledger_unavailable() -> None:
    async def go() -> None:
        ledger = RedisLedger(connect(f"redis://127.0.0.1:{free_port()}/0", 0.5))
        try:
            await ledger.applied("cmd-1", "denylist")
        finally:
            await ledger.aclose()

    with pytest.raises(LedgerUnavailable):
        asyncio.run(go())


def test_revoker_with_redis_applies_once_across_restarts(redis_url: str) -> None:
    async def one_run() -> list[str]:
        r = Revoker(
            [RedisDenyList(redis_url)],
            RedisLedger(connect(redis_url, 2.0)),
            RetryPolicy(attempts=2, base_seconds=0.01),
        )
        try:
            return [a.status for a in (await r.handle(command())).acks]
        finally:
            await r.aclose()

    assert asyncio.run(one_run()) == ["applied"]
    assert asyncio.run(one_run()) == ["already_applied"]
