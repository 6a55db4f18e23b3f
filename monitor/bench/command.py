"""``mcpmon bench``: the benchmarks, each a module of this package, and their defaults.

A flag not given is ``None``, so that "not given" is never confused with a
value that happens to equal another benchmark's default (``bench soak --rate
2000`` once ran at 400/s); each benchmark then takes its own default.
"""

from __future__ import annotations

import argparse
from typing import Any

from monitor.command_support import settings_from_args
from monitor.errors import MonitorError

REPLAY_DEFAULT_EVENTS = 500_000
TAP_DEFAULT_LINES = 200_000
KAFKA_DEFAULT_RATE = 2000.0
KAFKA_DEFAULT_SECONDS = 20.0
DEFAULT_SEED = 7
MODELS_DEFAULT_SEEDS = (1, 2)  # the tuning seeds results/baseline_models.md was measured on


def add_bench_parser(sub: Any) -> None:
    """Register ``bench`` on the CLI's sub-parsers."""
    b = sub.add_parser(
        "bench",
        help="benchmarks that report a figure and, from the same run, the baseline it compares to",
        description="replay: events/s of the full engine (decode + validate + detect + encode) vs an "
        "orjson-decode-only loop over the same bytes, in the same process, best of N rounds. "
        "kafka: events/s of the worker end to end (--processes N) vs a raw aiokafka consume + "
        "orjson loop over the same topic and vs replay over the same events, then "
        "produce-to-revocation latency at --rate and at 50 % of the measured capacity (needs the broker: "
        "bash scripts/kafka.sh start; MCPMON_KAFKA_BOOTSTRAP). "
        "tap: gateway-log lines/s mapped per format vs an orjson-decode-only loop over the same "
        "lines. soak: --rate events/s (400) for --seconds (300) into one worker on the broker, "
        "restarted half-way; events in vs processed, outputs and state vs in-process, lag "
        "recovery and memory over time, written to results/soak.md. "
        "baseline: µs per call for behaviour features + score + learn, the whole engine with "
        "the charters' baseline on vs off in the same rounds, chunk by chunk (CPU time: the "
        "layer's µs per call, each chunk's median over the rounds, target ≤ 15, and the on/off "
        "ratio of the best rounds, target ≥ 0.6), whether the compiled build "
        "is in use (python -m monitor.native_build), and memory for 100,000 agents. "
        "proxy: the charter decision of mcpmon proxy --policy inline (p50/p99, target p99 "
        "<= 1 ms in process) beside the forward time of a tools/call through the proxy to an "
        "in-memory MCP server, with --policy monitor (no decision) and inline (--events calls, "
        "2000). "
        "models: the counting behaviour baseline beside river's anomaly models (HalfSpaceTrees, "
        "LODA, GaussianScorer) on the same simulated calls, one model per agent: attacks found at "
        "each agent's benign maximum, mean attack rank, µs per call, state per agent; simulator "
        "seeds 1 and 2 (--seed S: that seed alone), 60 agents × 360 min each, the markdown table "
        "of results/baseline_models.md.",
    )
    b.add_argument(
        "what",
        choices=["replay", "baseline", "kafka", "tap", "soak", "proxy", "models"],
        help="which benchmark",
    )
    b.add_argument(
        "--events",
        type=int,
        default=None,
        help="events to simulate (default 500000; kafka: 60000; tap: 200000 lines)",
    )
    b.add_argument("--seed", type=int, default=None)  # 7; models: seeds 1 and 2
    b.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds; the best of each is reported (baseline: and the median per chunk)",
    )
    b.add_argument("--file", metavar="EVENTS.jsonl", help="use this file instead of simulating")
    b.add_argument(
        "--rate", type=float, default=None, help="offered events/s (kafka: 2000; soak: 400)"
    )
    b.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="kafka: latency phase, ≤ 60 (20); soak: length of the run (300)",
    )
    b.add_argument(
        "--probe-every",
        type=int,
        default=None,
        metavar="N",
        help="kafka: one event in N of the latency phase is a probe violation, the events "
        "timed (default 50: each makes an agent, an alert and a signed command, so the probes "
        "stay a small part of the load, as real violations are)",
    )
    b.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help="kafka: run the worker as `mcpmon worker --processes N` (default: as the worker "
        "does, one per usable CPU, at most the bench's 4 partitions); with N > 1 the "
        "throughput phase also runs one process, for the scaling ratio",
    )
    b.set_defaults(func=cmd_bench)


