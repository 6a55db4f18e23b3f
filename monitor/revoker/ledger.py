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

How long an entry is kept (:func:`keep_seconds`) is a safety question, not
housekeeping. The ledger is what makes a *re-sent* command (a redelivery, a
consumer group that starts again from the topic's beginning) a no-op. If it
forgot a command while what the command did still matters, a re-send would be
applied again — re-denying an agent an operator has since cleared, or
re-writing a credential's deny entry the operator lifted. So an entry is kept at
least as long as the command's deny-list entry holds
(:func:`~monitor.revoker.actuators.denylist.hold_seconds`): for ever for an
agent-scope command or a credential whose expiry is unknown, else until the
latest credential expiry plus margin — and never less than ``ttl_seconds``. A
re-send after that re-applies a command whose credentials have all expired:
harmless. The other direction is covered by the engine, not the ledger: when a
revoked credential is used again later, the engine sends a *new* command (a new
``command_id``, its cause is the new call), which no ledger entry skips.

Key: ``<prefix><command_id>:<actuator>``, value: the detail of the ack.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from monitor.output_contracts import RevocationCommand
from monitor.revoker.actuators.denylist import DEFAULT_MARGIN
from monitor.revoker.exceptions import LedgerUnavailable

DEFAULT_PREFIX = "mcpmon:revoker:applied:"


class Ledger(Protocol):
    async def applied(self, command_id: str, actuator: str) -> str | None:
        """The detail recorded when ``actuator`` applied ``command_id``, else None."""
        ...

    async def record(
        self,
        command_id: str,
        actuator: str,
        detail: str,
        *,
        command: RevocationCommand | None = None,
    ) -> None:
        """Remember that ``actuator`` applied ``command_id`` (``command``: how long to keep it)."""
        ...

    async def aclose(self) -> None: ...


class MemoryLedger:
    """In-process applied-set: for tests and dry runs; forgets everything on exit."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    async def applied(self, command_id: str, actuator: str) -> str | None:
        return self.entries.get((command_id, actuator))

    async def record(
        self,
        command_id: str,
        actuator: str,
        detail: str,
        *,
        command: RevocationCommand | None = None,
    ) -> None:
        self.entries[(command_id, actuator)] = detail

    async def aclose(self) -> None:
        return None


def keep_seconds(
    command: RevocationCommand | None, now: float, ttl_seconds: int, margin: int = DEFAULT_MARGIN
) -> int | None:
    """Seconds to keep a ledger entry for ``command`` from ``now``; None: for ever."""
    if ttl_seconds == 0:
        return None
    if command is None:
        return ttl_seconds
    if command.scope == "agent" or (command.credential_ids and command.expires_at is None):
        return None
    if command.expires_at is None:
        return ttl_seconds
    return max(ttl_seconds, math.ceil(command.expires_at.timestamp() + margin - now))


class RedisLedger:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl_seconds: int = 30 * 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.clock = clock

    def key(self, command_id: str, actuator: str) -> str:
        return f"{self.prefix}{command_id}:{actuator}"

    async def applied(self, command_id: str, actuator: str) -> str | None:
        try:
            raw = await self._client.get(self.key(command_id, actuator))
        except RedisError as err:
            raise LedgerUnavailable(f"ledger: {type(err).__name__}: {err}") from None
        return None if raw is None else raw.decode("utf-8", "replace")

    async def record(
        self,
        command_id: str,
        actuator: str,
        detail: str,
        *,
        command: RevocationCommand | None = None,
    ) -> None:
        keep = keep_seconds(command, self.clock(), self.ttl_seconds)
        try:
            await self._client.set(self.key(command_id, actuator), detail, ex=keep)
        except RedisError as err:
            raise LedgerUnavailable(f"ledger: {type(err).__name__}: {err}") from None

    async def aclose(self) -> None:
        await self._client.aclose()
