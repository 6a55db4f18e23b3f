"""``mcpmon worker`` / ``mcpmon revoker`` that SIGKILL themselves at a chosen point (fault tests).

Run as ``python -m tests.integration.crashing worker|revoker ...`` (the rest of
the arguments go to ``mcpmon``), with

- ``CRASH_AT=N`` — crash at the N-th hooked operation of this process;
- ``CRASH_WHEN`` — where, around that operation:

  worker (the operation: one agent-state table write, i.e. one changelog record)
    ``before``  the state record is never handed to the producer;
    ``after``   handed to the producer, killed before it can be flushed;
    ``later``   handed over, killed 0.3 s later: the record has likely reached
                the changelog while the input offset is not yet committed.
  revoker (the operation: one ledger write, right after an actuator succeeded; only
  writes of actuator ``CRASH_ACTUATOR`` count when that is set)
    ``before``  the actuator applied the command, the ledger never heard of it;
    ``after``   applied and recorded in the ledger, never acked or committed.

The hooks sit on Faust's table and on the revoker's Redis ledger, not in the
product: nothing in ``monitor/`` knows about crashing. A crash is
``SIGKILL`` to itself: no ``finally``, no flush, no commit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from monitor.cli import main as mcpmon


def _die() -> None:
    sys.stderr.write(f'{{"event": "crash_injected", "pid": {os.getpid()}}}\n')
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _arm_worker(at: int, when: str) -> None:
    from faust.tables.base import Collection

    original = Collection.send_changelog
    seen = 0

    def send_changelog(self: Any, partition: Any, key: Any, value: Any, *a: Any) -> Any:
        nonlocal seen
        seen += 1
        if seen != at:
            return original(self, partition, key, value, *a)
        if when == "before":
            _die()
        fut = original(self, partition, key, value, *a)
        if when == "after":
            _die()
        asyncio.get_running_loop().call_later(0.3, _die)  # "later"
        return fut

    Collection.send_changelog = send_changelog  # type: ignore[method-assign]


def _arm_revoker(at: int, when: str) -> None:
    from monitor.revoker.ledger import RedisLedger

    original = RedisLedger.record
    seen = 0

    only = os.environ.get("CRASH_ACTUATOR", "")

    async def record(
        self: RedisLedger, command_id: str, actuator: str, detail: str, **kw: Any
    ) -> None:
        nonlocal seen
        if only and actuator != only:
            await original(self, command_id, actuator, detail, **kw)
            return
        seen += 1
        mine = seen  # actuators record concurrently: ``seen`` moves on while this awaits
        if mine == at and when == "before":
            _die()
        await original(self, command_id, actuator, detail, **kw)
        if mine == at:
            _die()

    RedisLedger.record = record  # type: ignore[method-assign]


def main() -> int:
    kind, rest = sys.argv[1], sys.argv[2:]
    at, when = int(os.environ.get("CRASH_AT", "0")), os.environ.get("CRASH_WHEN", "before")
    if at > 0:
        {"worker": _arm_worker, "revoker": _arm_revoker}[kind](at, when)
    return mcpmon([kind, *rest])


if __name__ == "__main__":
    sys.exit(main())