def _given(value: float | None, default: float) -> float:
    """A flag's value, or the benchmark's own default when the flag was not given."""
    return default if value is None else value


def _seed(args: argparse.Namespace) -> int:
    return int(_given(args.seed, DEFAULT_SEED))


def _replay(args: argparse.Namespace) -> int:
    from monitor.bench.replay import bench_replay

    return bench_replay(
        int(_given(args.events, REPLAY_DEFAULT_EVENTS)), _seed(args), args.rounds, args.file
    )


def _baseline(args: argparse.Namespace) -> int:
    from monitor.bench.baseline import bench_baseline, bench_baseline_memory

    rc = bench_baseline(int(_given(args.events, REPLAY_DEFAULT_EVENTS)), _seed(args), args.rounds)
    return rc or bench_baseline_memory()


def _tap(args: argparse.Namespace) -> int:
    from monitor.bench.tap import bench_tap

    return bench_tap(
        int(_given(args.events, TAP_DEFAULT_LINES)), _seed(args), args.rounds, args.file
    )


def _kafka(args: argparse.Namespace) -> int:
    from monitor.bench.broker import PARTITIONS
    from monitor.bench.kafka import KAFKA_DEFAULT_EVENTS, KAFKA_DEFAULT_PROBE_EVERY, bench_kafka
    from monitor.worker.command import usable_cpus

    processes = args.processes if args.processes is not None else min(usable_cpus(), PARTITIONS)
    if processes < 1:
        raise MonitorError(f"--processes must be at least 1, got {processes}")
    probe_every = int(_given(args.probe_every, KAFKA_DEFAULT_PROBE_EVERY))
    if probe_every < 2:
        raise MonitorError(f"--probe-every must be at least 2, got {probe_every}")
    return bench_kafka(
        settings_from_args(args, uses=("kafka",)).kafka_bootstrap,
        int(_given(args.events, KAFKA_DEFAULT_EVENTS)),
        _seed(args),
        _given(args.rate, KAFKA_DEFAULT_RATE),
        _given(args.seconds, KAFKA_DEFAULT_SECONDS),
        probe_every=probe_every,
        processes=processes,
    )


def _soak(args: argparse.Namespace) -> int:
    from monitor.bench.soak import SOAK_DEFAULT_RATE, SOAK_DEFAULT_SECONDS, bench_soak

    rate = _given(args.rate, SOAK_DEFAULT_RATE)
    seconds = _given(args.seconds, SOAK_DEFAULT_SECONDS)
    return bench_soak(
        settings_from_args(args, uses=("kafka",)).kafka_bootstrap, rate, seconds, _seed(args)
    )


def _proxy(args: argparse.Namespace) -> int:
    from monitor.bench.proxy import PROXY_DEFAULT_CALLS, bench_proxy

    return bench_proxy(int(_given(args.events, PROXY_DEFAULT_CALLS)), args.rounds)


def _models(args: argparse.Namespace) -> int:
    from monitor.bench.models import compare_models

    seeds = MODELS_DEFAULT_SEEDS if args.seed is None else (args.seed,)
    print(f"counting baseline vs river's models, simulator seeds {seeds} …", flush=True)
    print(compare_models(seeds), end="")
    return 0


BENCHMARKS = {
    "replay": _replay,
    "baseline": _baseline,
    "kafka": _kafka,
    "tap": _tap,
    "soak": _soak,
    "proxy": _proxy,
    "models": _models,
}


def cmd_bench(args: argparse.Namespace) -> int:
    run = BENCHMARKS.get(args.what)
    if run is None:
        raise MonitorError(f"unknown benchmark {args.what!r}")
    return run(args)
