"""The Redis deny-list and the applied-set ledger against a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from monitor.retry import RetryPolicy
from monitor.revoker.actuators.denylist import RedisDenyList, connect, denied, deny_keys
from monitor.revoker.exceptions import ActuatorError, LedgerUnavailable
from monitor.revoker.ledger import RedisLedger
from monitor.revoker.revoker import Revoker
from tests.revoker.servers import RedisServer, free_port
from tests.revoker.support import T0, command

NOW = T0.timestamp()  # the actuator's clock in these tests: the command's time


async def apply(url: str, ttl: int = 600, timeout: float = 2.0, **kw: object) -> str:
    act = RedisDenyList(url, ttl_seconds=ttl, timeout=timeout, clock=lambda: NOW)
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
    detail = asyncio.run(apply(redis_url, ttl=600, expires_at=T0 + timedelta(hours=2)))
    # held until the credentials' expiry + 300 s margin, not the configured 600 s
    assert detail.startswith("denied 3 key(s) for 7500 s: mcpmon:deny:credential:cred-1")
    hit = asyncio.run(lookup(redis_url, credential_id="cred-2", task_id="task-1", agent_id="x"))
    assert set(hit) == {"credential", "task"}
    assert hit["task"] == {
        "command_id": "cmd-1",
        "scope": "task",
        "reason": "lingering_access: call after task end",
        "ts": "2026-03-01T12:00:00+00:00",
    }
    for key in ("task:task-1", "credential:cred-1", "credential:cred-2"):
        assert 7490 < asyncio.run(ttl_of(redis_url, f"mcpmon:deny:{key}")) <= 7500
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


def ttls(url: str, *keys: str) -> list[int]:
    return [asyncio.run(ttl_of(url, f"mcpmon:deny:{k}")) for k in keys]


def test_agent_scope_holds_until_an_operator_lifts_it(redis_url: str) -> None:
    """13.6: a 24 h expiry let the agent back in the next day. Agent scope: no expiry."""
    detail = asyncio.run(
        apply(redis_url, ttl=86_400, scope="agent", expires_at=T0 + timedelta(hours=1))
    )
    assert "without expiry" in detail
    assert ttls(redis_url, "agent:spiffe://corp/agents/a1") == [-1]


def test_credential_scope_holds_until_the_credentials_expiry(redis_url: str) -> None:
    """13.6: a credential valid for 8 days stays denied 8 days (+ margin), not 24 h."""
    asyncio.run(
        apply(
            redis_url,
            ttl=86_400,
            scope="credential",
            credential_ids=["cred-1"],
            expires_at=T0 + timedelta(days=8),
        )
    )
    (ttl,) = ttls(redis_url, "credential:cred-1")
    assert 8 * 86_400 + 290 < ttl <= 8 * 86_400 + 300


def test_a_credential_of_unknown_expiry_is_held_without_expiry(redis_url: str) -> None:
    asyncio.run(apply(redis_url, ttl=86_400, scope="credential", credential_ids=["cred-1"]))
    assert ttls(redis_url, "credential:cred-1") == [-1]


def test_an_expired_credential_is_still_held_for_the_margin(redis_url: str) -> None:
    asyncio.run(
        apply(
            redis_url,
            scope="credential",
            credential_ids=["cred-1"],
            expires_at=T0 - timedelta(hours=1),
        )
    )
    (ttl,) = ttls(redis_url, "credential:cred-1")
    assert 290 < ttl <= 300


def test_a_task_without_credentials_is_held_for_the_configured_ttl(redis_url: str) -> None:
    asyncio.run(apply(redis_url, ttl=600, credential_ids=[]))
    (ttl,) = ttls(redis_url, "task:task-1")
    assert 590 < ttl <= 600


def test_an_entry_is_never_shortened(redis_server: RedisServer, redis_url: str) -> None:
    """An operator's own entry (no expiry) and a longer hold survive a shorter command."""
    redis_server.command("SET", "mcpmon:deny:credential:cred-1", "{}")
    redis_server.command("SET", "mcpmon:deny:task:task-1", "{}", "EX", "99999")
    asyncio.run(apply(redis_url, ttl=600, expires_at=T0 + timedelta(minutes=10)))
    one, two, task = ttls(redis_url, "credential:cred-1", "credential:cred-2", "task:task-1")
    assert one == -1 and 890 < two <= 900 and 99_990 < task <= 99_999
    # the value is the newest command's, so the gateway names it
    hit = asyncio.run(lookup(redis_url, credential_id="cred-1"))
    assert hit["credential"]["command_id"] == "cmd-1"
    # and a longer hold does lengthen a shorter one
    asyncio.run(apply(redis_url, ttl=600, expires_at=T0 + timedelta(hours=5)))
    assert 18_290 < ttls(redis_url, "credential:cred-2")[0] <= 18_300


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"scope": "agent", "agent_id": "SPIFFE://Corp/agents/a1"}, "agent_id"),
        ({"credential_ids": ["cred-1", "cred-2\u200b"]}, "credential_id"),
        ({"task_id": "task-1 "}, "task_id"),
        ({"scope": "session", "session_id": "s\x00"}, "session_id"),
        ({"scope": "agent", "agent_id": "spiffe://corp//agents/a1"}, "agent_id"),
    ],
)
def test_non_canonical_ids_are_refused_and_nothing_is_written(
    redis_server: RedisServer, redis_url: str, kw: dict[str, object], field: str
) -> None:
    """13.5: a key spelled unlike the gateway's lookup denies nothing: refuse, say why."""
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(redis_url, **kw))
    assert not err.value.retryable
    assert str(err.value).startswith(f"denylist: refused: {field}")
    assert redis_server.command("DBSIZE") == b":0\r\n"


