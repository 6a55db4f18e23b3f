"""The deny-list check itself, on a real redis-server: what a refusal names for each kind of
entry, a prefix of one's own, and what the fail mode sees when Redis stalls or fails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from monitor.proxy.guard import DenyListGuard, Verdict
from monitor.revoker.actuators.denylist import connect
from tests.revoker.servers import closed_url

IDS = {"credential_id": "cred-1", "agent_id": "agent-1", "session_id": "s-1", "task_id": "t-1"}


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _write(redis_url: str, *commands: tuple[str, ...]) -> None:
    client = connect(redis_url, 2.0)
    try:
        for c in commands:
            await client.execute_command(*c)
    finally:
        await client.aclose()


def _check(redis_url: str, *writes: tuple[str, ...], **kw: Any) -> Verdict:
    async def go() -> Verdict:
        await _write(redis_url, *writes)
        guard = DenyListGuard(connect(redis_url, 2.0), **kw)
        try:
            return await guard.check(IDS)
        finally:
            await guard.aclose()

    return _run(go())


def _unknown(reason: str) -> dict[str, Any]:
    return {"command_id": None, "scope": "unknown", "reason": reason, "ts": None}


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        (("SET", "mcpmon:deny:agent:agent-1", "not json"), "an unreadable deny-list entry"),
        (
            ("SET", "mcpmon:deny:agent:agent-1", "[1, 2]"),
            "a deny-list entry that is not a JSON object",
        ),
        (
            ("HSET", "mcpmon:deny:agent:agent-1", "command_id", "c"),
            "a deny-list key of another Redis type",
        ),
    ],
    ids=["not JSON", "not an object", "another type"],
)
def test_a_foreign_entry_denies_and_says_exactly_what_was_found(
    redis_url: str, write: tuple[str, ...], reason: str
) -> None:
    verdict = _check(redis_url, write)
    assert verdict == Verdict(allowed=False, entries={"agent": _unknown(reason)})


def test_every_kind_that_holds_anything_is_named_whatever_comes_before_it(
    redis_url: str,
) -> None:
    # an entry whose text happens to hold "WRONGTYPE" is still the revoker's entry
    entry = {"command_id": "cmd-9", "scope": "task", "reason": "WRONGTYPE of task", "ts": 1.0}
    verdict = _check(
        redis_url,
        ("RPUSH", "mcpmon:deny:credential:cred-1", "x"),  # first in order: another type
        ("SET", "mcpmon:deny:task:t-1", orjson.dumps(entry).decode()),
    )
    assert not verdict.allowed and verdict.error is None
    assert verdict.entries == {
        "credential": _unknown("a deny-list key of another Redis type"),
        "task": entry,
    }


def test_a_guard_reads_only_its_own_prefix(redis_url: str) -> None:
    entry = orjson.dumps({"command_id": "cmd-1", "scope": "agent"}).decode()
    writes = (("SET", "gw7:deny:agent:agent-1", entry),)
    assert _check(redis_url, *writes, prefix="gw7:deny:").entries == {
        "agent": {"command_id": "cmd-1", "scope": "agent"}
    }
    # the same entry under another gateway's prefix denies nothing here
    assert _check(redis_url, prefix="gw8:deny:") == Verdict(allowed=True)
    assert _check(redis_url) == Verdict(allowed=True)  # nor under the default one


def test_fail_closed_is_the_default() -> None:
    guard = DenyListGuard(aioredis.Redis())
    assert (guard.timeout, guard.fail_mode) == (0.5, "closed")

    async def go() -> Verdict:
        g = DenyListGuard(connect(closed_url().replace("http://", "redis://"), 1.0))
        try:
            return await g.check(IDS)
        finally:
            await g.aclose()

    verdict = _run(go())
    assert not verdict.allowed and not verdict.entries
    assert verdict.error is not None and verdict.error.startswith("ConnectionError: Error 111")


@pytest.mark.parametrize("fail_mode", ["closed", "open"])
def test_a_redis_that_stalls_is_given_up_on_at_the_guards_timeout(fail_mode: Any) -> None:
    """The client's own socket timeout is 30 s: only the guard's 0.3 s ends the wait."""

    async def go() -> tuple[Verdict, float]:
        held: list[asyncio.StreamWriter] = []

        async def accept(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            held.append(w)  # never answers

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        guard = DenyListGuard(
            connect(f"redis://127.0.0.1:{port}/0", 30.0), timeout=0.3, fail_mode=fail_mode
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            verdict = await guard.check(IDS)
            return verdict, loop.time() - started
        finally:
            for w in held:
                w.close()
            server.close()
            await guard.aclose()

    verdict, took = _run(go())
    assert verdict == Verdict(allowed=fail_mode == "open", error="no answer within 0.3 s")
    assert took < 10  # not the client's 30 s


@pytest.mark.parametrize(
    ("err", "said"),
    [(OSError("socket closed"), "OSError: socket closed"), (OSError(), "OSError")],
    ids=["with a message", "without one"],
)
def test_a_failed_lookup_is_named_by_its_error(err: Exception, said: str) -> None:
    guard = DenyListGuard(aioredis.Redis(), fail_mode="open")

    async def fail(_keys: Any) -> dict[str, dict[str, Any]]:
        raise err

    guard._lookup = fail  # type: ignore[method-assign,assignment]
    assert _run(guard.check(IDS)) == Verdict(allowed=True, error=said)
