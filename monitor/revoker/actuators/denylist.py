"""The Redis deny-list that gateways consult: what ends access immediately.

Short-lived tokens and SVIDs cannot be recalled once issued (SPIRE cannot
revoke an SVID at all), so the gateway asks, per call, whether the call's
credential, agent, session or task is denied. One key per target, holding
the JSON ``{"command_id", "scope", "reason", "ts"}`` of the command that
denied it:

    <prefix>credential:<credential_id>
    <prefix>agent:<agent_id>
    <prefix>session:<session_id>
    <prefix>task:<task_id>

A ``task`` command writes a key for each of its credentials as well as the
task's: a task id is the caller's word, a credential is not, so a call that
presents the task's credential under another task id (or none) is denied too.

How long an entry holds (:func:`hold_seconds`) — a revocation must not quietly
expire while what it revoked still works:

- ``agent`` scope: without expiry, until an operator lifts it (deletes the key);
- a command naming credentials: until the latest of their expiries
  (``expires_at``) plus ``margin_seconds`` for clock skew between issuer and
  gateways; without expiry when ``expires_at`` is absent (an expiry the monitor
  does not know, or a command from before the field existed);
- a ``task``/``session`` command naming no credential: ``ttl_seconds``;
- ``ttl_seconds`` 0: every entry without expiry.

An entry is never shortened: writing a key that already holds longer (or for
ever, e.g. an operator's own entry) keeps its expiry and only replaces the
value. Writing the same entry again is harmless, so re-applying a command is.

Keys are written only for canonical identifiers (monitor/identity.py): a
command naming an id that is not in its one canonical spelling would write a
key no gateway looks up, so it is refused (not retried) with the reason, and
the revoker raises ``revocation_failed``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from monitor.errors import DecodeError
from monitor.identity import canonical_id
from monitor.output_contracts import RevocationCommand
from monitor.revoker.exceptions import ActuatorError
from monitor.revoker.plan import targets

DEFAULT_PREFIX = "mcpmon:deny:"
#: Seconds a credential's entry outlives the credential's expiry (issuer/gateway clock skew).
DEFAULT_MARGIN = 300

# Per key (KEYS[i]; ARGV[2i-1] the value, ARGV[2i] the hold in ms, 0 = no expiry): write
# the value, keeping an expiry longer than the new one (or none). PTTL: -2 no key, -1 none.
_WRITE = """
for i, key in ipairs(KEYS) do
  local value, hold = ARGV[2 * i - 1], tonumber(ARGV[2 * i])
  local left = redis.call('PTTL', key)
  if hold == 0 then
    redis.call('SET', key, value)
  elseif left == -1 or left >= hold then
    redis.call('SET', key, value, 'KEEPTTL')
  else
    redis.call('SET', key, value, 'PX', hold)
  end
end
return #KEYS
"""


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


def _canonical(value: str, field: str) -> str:
    try:
        if canonical_id(value, field) == value:
            return value
    except DecodeError as err:
        why = str(err)
    else:
        why = f"{field}: not in its canonical spelling"
    raise ActuatorError(
        f"denylist: refused: {why} — a key for it would never match a gateway's lookup",
        retryable=False,
    )


def entries(command: RevocationCommand, prefix: str = DEFAULT_PREFIX) -> dict[str, bytes]:
    """The deny-list keys and values one command writes.

    Raises :class:`ActuatorError` (not retryable) when an identifier of the
    command is not canonical.
    """
    t = targets(command)
    for c in t.credentials:
        _canonical(c, "credential_id")
    for field, v in (("agent_id", t.agent), ("session_id", t.session), ("task_id", t.task)):
        if v:
            _canonical(v, field)
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


def hold_seconds(
    command: RevocationCommand, now: float, ttl_seconds: int, margin: int = DEFAULT_MARGIN
) -> int | None:
    """Seconds the entries of ``command`` hold from ``now`` (epoch); None: without expiry."""
    if ttl_seconds == 0 or command.scope == "agent":
        return None
    if command.credential_ids:
        if command.expires_at is None:
            return None
        return max(margin, math.ceil(command.expires_at.timestamp() + margin - now))
    return ttl_seconds


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
        margin_seconds: int = DEFAULT_MARGIN,
        timeout: float = 5.0,
        client: aioredis.Redis | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.margin_seconds = margin_seconds
        self.clock = clock
        self._client = client or connect(url, timeout)
        self._write = self._client.register_script(_WRITE)

    async def apply(self, command: RevocationCommand) -> str:
        todo = entries(command, self.prefix)
        if not todo:
            return "nothing to deny: the command names no target"
        hold = hold_seconds(command, self.clock(), self.ttl_seconds, self.margin_seconds)
        ms = 0 if hold is None else hold * 1000
        args: list[bytes | int] = []
        for value in todo.values():
            args += [value, ms]
        try:
            await self._write(keys=list(todo), args=args)
        except RedisError as err:
            raise redis_error(self.name, err) from None
        ttl = "without expiry" if hold is None else f"for {hold} s"
        return f"denied {len(todo)} key(s) {ttl}: " + ", ".join(sorted(todo))

    async def aclose(self) -> None:
        await self._client.aclose()