def test_ledger_keeps_a_command_as_long_as_its_deny_entry_holds(redis_url: str) -> None:
    """A re-sent command must not be re-applied while what it did still matters (an
    operator's lift would be undone): the applied-set outlives the deny entry."""

    async def keep(cmd_kw: dict[str, object]) -> int:
        ledger = RedisLedger(connect(redis_url, 2.0), ttl_seconds=3600, clock=lambda: NOW)
        try:
            cmd = command(**cmd_kw)
            await ledger.record(cmd.command_id, "denylist", "ok", command=cmd)
            return int(await ledger._client.ttl(ledger.key(cmd.command_id, "denylist")))
        finally:
            await ledger.aclose()

    assert asyncio.run(keep({"command_id": "a", "scope": "agent"})) == -1
    assert asyncio.run(keep({"command_id": "b"})) == -1  # credentials of unknown expiry
    far = asyncio.run(keep({"command_id": "c", "expires_at": T0 + timedelta(days=40)}))
    assert 40 * 86_400 + 290 < far <= 40 * 86_400 + 300
    near = asyncio.run(keep({"command_id": "d", "expires_at": T0 + timedelta(minutes=5)}))
    assert 3590 < near <= 3600  # never less than the ledger's ttl_seconds


def test_a_lifted_agent_deny_is_not_undone_by_a_re_sent_command(
    redis_server: RedisServer, redis_url: str
) -> None:
    async def run(cmd_id: str) -> list[str]:
        r = Revoker(
            [RedisDenyList(redis_url)],
            RedisLedger(connect(redis_url, 2.0), ttl_seconds=3600),
            RetryPolicy(attempts=2, base_seconds=0.01),
        )
        try:
            return [
                a.status for a in (await r.handle(command(command_id=cmd_id, scope="agent"))).acks
            ]
        finally:
            await r.aclose()

    key = "mcpmon:deny:agent:spiffe://corp/agents/a1"
    assert asyncio.run(run("cmd-a")) == ["applied"]
    assert ttls(redis_url, "agent:spiffe://corp/agents/a1") == [-1]
    assert asyncio.run(ttl_of(redis_url, "mcpmon:revoker:applied:cmd-a:denylist")) == -1
    redis_server.command("DEL", key)  # the operator lifts it
    assert asyncio.run(run("cmd-a")) == ["already_applied"]  # a re-send: stays lifted
    assert asyncio.run(lookup(redis_url, agent_id="spiffe://corp/agents/a1")) == {}
    assert asyncio.run(run("cmd-b")) == ["applied"]  # a new cause (new id) denies again
    assert "agent" in asyncio.run(lookup(redis_url, agent_id="spiffe://corp/agents/a1"))


