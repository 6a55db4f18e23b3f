"""Garbage-collection pauses of this process, measured (``gc.callbacks``), and kept short.

A collection stops the event loop: every event waiting behind it gets the
pause added to its latency. A worker holds its agents' states for ever, so the
oldest generation grows with the agents and each full collection walks all of
them (70-120 ms about once a second were seen at 1,000 agents). After a
partition's state is restored, :func:`settle` moves everything alive into the
permanent generation (``gc.freeze``), which collections no longer walk.
"""

from __future__ import annotations

import gc
import time
from typing import Any


class GcPauses:
    """Longest pause and count per generation since the last :meth:`take`."""

    def __init__(self) -> None:
        self._t0 = 0.0
        self.max_ms = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        gen = int(info.get("generation", 2))
        ms = (time.perf_counter() - self._t0) * 1000
        self.count[gen] += 1
        if ms > self.max_ms[gen]:
            self.max_ms[gen] = ms

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
        self.max_ms = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        return out


def settle() -> None:
    """After a restore: collect once, then freeze what is alive (collections skip it)."""
    gc.collect()
    gc.freeze()
