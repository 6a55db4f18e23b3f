"""The checkpoint rule: which input offsets are safe to commit, and how often. No Faust.

An input offset is safe to commit once the broker has acknowledged every state
record (changelog, ``acks=all``) of the flush that covered the events before
it: a committed offset always has its state and outputs in Kafka. The worker
reports such events with :meth:`Checkpoint.written`; :meth:`Checkpoint.due`
says what to commit now, if anything:

- at most every ``interval`` seconds (a commit is a broker round trip in the
  consumer's thread; ``mcpmon bench kafka`` p99 at 2,000 events/s was 111-117 ms
  committing after every 0.2 s flush, 97-106 ms once a second), except when
  forced (a graceful stop's last flush);
- only partitions still assigned to this worker (events of partitions given
  away are redelivered to their new owner, never committed here);
- only where it moves this worker's last commit forward: never back.

How often the state is written is :func:`flush_on_timer`'s: every
``worker_flush_seconds`` while the worker keeps up, every
``worker_backlog_flush_seconds`` while it is behind (a flush is also due after
``worker_flush_events`` events either way).

Events reach a flush in offset order per partition (the offset-gap guard,
:mod:`monitor.worker.offsets`), and every event before a flush's events was in
an earlier flush, so "the offset after the last event written" is a safe commit.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Input offsets are committed at most this often.
COMMIT_SECONDS = 1.0


class Checkpoint:
    """Per input partition: what is safe to commit, and what this worker committed."""

    def __init__(self, interval: float = COMMIT_SECONDS) -> None:
        self.interval = interval
        self.safe: dict[int, int] = {}  # partition -> offset safe to commit (state on the broker)
        self.committed: dict[int, int] = {}  # partition -> offset this worker committed
        self.assignment: set[int] = set()
        self._last = float("-inf")  # when due() last said "commit"

    def written(self, offsets: Iterable[tuple[int, int]]) -> None:
        """The state of the events at these ``(partition, offset)`` is on the broker."""
        safe = self.safe
        for p, o in offsets:
            if o + 1 > safe.get(p, 0):
                safe[p] = o + 1

    def due(self, now: float, force: bool = False) -> dict[int, int] | None:
        """``partition -> offset`` to commit now; None while the interval has not passed.

        An empty dict: due, but nothing moved forward. Either way the interval
        restarts when it returns a dict (also an empty one).
        """
        if not force and now - self._last < self.interval:
            return None
        self._last = now
        return {
            p: o
            for p, o in self.safe.items()
            if p in self.assignment and o > self.committed.get(p, -1)
        }

    def done(self, offsets: dict[int, int]) -> None:
        """The broker took this commit."""
        self.committed.update(offsets)

    def reassigned(self, partitions: set[int]) -> None:
        """A rebalance: forget partitions given away; the group's commit is the reference again."""
        self.assignment = set(partitions)
        self.committed.clear()
        self.safe = {p: o for p, o in self.safe.items() if p in partitions}


def flush_on_timer(
    now: float, last_flush: float, queued: int, batch: int, backlog_seconds: float
) -> bool:
    """Whether the timer's flush (every ``worker_flush_seconds``) writes now.

    Always while the worker keeps up: at most ``batch`` events (one list the
    agent takes at once) wait in its stream buffer. While more wait — a backlog
    — only once ``backlog_seconds`` have passed since the last flush of any
    kind: behind, the same busy agents would be written again every tick (a
    20,000-event backlog: 2,800 agent records with a write every tick, 1,130
    with this and ``worker_flush_events`` 5,000, the drain 12 % shorter), and
    their sends hold up the agent. The events in between stay bounded by
    ``worker_flush_events``.
    """
    return queued <= batch or now - last_flush >= backlog_seconds
