"""``mcpmon``: the command line. Every sub-command is a thin shell over the core.

This module only dispatches: each sub-command registers itself from the module
next to the code it drives (``add_X_parser(sub)``: arguments, help text and the
function that runs it), in the order ``mcpmon --help`` lists them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.charters_from_traffic.command import add_charter_parser, add_map_parser
from monitor.check_charter_command import add_check_charter_parser
from monitor.command_support import settings_from_args as _settings
from monitor.completion import add_completion_parser
from monitor.errors import CharterError, MonitorError
from monitor.evaluate_command import add_evaluate_parser
from monitor.explain_command import add_explain_parser
from monitor.feedback_command import add_feedback_parser
from monitor.proxy.command import add_proxy_parser
from monitor.replay_command import add_replay_parser
from monitor.report_command import add_report_parser
from monitor.revoker.command import add_revoker_parser
from monitor.schemas_command import add_schemas_parser
from monitor.signing_command import add_sign_charter_parser
from monitor.sim.command import add_simulate_parser
from monitor.sinks.command import add_sink_parser
from monitor.tail_command import add_tail_parser
from monitor.tap.command import add_tap_parser
from monitor.worker.command import add_worker_parser

EPILOG = "Contracts and charter format: README.md and schemas/. Exit status: 0 ok, 1 findings/problems, 2 usage."


# ---------------------------------------------------------------- bench
REPLAY_DEFAULT_EVENTS = 500_000
TAP_DEFAULT_LINES = 200_000
KAFKA_DEFAULT_RATE = 2000.0
KAFKA_DEFAULT_SECONDS = 20.0


def _given(value: float | None, default: float) -> float:
    """A flag's value, or the benchmark's own default when the flag was not given.

    The flags default to ``None`` so that "not given" is never confused with a
    value that happens to equal another benchmark's default (``bench soak
    --rate 2000`` once ran at 400/s).
    """
    return default if value is None else value


def cmd_bench(args: argparse.Namespace) -> int:
    from monitor import bench

    if args.what == "replay":
        n = int(_given(args.events, REPLAY_DEFAULT_EVENTS))
        return bench.bench_replay(n, args.seed, args.rounds, args.file)
    if args.what == "baseline":
        n = int(_given(args.events, REPLAY_DEFAULT_EVENTS))
        rc = bench.bench_baseline(n, args.seed, args.rounds)
        return rc or bench.bench_baseline_memory()
    if args.what == "tap":
        from monitor.tap.bench import bench_tap

        return bench_tap(
            int(_given(args.events, TAP_DEFAULT_LINES)), args.seed, args.rounds, args.file
        )
    if args.what == "kafka":
        from monitor.bench_kafka import KAFKA_DEFAULT_EVENTS, bench_kafka

        return bench_kafka(
            _settings(args).kafka_bootstrap,
            int(_given(args.events, KAFKA_DEFAULT_EVENTS)),
            args.seed,
            _given(args.rate, KAFKA_DEFAULT_RATE),
            _given(args.seconds, KAFKA_DEFAULT_SECONDS),
            **({"processes": args.processes} if args.processes != 1 else {}),
        )
    if args.what == "soak":
        from monitor.bench_soak import SOAK_DEFAULT_RATE, SOAK_DEFAULT_SECONDS, bench_soak

        rate = _given(args.rate, SOAK_DEFAULT_RATE)
        seconds = _given(args.seconds, SOAK_DEFAULT_SECONDS)
        return bench_soak(_settings(args).kafka_bootstrap, rate, seconds, args.seed)
    if args.what == "proxy":
        from monitor.proxy.bench import PROXY_DEFAULT_CALLS, bench_proxy

        n = PROXY_DEFAULT_CALLS if args.events == REPLAY_DEFAULT_EVENTS else args.events
        return bench_proxy(n, args.rounds)
    raise MonitorError(f"unknown benchmark {args.what!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mcpmon",
        description="Streaming behaviour monitor for AI agents that call tools over MCP.",
        epilog=EPILOG,
    )
    p.add_argument("--version", action="version", version=f"mcpmon {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_replay_parser(sub)  # monitor/replay_command.py
    add_check_charter_parser(sub)  # monitor/check_charter_command.py
    add_schemas_parser(sub)  # monitor/schemas_command.py
    add_simulate_parser(sub)  # monitor/sim/command.py
    add_evaluate_parser(sub)  # monitor/evaluate_command.py
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
        "the charters' baseline on vs off in the same rounds (CPU time: the layer's µs per "
        "call, target ≤ 15, and the on/off ratio, target ≥ 0.6), whether the compiled build "
        "is in use (python -m monitor.native_build), and memory for 100,000 agents. "
        "proxy: the charter decision of mcpmon proxy --policy inline (p50/p99, target p99 "
        "<= 1 ms in process) beside the forward time of a tools/call through the proxy to an "
        "in-memory MCP server, with --policy monitor (no decision) and inline (--events calls, "
        "2000).",
    )
    b.add_argument(
        "what",
        choices=["replay", "baseline", "kafka", "tap", "soak", "proxy"],
        help="which benchmark",
    )
    b.add_argument(
        "--events",
        type=int,
        default=None,
        help="events to simulate (default 500000; kafka: 60000; tap: 200000 lines)",
    )
    b.add_argument("--seed", type=int, default=7)
    b.add_argument("--rounds", type=int, default=3, help="rounds; the best of each is reported")
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
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="kafka: run the worker as `mcpmon worker --processes N` (default 1)",
    )
    b.set_defaults(func=cmd_bench)
    add_explain_parser(sub)  # monitor/explain_command.py
    add_completion_parser(sub)  # monitor/completion.py
    add_tail_parser(sub)  # monitor/tail_command.py
    add_worker_parser(sub)  # monitor/worker/command.py
    add_report_parser(sub)  # monitor/report_command.py
    add_feedback_parser(sub)  # monitor/feedback_command.py
    add_tap_parser(sub)  # mcpmon tap: monitor/tap/command.py
    add_proxy_parser(sub)  # mcpmon proxy: monitor/proxy/command.py
    add_revoker_parser(sub)  # mcpmon revoker: monitor/revoker/command.py
    add_sink_parser(sub)  # mcpmon sink: monitor/sinks/command.py
    add_sign_charter_parser(sub)  # mcpmon sign-charter: monitor/signing_command.py
    add_map_parser(sub)  # mcpmon map: monitor/charters_from_traffic/command.py
    add_charter_parser(sub)  # mcpmon charter suggest|diff|evaluate: same module
    return p


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            sub: argparse.ArgumentParser = action.choices[command]
            return sub
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the sub-command's usage, not the top level's
        _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args))
    except CharterError as err:
        for p in err.problems:
            print(f"error: {p}", file=sys.stderr)
        return 1
    except MonitorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
