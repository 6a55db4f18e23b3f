"""The applied-set: which actuator has carried out which ``command_id``.

Why Redis and not a compacted topic: the deny-list already lives in Redis, so
the revoker depends on one store, not two; a lookup is one ``GET`` (no topic
to replay into memory at start, no memory that grows with history); entries
expire with ``SET ... EX`` after ``ttl_seconds`` (default 30 days — far past
any redelivery or worker replay). Durability is Redis's: run it with AOF
(``appendonly yes``), as any deny-list that must survive a restart needs.

An entry is written only *after* its actuator succeeded. A crash between the
two re-applies the command on redelivery; every actuator is idempotent at
its target (RFC 7009 revocation, Vault revoke, deny-list ``SET``, webhook
``Idempotency-Key``), so the outcome is the same and no second ack says
``applied`` for a command already acked so.

Key: ``<prefix><command_id>:<actuator>``, value: the detail of the ack.
"""

from __future__ import annotations

from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from monitor.revoker.exceptions import LedgerUnavailable

DEFAULT_PREFIX = "mcpmon:revoker:applied:"


class Ledger(Protocol):
    async def applied(self, command_id: str, actuator: str) -> str | None:
        """The detail recorded when ``actuator`` applied ``command_id``, else None."""
        ...

    async def record(self, command_id: str, actuator: str, detail: str) -> None: ...

    async def aclose(self) -> None: ...


class MemoryLedger:
    """In-process applied-set: for tests and dry runs; forgets everything on exit."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    async def applied(self, command_id: str, actuator: str) -> str | None:
        return self.entries.get((command_id, actuator))

    async def record(self, command_id: str, actuator: str, detail: str) -> None:
        self.entries[(command_id, actuator)] = detail

    async def aclose(self) -> None:
        return None


class RedisLedger:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl_seconds: int = 30 * 86_400,
    ) -> None:
        self._client = client
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds

    def key(self, command_id: str, actuator: str) -> str:
        return f"{self.prefix}{command_id}:{actuator}"

    async def applied(self, command_id: str, actuator: str) -> str | None:
        try:
            raw = await self._client.get(self.key(command_id, actuator))
        except RedisError as err:
            raise LedgerUnavailable(f"ledger: {type(err).__name__}: {err}") from None
        return None if raw is None else raw.decode("utf-8", "replace")

    async def record(self, command_id: str, actuator: str, detail: str) -> None:
        try:
            await self._client.set(
                self.key(command_id, actuator), detail, ex=self.ttl_seconds or None
            )
        except RedisError as err:
            raise LedgerUnavailable(f"ledger: {type(err).__name__}: {err}") from None

    async def aclose(self) -> None:
        await self._client.aclose()
