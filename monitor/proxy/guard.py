"""The per-call deny-list check, with its failure rule.

One ``MGET`` of the call's keys through the revoker's own helpers
(:func:`~monitor.revoker.actuators.denylist.deny_keys`,
:func:`~monitor.revoker.actuators.denylist.denied`), so the key format lives
in one place. When Redis does not answer within the timeout, or answers with
something unreadable, the fail mode decides:

- ``closed`` (the default): the call is refused. An enforcing proxy that
  cannot see the deny-list cannot tell a revoked credential from a good one,
  and the point of revocation is that a revoked one stops *now*.
- ``open``: the call is forwarded, and counted
  (``mcpmon_proxy_denylist_fail_open_total``) and logged as unchecked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from monitor.revoker.actuators.denylist import DEFAULT_PREFIX, denied, deny_keys

FailMode = Literal["closed", "open"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """``allowed`` decides; ``entries`` (kind → deny-list entry) say why a call is denied;
    ``error`` is set when the deny-list could not be read (the fail mode decided)."""

    allowed: bool
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None


class DenyListGuard:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 0.5,
        fail_mode: FailMode = "closed",
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.timeout = timeout
        self.fail_mode = fail_mode

    async def check(self, ids: Mapping[str, str]) -> Verdict:
        keys = deny_keys(
            self.prefix,
            credential_id=ids.get("credential_id"),
            agent_id=ids.get("agent_id"),
            session_id=ids.get("session_id"),
            task_id=ids.get("task_id"),
        )
        try:
            entries = await asyncio.wait_for(denied(self.client, keys), self.timeout)
        except (RedisError, OSError, TimeoutError, orjson.JSONDecodeError) as err:
            what = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            if isinstance(err, TimeoutError):
                what = f"no answer within {self.timeout} s"
            return Verdict(allowed=self.fail_mode == "open", error=what)
        return Verdict(allowed=not entries, entries=entries)

    async def aclose(self) -> None:
        await self.client.aclose()
