"""Garbage-collection pauses of this process, measured (``gc.callbacks``), and kept short.

A collection stops the event loop: every event waiting behind it gets the
pause added to its latency. A worker holds its agents' states for ever, so the
oldest generation grows with the agents and each full collection walks all of
them (70-120 ms about once a second were seen at 1,000 agents). Two remedies:

- after a partition's state is restored, :func:`settle` collects once and moves
  everything alive into the permanent generation (``gc.freeze``), which
  collections no longer walk;
- agents the worker meets while running are long-lived too: :class:`Freezer`
  freezes what is alive again at most every ``FREEZE_SECONDS`` (the worker asks
  after each flush), so a full collection walks only what was allocated since.
  ``gc.freeze`` moves lists, it does not walk them: O(1).

The price of freezing: an object frozen while alive that later dies *in a
reference cycle* is never collected (one freed by its reference count is freed
as usual). The worker's per-event objects are freed by reference count; what a
run hid that way is measured at the stop (:meth:`Freezer.hidden_garbage`, in
the stats line) rather than assumed.

The young generation's threshold (:data:`THRESHOLDS`): CPython's 700 made ~25
young collections a second, each promoting what was in flight; at 20,000 and
10,000 a young collection took 10-40 ms (bench kafka, with the machine loaded),
past the 20 ms aim; 2,000 keeps them short. Older generations stay small: what
survives a second is frozen.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

#: ``gc.set_threshold`` of a worker (CPython's default is 700, 10, 10).
THRESHOLDS = (2_000, 10, 10)
#: Long-lived objects are frozen at most this often.
FREEZE_SECONDS = 1.0


class GcPauses:
    """Longest pause, count and total time per generation since the last :meth:`take`.

    Collections the collector started itself (its young count past the first
    threshold: the pauses events meet while the worker runs) are counted per
    generation; those a ``gc.collect()`` asked for (a restore's :func:`settle`,
    Faust's wait at a stop, :meth:`Freezer.hidden_garbage`) apart, as ``explicit``.

    ``serving=False``: until :meth:`serve`, the collector's own collections are
    the start-up's (``startup``), not pauses an event meets. A worker process
    imports Faust, aiokafka and the rest after its start and before it joins
    the group; with the charters of 750 agents loaded first, that import
    triggered a full collection of 52-59 ms over ~100,000 objects (``mcpmon
    bench kafka``'s half-capacity phase), which the bench reported as the
    worker's longest pause.
    """

    def __init__(self, serving: bool = True) -> None:
        self._t0 = 0.0
        self._explicit = False
        self.serving = serving
        self.startup_max_ms = 0.0
        self.startup_count = 0
        self.max_ms = [0.0, 0.0, 0.0]
        self.total_ms = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self.explicit_max_ms = 0.0
        self.explicit_count = 0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            # an automatic collection starts only with the young count past its threshold
            self._explicit = gc.get_count()[0] <= gc.get_threshold()[0]
            self._t0 = time.perf_counter()
            return
        ms = (time.perf_counter() - self._t0) * 1000
        if self._explicit:
            self.explicit_count += 1
            self.explicit_max_ms = max(self.explicit_max_ms, ms)
            return
        if not self.serving:
            self.startup_count += 1
            self.startup_max_ms = max(self.startup_max_ms, ms)
            return
        gen = int(info.get("generation", 2))
        self.count[gen] += 1
        self.total_ms[gen] += ms
        if ms > self.max_ms[gen]:
            self.max_ms[gen] = ms

    def serve(self) -> None:
        """From now on the collector's collections are pauses events meet."""
        self.serving = True

    def install(self) -> GcPauses:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)
        return self

    def take(self) -> dict[str, float]:
        """The figures for the stats log line, then start afresh."""
        out: dict[str, float] = {}
        for g in range(3):
            out[f"gc{g}_collections"] = self.count[g]
            out[f"gc{g}_max_ms"] = round(self.max_ms[g], 1)
            out[f"gc{g}_total_ms"] = round(self.total_ms[g], 1)
        out["gc_explicit_collections"] = self.explicit_count
        out["gc_explicit_max_ms"] = round(self.explicit_max_ms, 1)
        if self.startup_count:
            out["gc_startup_collections"] = self.startup_count
            out["gc_startup_max_ms"] = round(self.startup_max_ms, 1)
            self.startup_count, self.startup_max_ms = 0, 0.0
        self.max_ms = [0.0, 0.0, 0.0]
        self.total_ms = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self.explicit_max_ms = 0.0
        self.explicit_count = 0
        return out


def settle() -> None:
    """After a restore: collect once, then freeze what is alive (collections skip it)."""
    gc.collect()
    gc.freeze()


class Freezer:
    """Freezes what is alive at most every ``interval`` seconds of ``clock``."""

    def __init__(
        self, interval: float = FREEZE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._last = clock()
        self.freezes = 0

    def install(self, thresholds: tuple[int, int, int] = THRESHOLDS) -> Freezer:
        """Set the collector's thresholds for a long-running worker."""
        gc.set_threshold(*thresholds)
        return self

    def maybe_freeze(self) -> bool:
        """Freeze now if ``interval`` has passed since the last freeze (True if it did)."""
        now = self.clock()
        if now - self._last < self.interval:
            return False
        gc.freeze()
        self._last = now
        self.freezes += 1
        return True

    @staticmethod
    def hidden_garbage() -> int:
        """At a stop: unfreeze and collect; the unreachable objects freezing had hidden.

        A full collection of everything: a long pause, only for when nothing waits.
        """
        gc.collect()  # what is garbage anyway, frozen or not
        gc.unfreeze()
        return gc.collect()
