"""Why the behaviour layer costs twice as much in the engine as alone: its code and state go cold.

Times the detector's per-call work, ``AgentBaseline.step`` (learn the agent's last call if
it was judged without a finding, then observe, score, threshold), in three settings over
the same simulated calls:

- inside the engine (``Engine.process``, every detector on), read around the step;
- alone, each call straight into its agent's model (what ``mcpmon bench baseline``
  calls "model alone");
- alone, with 8 MiB of other memory written before each call (more than the 1 MiB
  L2 per core: what the engine's other twenty detectors do between two calls of an
  agent), then the same with the model's state or the call read again before the
  step, to tell which cold data costs what.

Issue 14's fifth and sixth cost passes (results/baseline_cost.md; until the sixth, the
learning was a second call, ``learn_pending``, made after the decision)::

    python -m monitor.native_build
    .venv/bin/python scripts/baseline_cold.py 30000
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from monitor.bench.replay import engine_run, simulated_lines
from monitor.core.baseline import native
from monitor.core.baseline.model import AgentBaseline
from monitor.core.detectors import behaviour
from monitor.events import ToolCall, decode_event

clock = time.perf_counter_ns


def in_engine(lines: list[bytes], charters: list[Any], n_calls: int) -> float:
    """µs per call of ``step`` inside the engine (best of 3)."""
    acc = [0]

    class Timed:  # stands in for the model: forwards and times the detector's step
        __slots__ = ("m",)

        def __init__(self, m: AgentBaseline) -> None:
            self.m = m

        def step(self, *a: Any) -> bool:
            t = clock()
            r = self.m.step(*a)
            acc[0] += clock() - t
            return r

        def __getattr__(self, name: str) -> Any:
            return getattr(self.m, name)

    def on_call(self: Any, ctx: Any, st: Any) -> Any:
        m = st.sections.get("behaviour_anomaly")
        if m is None:
            m = st.sections["behaviour_anomaly"] = AgentBaseline()
        st.sections["behaviour_anomaly"] = Timed(m)
        try:
            return real_on_call(self, ctx, st)
        finally:
            st.sections["behaviour_anomaly"] = m

    real_on_call = behaviour.BehaviourAnomaly.on_call
    best = float("inf")
    behaviour.BehaviourAnomaly.on_call = on_call  # type: ignore[method-assign]
    try:
        run = engine_run(lines, charters, None)
        for _ in range(3):
            acc[0] = 0
            run()
            best = min(best, acc[0] / n_calls / 1e3)
    finally:
        behaviour.BehaviourAnomaly.on_call = real_on_call  # type: ignore[method-assign]
    return best


def alone(
    calls: list[ToolCall], stamps: list[float], before: Callable[[AgentBaseline, ToolCall], None]
) -> float:
    """µs per call of ``step`` into fresh models (each call learned by the next step, as
    in the engine for a call without findings), ``before`` run ahead of each call, untimed
    (best of 2)."""
    best = float("inf")
    for _ in range(2):
        models: dict[str, AgentBaseline] = {}
        a = 0
        for c, t in zip(calls, stamps, strict=True):
            m = models.get(c.agent_id)
            if m is None:
                m = models[c.agent_id] = AgentBaseline()
            before(m, c)
            t1 = clock()
            m.step(c, t, 200, 0.001)
            a += clock() - t1
        best = min(best, a / len(calls) / 1e3)
    return best


def main(argv: list[str]) -> None:
    n = int(argv[1]) if len(argv) > 1 else 30_000
    lines, charters = simulated_lines(n, 7)
    calls = [ev for ev in map(decode_event, lines) if type(ev) is ToolCall]
    stamps = [c.ts.timestamp() for c in calls]
    build = "compiled (mypyc)" if native.active() else "pure Python"
    agents = len({c.agent_id for c in calls})
    print(f"{len(lines):,} events, {len(calls):,} tool calls, {agents} agents; {build}")
    other = bytearray(8 * 1024 * 1024)
    lines64 = b"\x01" * (len(other) // 64)

    def nothing(m: AgentBaseline, c: ToolCall) -> None:
        pass

    def thrash(m: AgentBaseline, c: ToolCall) -> None:
        other[::64] = lines64  # one write per 64-byte cache line

    def thrash_then_model(m: AgentBaseline, c: ToolCall) -> None:
        thrash(m, c)
        sum(m.counts), sum(m.times), sum(m.keys), sum(m.totals), sum(m.singles), bytes(m.buf)

    def thrash_then_call(m: AgentBaseline, c: ToolCall) -> None:
        thrash(m, c)
        c.model_dump()

    rows = [("inside the engine, every detector on", in_engine(lines, charters, len(calls)))]
    for name, before in (
        ("alone", nothing),
        ("alone, 8 MiB written before each call", thrash),
        ("  … then the model's state read again", thrash_then_model),
        ("  … then the call read again", thrash_then_call),
    ):
        rows.append((name, alone(calls, stamps, before)))
    print(f"{'µs per call':<40} {'step':>6}")
    for name, s in rows:
        print(f"{name:<40} {s:6.2f}")


if __name__ == "__main__":
    main(sys.argv)
