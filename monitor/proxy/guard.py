"""The per-call deny-list check, with its failure rule.

The keys are the revoker's (:func:`~monitor.revoker.actuators.denylist.deny_keys`,
so the format lives in one place): the call's credential, agent, session and
task, each canonical (:mod:`monitor.proxy.identity` canonicalises before this
runs). All of them are checked on every call: a task-scoped revocation also
denies the task's credentials, so a caller that sends another task id, or
none, with the same credential is still refused.

One pipeline of ``GET`` per key (not ``MGET``: ``MGET`` answers nil for a key
of another Redis type, which would read as "not denied"). What counts as
denied is anything present at a key: an entry of the revoker's format says by
whom; a value that is not such an entry (unreadable JSON, not an object) or a
key of another type (a hash, a list: ``WRONGTYPE``) is still denied, with the
entry ``{"scope": "unknown", "reason": ...}`` — something wrote there, and
treating it as absent would let a corrupted or foreign entry lift a revocation.

When Redis does not answer within the timeout, or the connection fails, the
fail mode decides:

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
from redis.exceptions import RedisError, ResponseError

from monitor.errors import described
from monitor.revoker.actuators.denylist import DEFAULT_PREFIX, deny_keys

FailMode = Literal["closed", "open"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """``allowed`` decides; ``entries`` (kind → deny-list entry) say why a call is denied;
    ``error`` is set when the deny-list could not be read (the fail mode decided)."""

    allowed: bool
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None


def _unknown(why: str) -> dict[str, Any]:
    return {"command_id": None, "scope": "unknown", "reason": why, "ts": None}


def _entry(raw: Any) -> dict[str, Any]:
    """A present value as an entry; anything else present is still a denial."""
    try:
        doc = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return _unknown("an unreadable deny-list entry")
    if not isinstance(doc, dict):
        return _unknown("a deny-list entry that is not a JSON object")
    return doc


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
            entries = await asyncio.wait_for(self._lookup(keys), self.timeout)
        except (RedisError, OSError, TimeoutError) as err:
            what = described(err)
            if isinstance(err, TimeoutError):
                what = f"no answer within {self.timeout} s"
            return Verdict(allowed=self.fail_mode == "open", error=what)
        return Verdict(allowed=not entries, entries=entries)

    async def _lookup(self, keys: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """kind → entry for every key that holds anything; see the module doc."""
        if not keys:
            return {}
        kinds = list(keys)
        async with self.client.pipeline(transaction=False) as pipe:
            for kind in kinds:
                pipe.get(keys[kind])
            values = await pipe.execute(raise_on_error=False)
        out: dict[str, dict[str, Any]] = {}
        for kind, v in zip(kinds, values, strict=True):
            if v is None:
                continue
            if isinstance(v, ResponseError) and "WRONGTYPE" in str(v):
                out[kind] = _unknown("a deny-list key of another Redis type")
                continue
            if isinstance(v, BaseException):
                raise v  # connection trouble: the fail mode decides
            out[kind] = _entry(v)
        return out

    async def aclose(self) -> None:
        await self.client.aclose()
