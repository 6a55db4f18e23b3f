"""What a benchmarked worker cost, read from outside it: CPU seconds and its longest GC pause.

Wall-clock events/s on this shared 2-core machine scatter by a factor of two
between runs of the same code (the broker and the load generator share the
cores); the CPU the worker processes themselves used between "every process
holds partitions" and "the last sentinel is readable" does not. Read from
``/proc/<pid>/stat`` (Linux), so start-up and shut-down are not in it.

>>> cpu_of_stat("1 (python3 -m x) S 0 1 1 0 -1 0 0 0 0 0 250 50 0 0", ticks=100)
3.0
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_of_stat(stat: str, ticks: int = _TICKS) -> float:
    """User + system CPU seconds from the text of ``/proc/<pid>/stat``.

    The command name (field 2) may hold spaces and parentheses: fields are
    counted after its closing one (utime and stime are fields 14 and 15).
    """
    rest = stat[stat.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / ticks


def cpu_seconds(pids: Iterable[int], proc: Path = Path("/proc")) -> dict[int, float]:
    """CPU seconds used so far by each of ``pids`` still running (absent: gone or unreadable)."""
    out: dict[int, float] = {}
    for pid in pids:
        try:
            out[pid] = cpu_of_stat((proc / str(pid) / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
    return out


def cpu_used(before: Mapping[int, float], after: Mapping[int, float]) -> float | None:
    """CPU seconds used between two readings, by the processes present in both (None: none)."""
    both = [pid for pid in after if pid in before]
    if not both:
        return None
    return sum(after[pid] - before[pid] for pid in both)


def worker_pids(logs: Iterable[Mapping[str, Any]], fallback: int) -> set[int]:
    """The worker processes that took partitions (their ``partitions_assigned`` lines carry
    their pid; with ``--processes N`` these are the supervisor's children)."""
    pids = {
        int(r["pid"])
        for r in logs
        if r.get("event") == "partitions_assigned" and isinstance(r.get("pid"), int)
    }
    return pids or {fallback}


@contextlib.contextmanager
def paused(pids: Iterable[int]) -> Iterator[None]:
    """The processes ``pids`` stopped (SIGSTOP) for the block, continued (SIGCONT) after it,
    also when it raises. Held shorter than the consumer group's session (30 s by default),
    a stopped worker keeps its partitions: nothing rebalances."""
    stopped: list[int] = []
    try:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def longest_gc_pause(logs: Iterable[Mapping[str, Any]]) -> tuple[float, int] | None:
    """``(ms, generation)`` of the longest collection the worker's ``stats`` lines report
    (``gcN_max_ms``: collections the collector started; a ``gc.collect()`` the worker or
    Faust asked for at a restore or a stop is counted apart, ``gc_explicit_*``)."""
    best: tuple[float, int] | None = None
    for r in logs:
        if r.get("event") != "stats":
            continue
        for gen in range(3):
            ms = r.get(f"gc{gen}_max_ms")
            if isinstance(ms, (int, float)) and (best is None or ms > best[0]):
                best = (float(ms), gen)
    return best
