"""The Redis deny-list that gateways consult: what ends access immediately.

Short-lived tokens and SVIDs cannot be recalled once issued (SPIRE cannot
revoke an SVID at all), so the gateway asks, per call, whether the call's
credential, agent, session or task is denied. One key per target, holding
the JSON ``{"command_id", "scope", "reason", "ts"}`` of the command that
denied it, with an expiry (``SET key value EX ttl``; ttl 0 keeps it):

    <prefix>credential:<credential_id>
    <prefix>agent:<agent_id>
    <prefix>session:<session_id>
    <prefix>task:<task_id>

A gateway checks a call with one ``MGET`` of its keys (:func:`deny_keys`,
:func:`denied`). Writing the same entry again only refreshes it, so
re-applying a command is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from monitor.outputs import RevocationCommand
from monitor.revoker.exceptions import ActuatorError
from monitor.revoker.plan import targets

DEFAULT_PREFIX = "mcpmon:deny:"


def deny_keys(
    prefix: str = DEFAULT_PREFIX,
    *,
    credential_id: str | None = None,
    agent_id: str | None = None,
    session_id: str | None = None,
    task_id: str | None = None,
) -> dict[str, str]:
    """The keys to check for one call, by kind; kinds without a value are left out."""
    values = {
        "credential": credential_id,
        "agent": agent_id,
        "session": session_id,
        "task": task_id,
    }
    return {kind: f"{prefix}{kind}:{v}" for kind, v in values.items() if v}


def entries(command: RevocationCommand, prefix: str = DEFAULT_PREFIX) -> dict[str, bytes]:
    """The deny-list keys and values one command writes."""
    t = targets(command)
    value = orjson.dumps(
        {
            "command_id": command.command_id,
            "scope": command.scope,
            "reason": command.reason,
            "ts": command.ts.isoformat(),
        }
    )
    keys = [f"{prefix}credential:{c}" for c in t.credentials]
    for kind, v in (("agent", t.agent), ("session", t.session), ("task", t.task)):
        if v:
            keys.append(f"{prefix}{kind}:{v}")
    return dict.fromkeys(keys, value)


def redis_error(name: str, err: RedisError) -> ActuatorError:
    retryable = isinstance(err, RedisConnectionError | RedisTimeoutError)
    return ActuatorError(f"{name}: {type(err).__name__}: {err}", retryable=retryable)


def connect(url: str, timeout: float) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
    )


async def denied(client: aioredis.Redis, keys: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Which of ``keys`` (from :func:`deny_keys`) are denied, with their entries."""
    if not keys:
        return {}
    kinds = list(keys)
    values = await client.mget([keys[k] for k in kinds])
    return {k: orjson.loads(v) for k, v in zip(kinds, values, strict=True) if v is not None}


class RedisDenyList:
    name = "denylist"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl_seconds: int = 86_400,
        timeout: float = 5.0,
        client: aioredis.Redis | None = None,
    ) -> None:
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self._client = client or connect(url, timeout)

    async def apply(self, command: RevocationCommand) -> str:
        todo = entries(command, self.prefix)
        if not todo:
            return "nothing to deny: the command names no target"
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for key, value in todo.items():
                    pipe.set(key, value, ex=self.ttl_seconds or None)
                await pipe.execute()
        except RedisError as err:
            raise redis_error(self.name, err) from None
        ttl = f"for {self.ttl_seconds} s" if self.ttl_seconds else "without expiry"
        return f"denied {len(todo)} key(s) {ttl}: " + ", ".join(sorted(todo))

    async def aclose(self) -> None:
        await self._client.aclose()
