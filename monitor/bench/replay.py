"""``mcpmon bench replay``: events/s of the rule engine beside an orjson-decode-only loop.

Both over the same bytes, in the same process, best of N rounds (see
:mod:`monitor.bench.timing`). :func:`simulated_lines`, :func:`engine_run` and :func:`feed`
are shared with ``bench baseline``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path

import orjson

from monitor.bench.timing import decode_only, timed
from monitor.charter import Charter, load_charter_dir
from monitor.core import Engine, EngineSettings
from monitor.events import decode_event

TARGET_EVENTS_PER_S = 50_000
TARGET_RATIO = 0.10


def simulated_lines(n: int, seed: int) -> tuple[list[bytes], list[Charter]]:
    """Exactly ``n`` simulated events (as JSON lines) and their charters."""
    from monitor import simulate

    agents, minutes = simulate.size_for_events(n)
    sim = simulate.stream(agents, minutes, seed)
    lines = [orjson.dumps(e) for e in islice(sim, n)]
    return lines, list(sim.charters)


def engine_run(
    lines: list[bytes], charters: list[Charter], settings: EngineSettings | None
) -> Callable[[], int]:
    """A fresh engine over ``lines``: decode, process, encode every output; returns the count."""

    def go() -> int:
        return feed(Engine(charters, settings), lines)

    return go


def feed(engine: Engine, lines: Iterable[bytes]) -> int:
    """Decode and process ``lines`` in ``engine``, encoding every output; returns the outputs."""
    outputs = 0
    for raw in lines:
        d = engine.process(decode_event(raw))
        for a in d.alerts:
            a.to_json()
            outputs += 1
        for r in d.revocations:
            r.to_json()
            outputs += 1
    return outputs


def bench_replay(n_events: int, seed: int, rounds: int, file: str | None) -> int:
    if file:
        lines = [x for x in Path(file).read_bytes().splitlines() if x.strip()]
        charters = load_charter_dir(Path(file).parent / "charters")
        source = file
    else:
        print(f"simulating ≥ {n_events:,} events (seed {seed}) …", flush=True)
        lines, charters = simulated_lines(n_events, seed)
        source = f"simulated, seed {seed}"
    size = sum(len(x) for x in lines)
    print(f"{len(lines):,} events, {size / len(lines):.0f} bytes/event on average ({source})")

    from monitor.evaluate import RULE_DETECTORS

    # The rule engine: the figure the replay target is about; baselines have their own
    # benchmark (mcpmon bench baseline) with their own target.
    full_engine = engine_run(lines, charters, EngineSettings(detectors=RULE_DETECTORS))

    best_base = best_full = float("inf")
    outputs = 0
    for r in range(1, rounds + 1):
        tb, _ = timed(decode_only(lines))
        tf, outputs = timed(full_engine)
        best_base, best_full = min(best_base, tb), min(best_full, tf)
        print(
            f"  round {r}: decode-only {len(lines) / tb:>12,.0f} ev/s   "
            f"engine {len(lines) / tf:>10,.0f} ev/s   ratio {tb / tf:.3f}",
            flush=True,
        )
    eps = len(lines) / best_full
    base_eps = len(lines) / best_base
    ratio = best_base / best_full
    print(
        f"\nbench replay: rule engine (decode + validate + 5 rule detectors + decide + encode) "
        f"{eps:,.0f} events/s ({1e6 / eps:.1f} µs/event), {outputs:,} alerts+commands\n"
        f"baseline     : orjson decode only over the same bytes {base_eps:,.0f} events/s\n"
        f"ratio        : {ratio:.3f} of decode-only  "
        f"(targets: ≥ {TARGET_EVENTS_PER_S:,} events/s and ≥ {TARGET_RATIO:.2f})"
    )
    met = eps >= TARGET_EVENTS_PER_S and ratio >= TARGET_RATIO
    print("targets met" if met else "TARGETS NOT MET")
    return 0 if met else 1
