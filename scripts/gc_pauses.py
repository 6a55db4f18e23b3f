"""GC pauses of the worker's processor over simulated traffic at 1,000 agents, per GC setting.

No Kafka: the Processor handles 60,000 simulated events (4 partitions, a flush of the
changed agents every 200 events, as the worker's shell does), with the collector's
thresholds and a ``gc.freeze()`` every N events as given. Each collection the
collector starts itself is timed in thread CPU time (what a loaded, shared machine
does not inflate) and wall time. Issue 15's GC measurement (README, Performance)::

    .venv/bin/python scripts/gc_pauses.py 700,10,10 0       # CPython's defaults, no freeze
    .venv/bin/python scripts/gc_pauses.py 2000,10,10 600    # the worker's (monitor/worker/gcpause.py)
"""

from __future__ import annotations

import gc
import pathlib
import sys
import tempfile
import time
from typing import Any

from monitor import simulate
from monitor.bench.broker import agent_key, partition_of
from monitor.charter import load_charter_dir
from monitor.core.policy import CharterSet
from monitor.worker.gcpause import settle
from monitor.worker.processor import Processor


def main(argv: list[str]) -> None:
    thresholds = tuple(int(x) for x in argv[0].split(","))
    freeze_every = int(argv[1])  # events between two gc.freeze() calls (0: never)
    tmp = pathlib.Path(tempfile.mkdtemp())
    sim = simulate.simulate(agents=1000, minutes=60, seed=3)
    simulate.write(sim, tmp / "sim")
    lines = (tmp / "sim" / "events.jsonl").read_bytes().splitlines()[:60000]
    proc = Processor(CharterSet(load_charter_dir(tmp / "sim" / "charters")), wall_clock=None)
    for p in range(4):
        proc.assign(p, {}, now=0.0)
    settle()
    pauses: list[tuple[int, float, float, bool]] = []  # (generation, cpu ms, wall ms, explicit)
    start: dict[str, Any] = {}

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            start["explicit"] = gc.get_count()[0] <= gc.get_threshold()[0]
            start["cpu"], start["wall"] = time.thread_time(), time.perf_counter()
            return
        cpu = (time.thread_time() - start["cpu"]) * 1e3
        wall = (time.perf_counter() - start["wall"]) * 1e3
        pauses.append((info["generation"], cpu, wall, start["explicit"]))

    gc.set_threshold(*thresholds)
    gc.callbacks.append(timed)
    t0 = time.thread_time()
    for i, line in enumerate(lines):
        key = agent_key(line)
        proc.handle(partition_of(key or b"", 4), i, line, key)
        if i % 200 == 0:  # a flush: the changed agents' snapshots
            for q in range(4):
                proc.flush(q, lambda k, v: None)
        if freeze_every and i % freeze_every == 0:
            gc.freeze()
    cpu = time.thread_time() - t0
    gc.callbacks.remove(timed)
    auto = [x for x in pauses if not x[3]]
    agents = sum(len(proc.partitions[q].states) for q in range(4))
    for g in range(3):
        gp = [x for x in auto if x[0] == g]
        if gp:
            print(
                f"  gen{g}: n={len(gp):4d} max cpu {max(x[1] for x in gp):6.2f} ms "
                f"wall {max(x[2] for x in gp):6.2f} ms total cpu {sum(x[1] for x in gp):7.1f} ms"
            )
    print(
        f"thresholds={thresholds} freeze_every={freeze_every} agents={agents} "
        f"events={len(lines)} cpu/event {cpu / len(lines) * 1e6:.1f} us "
        f"frozen={gc.get_freeze_count()}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
