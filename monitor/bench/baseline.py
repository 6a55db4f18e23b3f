"""``mcpmon bench baseline``: what the behaviour layer costs, beside the engine without it.

µs per call for features, score and learn (the model alone), then the whole
engine with the charters' baseline on and off in the same rounds, and the
memory of 100,000 agents' baselines.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

import orjson

from monitor.bench.replay import feed, simulated_lines
from monitor.charter import Baseline, Charter
from monitor.core import Engine
from monitor.events import decode_event

STAGE_CALLS = 100_000  # calls the per-stage split is timed on


def _split_stages(calls: list[Any]) -> dict[str, float]:
    """µs per call of the behaviour model's stages, each timed over the same calls.

    Every pass replays all calls into fresh per-agent models, doing one more
    stage than the last; a stage's cost is the difference to the pass before.
    """
    from monitor.core.baseline.features import extract
    from monitor.core.baseline.model import AgentBaseline

    stamps = [c.ts.timestamp() for c in calls]

    def run(stage: int) -> float:
        models: dict[str, AgentBaseline] = {}
        gc.collect()
        start = time.process_time()
        for c, t in zip(calls, stamps, strict=True):
            if stage == 0:
                extract(c, t)
                continue
            m = models.get(c.agent_id)
            if m is None:
                m = models[c.agent_id] = AgentBaseline()
            f = m.observe(c, t)
            if stage == 1:
                continue
            raw, s = m.score_one(f)
            if stage == 2:
                continue
            m.push(s)
            m.learn_one(f, s, raw)
        return (time.process_time() - start) / len(calls) * 1e6

    best = [min(run(k) for _ in range(2)) for k in range(4)]
    return {
        "features (extract)": best[0],
        "features (window)": best[1] - best[0],
        "score": best[2] - best[1],
        "learn": best[3] - best[2],
        "model total": best[3],
    }


TARGET_LAYER_US = 15.0  # µs per tool call the behaviour layer may add to the engine
TARGET_ON_OFF = 0.6  # events/s with the charters' baselines on, over off
PAIR_EVENTS = 2_000  # events per chunk of the paired estimate (at most an eighth of the run)


def _cpu_fed(engine: Engine, chunk: list[bytes]) -> float:
    """CPU seconds ``engine`` takes to decode, process and encode ``chunk``."""
    start = time.process_time()
    feed(engine, chunk)
    return time.process_time() - start


def _paired_rounds(
    lines: list[bytes], is_call: list[bool], on: list[Charter], off: list[Charter], rounds: int
) -> tuple[list[tuple[float, float]], float]:
    """Run the engine with the charters' baseline on and off, chunk by chunk, side by side.

    Each round makes a fresh engine of each and feeds both the same chunk of events back
    to back, CPU-timed apart; which goes first alternates from chunk to chunk, so neither
    always finds the caches (and the module-level memos) as the other left them. A
    chunk's difference is the layer's time on those calls, and chunks differ in what the
    layer does (warm-up, scoring, alerts), so the estimate keeps every chunk: for each,
    the median of its difference over the rounds (a disturbance of the shared machine that
    hits one round of a chunk is dropped), summed over the chunks, per tool call.
    Returns each round's total seconds (off, on) and that estimate in µs per call.
    """
    step = max(1, min(PAIR_EVENTS, len(lines) // 8))
    starts = range(0, len(lines), step)
    totals: list[tuple[float, float]] = []
    diffs: list[list[float]] = [[] for _ in starts]  # per chunk, one difference per round
    n_calls = sum(is_call)
    for r in range(1, rounds + 1):
        e_off, e_on = Engine(off, None), Engine(on, None)
        t_off = t_on = 0.0
        gc.collect()
        for k, lo in enumerate(starts):
            chunk = lines[lo : lo + step]
            if k % 2 == 0:
                d_off = _cpu_fed(e_off, chunk)
                d_on = _cpu_fed(e_on, chunk)
            else:
                d_on = _cpu_fed(e_on, chunk)
                d_off = _cpu_fed(e_off, chunk)
            t_off, t_on = t_off + d_off, t_on + d_on
            diffs[k].append(d_on - d_off)
        totals.append((t_off, t_on))
        print(
            f"  round {r}: baselines off {len(lines) / t_off:>10,.0f} ev/s   "
            f"on {len(lines) / t_on:>10,.0f} ev/s   ratio {t_off / t_on:.3f}   "
            f"layer {(t_on - t_off) / n_calls * 1e6:5.1f} µs/call",
            flush=True,
        )
    paired = sum(statistics.median(d) for d in diffs) / n_calls * 1e6
    return totals, paired


def bench_baseline(n_events: int, seed: int, rounds: int) -> int:
    """``mcpmon bench baseline``: the behaviour layer's cost, beside the engine without it.

    Prints µs per tool call for feature extraction, scoring and learning (the
    model alone), then the whole engine (decode + every detector + decide +
    encode) with the charters' ``baseline`` on and with it off (``enabled:
    false``, every other detector the same), over the same bytes in the same
    rounds, chunk by chunk (:func:`_paired_rounds`). The layer's cost per tool
    call is the paired estimate: per chunk, the median over the rounds of the
    two engines' difference in CPU time on it, summed. The difference of the
    best whole rounds (the estimate before 2026-12-05) is printed beside it.
    The on/off ratio, what a whole ``mcpmon replay`` keeps, is of the best
    whole rounds. Exit 1 unless the layer costs at most :data:`TARGET_LAYER_US`
    µs per call and the ratio is at least :data:`TARGET_ON_OFF`.
    """
    from monitor.core.baseline import native
    from monitor.events import ToolCall

    print(f"simulating ≥ {n_events:,} events (seed {seed}) …", flush=True)
    lines, charters = simulated_lines(n_events, seed)
    events = [decode_event(x) for x in lines]
    is_call = [type(ev) is ToolCall for ev in events]
    calls = [ev for ev, c in zip(events, is_call, strict=True) if c]
    del events
    build = "compiled (mypyc)" if native.active() else "pure Python"
    print(f"{len(lines):,} events, {len(calls):,} tool calls; behaviour layer: {build}")
    stages = _split_stages(calls[:STAGE_CALLS])
    print(
        f"behaviour model alone, µs per tool call (first {min(len(calls), STAGE_CALLS):,} calls, "
        "best of 2, fresh models):"
    )
    for name, us in stages.items():
        print(f"  {name:<20} {us:6.2f} µs")

    off = [c.model_copy(update={"baseline": Baseline(enabled=False)}) for c in charters]
    totals, paired = _paired_rounds(lines, is_call, charters, off, rounds)
    best_off = min(t for t, _ in totals)
    best_on = min(t for _, t in totals)
    eps_off, eps_on = len(lines) / best_off, len(lines) / best_on
    whole = (best_on - best_off) / len(calls) * 1e6
    ratio = best_off / best_on
    print(
        f"\nbench baseline ({build}): the behaviour layer adds {paired:.1f} µs per tool call "
        f"in the engine (paired chunks: each chunk's median on − off over the rounds; the best "
        f"whole rounds' difference: {whole:.1f} µs; model alone {stages['model total']:.1f} µs)"
        f"  (target: ≤ {TARGET_LAYER_US:g} µs)\n"
        f"engine, charters' baseline on : {eps_on:,.0f} events/s ({1e6 / eps_on:.1f} µs/event)\n"
        f"engine, charters' baseline off: {eps_off:,.0f} events/s ({1e6 / eps_off:.1f} µs/event), "
        "same run, same bytes, every other detector the same\n"
        f"ratio on/off  : {ratio:.3f}  (target: ≥ {TARGET_ON_OFF:g}; CPU time, best of {rounds})"
    )
    met = paired <= TARGET_LAYER_US and ratio >= TARGET_ON_OFF
    print("targets met" if met else "TARGETS NOT MET")
    return 0 if met else 1


def bench_baseline_memory(n_agents: int = 100_000, seed: int = 7, sample: int = 400) -> int:
    """Memory of ``n_agents`` agents' behaviour baselines, in process and serialised.

    ``sample`` simulated agents are trained on six hours of their own traffic
    (past warm-up); their models are then restored round-robin into
    ``n_agents`` live objects, and tracemalloc measures what those hold. The
    serialised figure is each model's share of the agent-state snapshot.
    """
    import tracemalloc

    import numpy as np

    from monitor import simulate
    from monitor.core.baseline.model import AgentBaseline
    from monitor.core.detectors.behaviour import baseline_of

    print(f"training {sample} simulated agents' baselines (seed {seed}, 360 min) …", flush=True)
    engine = Engine(simulate.plan(sample, 360, seed).charters)
    for e in simulate.iter_events(sample, 360, seed):
        engine.process(decode_event(orjson.dumps(e)))
    models = (baseline_of(st) for st in engine.states.values())
    trained = [m for m in models if m is not None]
    snaps = [m.snapshot() for m in trained]
    sizes = np.array([len(orjson.dumps(s)) for s in snaps])
    whole = np.array([len(st.snapshot()) for st in engine.states.values()])
    learned = np.array([m.n_learned for m in trained])
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    live = [AgentBaseline.restore(snaps[i % len(snaps)]) for i in range(n_agents)]
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    per = used / len(live)
    pct = (50, 90, 99, 100)
    print(
        f"calls learned per trained agent: median {np.median(learned):.0f}, "
        f"max {learned.max()}\n"
        f"baseline snapshot (JSON, base64 arrays): "
        + ", ".join(f"p{p} {np.percentile(sizes, p):,.0f} B" for p in pct)
        + "\nwhole agent-state snapshot: "
        + ", ".join(f"p{p} {np.percentile(whole, p):,.0f} B" for p in pct)
        + f"\nbench baseline memory: {n_agents:,} agents' live baselines hold "
        f"{used / 2**20:,.1f} MiB ({per:,.0f} B per agent, tracemalloc); serialised "
        f"{sizes.mean() * n_agents / 2**20:,.1f} MiB"
    )
    del live
    return 0