def test_the_detail_names_every_key_written_and_how_long_it_holds(redis_url: str) -> None:
    """The ack's detail is the operator's record of what the deny-list now refuses."""
    detail = asyncio.run(apply(redis_url, ttl=600, expires_at=T0 + timedelta(hours=2)))
    assert detail == (
        "denied 3 key(s) for 7500 s: mcpmon:deny:credential:cred-1, "
        "mcpmon:deny:credential:cred-2, mcpmon:deny:task:task-1"
    )
    agent = asyncio.run(apply(redis_url, scope="agent", credential_ids=[]))
    assert agent == "denied 1 key(s) without expiry: mcpmon:deny:agent:spiffe://corp/agents/a1"


def test_a_command_naming_no_target_writes_nothing_and_says_so(
    redis_server: RedisServer, redis_url: str
) -> None:
    detail = asyncio.run(apply(redis_url, scope="credential", credential_ids=[]))
    assert detail == "nothing to deny: the command names no target"
    assert redis_server.command("DBSIZE") == b":0\r\n"


def test_ttl_zero_holds_even_expiring_credentials_without_expiry(redis_url: str) -> None:
    """``ttl_seconds`` 0 means no entry ever expires, not only those of agent scope."""
    detail = asyncio.run(apply(redis_url, ttl=0, expires_at=T0 + timedelta(hours=2)))
    assert "without expiry" in detail
    assert ttls(redis_url, "credential:cred-1", "credential:cred-2", "task:task-1") == [-1] * 3


def test_the_configured_prefix_and_margin_are_used(redis_url: str) -> None:
    """Gateways look keys up under the deployment's prefix; the margin covers their skew."""

    async def go() -> str:
        act = RedisDenyList(
            redis_url, prefix="gw7:deny:", ttl_seconds=600, margin_seconds=60, clock=lambda: NOW
        )
        try:
            return await act.apply(command(expires_at=T0 + timedelta(hours=1)))
        finally:
            await act.aclose()

    assert asyncio.run(go()) == (
        "denied 3 key(s) for 3660 s: gw7:deny:credential:cred-1, "
        "gw7:deny:credential:cred-2, gw7:deny:task:task-1"
    )
    assert asyncio.run(lookup(redis_url, credential_id="cred-1")) == {}  # not the default prefix

    async def found() -> dict[str, dict[str, str]]:
        client = connect(redis_url, 2.0)
        try:
            return await denied(client, deny_keys("gw7:deny:", task_id="task-1"))
        finally:
            await client.aclose()

    assert asyncio.run(found())["task"]["command_id"] == "cmd-1"
    assert 3650 < asyncio.run(ttl_of(redis_url, "gw7:deny:credential:cred-1")) <= 3660


def test_the_default_hold_of_a_task_without_credentials_is_a_day(redis_url: str) -> None:
    async def go() -> str:
        act = RedisDenyList(redis_url, clock=lambda: NOW)
        try:
            return await act.apply(command(credential_ids=[]))
        finally:
            await act.aclose()

    assert asyncio.run(go()) == "denied 1 key(s) for 86400 s: mcpmon:deny:task:task-1"


def test_an_error_names_the_denylist() -> None:
    """The ack and the revocation_failed alert say which actuator failed."""
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5))
    assert str(err.value).startswith("denylist: ConnectionError: ")


class Unanswering:
    """A Redis stand-in on loopback: answers the connection's handshake (CLIENT SETINFO)
    with +OK and records, without ever answering, every script call (EVALSHA / EVAL)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        self.scripts: list[list[bytes]] = []
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError):
            f = conn.makefile("rb")
            while line := f.readline():
                args = [f.read(int(f.readline()[1:]) + 2)[:-2] for _ in range(int(line[1:]))]
                if args[0].upper() in (b"EVALSHA", b"EVAL"):
                    self.scripts.append(args)
                else:
                    conn.sendall(b"+OK\r\n")

    def close(self) -> None:
        self._listener.close()
        for c in self._conns:
            c.close()


def test_an_unanswered_write_is_sent_once_per_attempt() -> None:
    """Retrying is the revoker's business (its policy, its attempt timeout): the client
    must not send the write again on a timeout, which would double an attempt's time."""
    server = Unanswering()
    try:
        with pytest.raises(ActuatorError) as err:
            asyncio.run(apply(server.url, timeout=0.3))
    finally:
        server.close()
    assert err.value.retryable and str(err.value).startswith("denylist: TimeoutError: ")
    assert [a[0].upper() for a in server.scripts] == [b"EVALSHA"]
