"""The offset-gap guard: input offsets are checked, not trusted. No Faust.

Each partition's messages must arrive in offset order from the group's
committed offset (as the broker reports it) on; a message past the next
expected offset means the consumer skipped some. Such a message is neither
processed nor committed: the worker seeks back to the expected offset and goes
on from there. Restarted workers were seen to begin 400 to 3,700 messages
past the commit, in about half the soak runs; before this check those events
were never judged.

:meth:`OffsetGuard.check` is the whole rule; the shell
(:mod:`monitor.worker.app`) fetches the group's commit when
:meth:`OffsetGuard.needs_committed` says so, performs the seeks the guard asks
for, and logs and counts what it returns.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

#: A partition sought back over a gap that has delivered nothing in sequence for
#: this long is sought again (a stale batch may have moved the consumer's read offset on).
RESEEK_SECONDS = 2.0
#: ... and one still receiving messages past the gap, at most this often.
RESEEK_BATCH_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class Gap:
    """A message past the expected offset: skip it; ``seek`` says whether to seek back now."""

    expected: int
    got: int
    first: bool  # the first message past this gap (log and count the gap once)
    seek: bool


class OffsetGuard:
    def __init__(
        self,
        reseek_seconds: float = RESEEK_SECONDS,
        reseek_batch_seconds: float = RESEEK_BATCH_SECONDS,
    ) -> None:
        self.reseek_seconds = reseek_seconds
        self.reseek_batch_seconds = reseek_batch_seconds
        self.next_offset: dict[int, int] = {}  # per partition: after the last one handled
        self.seeking: dict[int, tuple[int, float]] = {}  # partition -> (offset, when sought)
        self.group_committed: dict[int, int] | None = None  # fetched once per assignment

    def needs_committed(self, partition: int) -> bool:
        """True when the group's commit must be fetched before ``partition`` can be checked."""
        return self.group_committed is None and partition not in self.next_offset

    def set_committed(self, committed: dict[int, int]) -> None:
        """The group's committed offsets (``{}``: unknown, partitions go on unchecked)."""
        self.group_committed = dict(committed)

    def check(self, partition: int, offset: int, now: float) -> Gap | None:
        """None if ``offset`` is the partition's next (or an older one, redelivered): handle it.

        The next expected offset is the one after the last message handled, or,
        first after an assignment, the group's committed offset. A message past
        it is a :class:`Gap`; when its ``seek`` is set the guard counts the
        partition as sought back from ``now``.
        """
        expected = self.next_offset.get(partition)
        if expected is None:
            expected = (self.group_committed or {}).get(partition)
        if expected is not None and offset > expected:
            prior = self.seeking.get(partition)
            first = prior is None or prior[0] != expected
            seek = first or (prior is not None and now - prior[1] >= self.reseek_batch_seconds)
            if seek:
                self.seeking[partition] = (expected, now)
            return Gap(expected, offset, first, seek)
        self.seeking.pop(partition, None)
        self.next_offset[partition] = offset + 1 if expected is None else max(expected, offset + 1)
        return None

    def stalled(self, now: float, owned: Container[int]) -> list[tuple[int, int]]:
        """``(partition, offset)`` of ``owned`` partitions sought back that delivered nothing
        in sequence for ``reseek_seconds``: seek them again (counted as sought from ``now``)."""
        out = []
        for p, (offset, at) in list(self.seeking.items()):
            if now - at >= self.reseek_seconds and p in owned:
                self.seeking[p] = (offset, now)
                out.append((p, offset))
        return out

    def reassigned(self) -> None:
        """A rebalance: the consumer seeks every assigned partition to the group's commit."""
        self.next_offset.clear()
        self.seeking.clear()
        self.group_committed = None
