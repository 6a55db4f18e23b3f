"""Pairing requests with their responses, in a window bounded by count and age.

Some gateways log a request and its response as two lines (raw JSON-RPC
does); the event needs both. A request waits here until its response comes.
The window is bounded so memory is: a request that waited longer than
``max_age`` seconds, or that is the oldest when more than ``max_pending``
wait, is *evicted* — handed back so the format can emit it with
``outcome: unknown`` (some gateways never log the response).

Pure and clock-free: the caller passes ``now`` (the tap's monotonic clock at
the line) in. Arrival order is file order, so the oldest entry also holds
the smallest file position: :meth:`oldest` is how far the checkpoint may
advance without losing a request that is still waiting.

>>> w = PairingWindow[str, int](max_pending=2, max_age=10.0)
>>> w.add("a", "A", 1, now=0.0), w.add("b", "B", 2, now=1.0), w.add("c", "C", 3, now=2.0)
([], [], ['A'])
>>> w.pop("b"), w.expire(now=12.5), len(w)
('B', ['C'], 0)
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")  # what waits
P = TypeVar("P")  # where it came from (a file position)


class PairingWindow(Generic[T, P]):
    __slots__ = ("_pending", "max_age", "max_pending")

    def __init__(self, max_pending: int, max_age: float) -> None:
        if max_pending < 1 or max_age <= 0:
            raise ValueError("a pairing window needs max_pending >= 1 and max_age > 0")
        self.max_pending = max_pending
        self.max_age = max_age
        # key -> (item, position, seen); dicts keep insertion (= arrival) order
        self._pending: dict[Hashable, tuple[T, P, float]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._pending

    def add(self, key: Hashable, item: T, position: P, now: float) -> list[T]:
        """Wait for ``key``'s response; returns the items this pushes out, oldest first.

        A request whose key is already waiting (a reused id) pushes the earlier
        one out first; then the oldest beyond ``max_pending`` goes.
        """
        out: list[T] = []
        old = self._pending.pop(key, None)
        if old is not None:
            out.append(old[0])
        self._pending[key] = (item, position, now)
        while len(self._pending) > self.max_pending:
            out.append(self._pending.pop(next(iter(self._pending)))[0])
        return out

    def pop(self, key: Hashable) -> T | None:
        """The waiting item for ``key`` (now paired), or ``None``."""
        entry = self._pending.pop(key, None)
        return None if entry is None else entry[0]

    def expire(self, now: float) -> list[T]:
        """Items that waited longer than ``max_age``, oldest first."""
        out: list[T] = []
        limit = now - self.max_age
        while self._pending:
            key = next(iter(self._pending))
            item, _, seen = self._pending[key]
            if seen >= limit:
                break
            del self._pending[key]
            out.append(item)
        return out

    def drain(self) -> list[T]:
        """Everything still waiting, oldest first (end of input)."""
        out = [entry[0] for entry in self._pending.values()]
        self._pending.clear()
        return out

    def oldest(self) -> P | None:
        """The position of the oldest waiting item, or ``None`` when none waits."""
        for _, position, _ in self._pending.values():
            return position
        return None
