"""The applied-set ledger: how long an entry is kept, what a stored entry reads back as,
and what an operator is told when Redis does not answer — against a real redis-server."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from monitor.revoker.actuators.denylist import connect
from monitor.revoker.exceptions import LedgerUnavailable
from monitor.revoker.ledger import RedisLedger, keep_seconds
from tests.revoker.servers import free_port
from tests.revoker.support import T0, command

NOW = T0.timestamp()


def test_a_ttl_of_zero_keeps_every_entry_for_ever_and_one_second_is_one_second() -> None:
    """MCPMON_REVOKER_LEDGER_TTL_SECONDS=0 means "for ever" (never SET ... EX 0, which Redis
    refuses); any other value, 1 included, is a lower bound in seconds."""
    assert keep_seconds(None, NOW, 0) is None
    assert keep_seconds(command(expires_at=T0 + timedelta(days=1)), NOW, 0) is None
    assert keep_seconds(None, NOW, 1) == 1
    assert keep_seconds(command(scope="credential", credential_ids=[]), NOW, 1) == 1


def test_an_agent_command_is_kept_for_ever_whatever_its_credentials() -> None:
    """An agent deny holds until an operator lifts it, so its ledger entry must too — also
    when the command names no credential, or credentials that expire soon: a re-send after
    the entry expired would deny the agent again behind the operator's back."""
    soon = T0 + timedelta(minutes=5)
    assert keep_seconds(command(scope="agent", credential_ids=[]), NOW, 3600) is None
    assert keep_seconds(command(scope="agent", expires_at=soon), NOW, 3600) is None
    # the same credentials under task scope are kept only as long as their deny entries
    assert keep_seconds(command(scope="task", expires_at=soon), NOW, 3600) == 3600


async def _ttl(url: str, key: str) -> int:
    client = aioredis.Redis.from_url(url)
    try:
        return int(await client.ttl(key))
    finally:
        await client.aclose()


def test_a_redis_ledger_with_ttl_zero_writes_entries_without_expiry(redis_url: str) -> None:
    async def go() -> str | None:
        ledger = RedisLedger(connect(redis_url, 2.0), ttl_seconds=0, clock=lambda: NOW)
        try:
            await ledger.record("cmd-1", "denylist", "denied 3 key(s)")
            return await ledger.applied("cmd-1", "denylist")
        finally:
            await ledger.aclose()

    assert asyncio.run(go()) == "denied 3 key(s)"
    assert asyncio.run(_ttl(redis_url, "mcpmon:revoker:applied:cmd-1:denylist")) == -1


def test_an_entry_that_is_not_utf8_still_counts_as_applied(redis_url: str) -> None:
    """Whatever bytes sit under a command's key (another writer, a hand edit), the command
    was applied: the ledger answers with the text, undecodable bytes replaced, and never
    fails the lookup (that would hold the command back as if the ledger were down)."""

    async def go() -> str | None:
        raw = aioredis.Redis.from_url(redis_url)
        ledger = RedisLedger(connect(redis_url, 2.0))
        try:
            await raw.set(ledger.key("cmd-1", "oauth"), b"revoked \xff\xfe tokens")
            return await ledger.applied("cmd-1", "oauth")
        finally:
            await raw.aclose()
            await ledger.aclose()

    assert asyncio.run(go()) == "revoked \ufffd\ufffd tokens"


@pytest.mark.parametrize("op", ["applied", "record"])
def test_ledger_unavailable_says_what_redis_error_it_was(op: str) -> None:
    """The service logs this text (ledger_unavailable, error=...) while it holds commands
    back: it names the Redis error class and Redis's own words (which host and port)."""
    port = free_port()

    async def go() -> None:
        ledger = RedisLedger(connect(f"redis://127.0.0.1:{port}/0", 0.5))
        try:
            if op == "applied":
                await ledger.applied("cmd-1", "denylist")
            else:
                await ledger.record("cmd-1", "denylist", "ok")
        finally:
            await ledger.aclose()

    with pytest.raises(LedgerUnavailable) as err:
        asyncio.run(go())
    msg = str(err.value)
    assert msg.startswith("ledger: ConnectionError: ") and f"127.0.0.1:{port}" in msg
