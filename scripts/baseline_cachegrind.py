"""The behaviour layer's cost per call in the engine, counted instead of timed: instructions
and cache misses under valgrind's cache simulator.

Wall-clock and CPU-time figures of the layer swing 20–60 µs per call between rounds on this
shared machine; these counts do not move between runs. The engine runs over the first
10,000 simulated events (seed 7) twice, the charters' ``baseline`` on and off, each in its
own valgrind, with a simulated 32 KiB L1 and a 1 MiB last level (the L2 per core here: what
the rest of the engine pushes the layer's code and data out of between two calls). Printed:
on minus off per tool call, for instructions (Ir), L1 instruction and data misses
(I1mr, D1mr) and last-level misses (ILmr, DLmr).

Issue 14's eighth cost pass (results/baseline_cost.md)::

    python -m monitor.native_build
    .venv/bin/python scripts/baseline_cachegrind.py      # needs valgrind (Debian: valgrind)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

EVENTS = 10_000
SEED = 7
COUNTERS = ("I refs", "I1 misses", "LLi misses", "D1 misses", "LLd misses")


def child(mode: str) -> None:
    """Run the engine over the events, the charters' baseline on or off; print the calls."""
    from monitor.bench.replay import engine_run, simulated_lines
    from monitor.charter import Baseline
    from monitor.events import ToolCall, decode_event

    lines, charters = simulated_lines(EVENTS, SEED)
    if mode == "off":
        charters = [c.model_copy(update={"baseline": Baseline(enabled=False)}) for c in charters]
    engine_run(lines, charters, None)()
    print(sum(type(decode_event(x)) is ToolCall for x in lines))


def counts(mode: str) -> tuple[dict[str, int], int]:
    """valgrind's totals for one run, and the number of tool calls it saw."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "cachegrind.log"
        out = subprocess.run(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=yes",
                "--I1=32768,8,64",
                "--D1=32768,8,64",
                "--LL=1048576,16,64",
                f"--cachegrind-out-file={tmp}/out",
                f"--log-file={log}",
                sys.executable,
                __file__,
                mode,
            ],
            env={**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"},
            capture_output=True,
            text=True,
            check=True,
        )
        text = log.read_text()
    summary = re.sub(r"\s+", " ", text)  # "I   refs:" → "I refs:", as COUNTERS spells them
    got = {}
    for name in COUNTERS:
        m = re.search(rf"{re.escape(name)}:\s+([\d,]+)", summary)
        if m is None:
            raise SystemExit(f"no '{name}' in valgrind's summary:\n{text}")
        got[name] = int(m.group(1).replace(",", ""))
    return got, int(out.stdout.split()[-1])


def main() -> None:
    from monitor.core.baseline import native

    build = "compiled (mypyc)" if native.active() else "pure Python"
    print(f"engine over {EVENTS:,} simulated events (seed {SEED}), behaviour layer {build}")
    on, calls = counts("on")
    off, _ = counts("off")
    print(f"{calls:,} tool calls; per tool call, charters' baseline on minus off:")
    for name in COUNTERS:
        print(f"  {name:<11} {(on[name] - off[name]) / calls:>9,.0f}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        child(sys.argv[1])
    else:
        main()
