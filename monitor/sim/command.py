"""``mcpmon simulate``: labelled synthetic traffic, charters and labels on disk.

Kept apart from :mod:`monitor.cli`, which only registers it; building the
parser imports nothing heavy (what the command drives loads when it runs).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from monitor.command_support import out_dir


def add_simulate_parser(sub: Any) -> None:
    """Register ``simulate`` on the CLI's sub-parsers."""
    m = sub.add_parser(
        "simulate",
        help="write realistic labelled synthetic traffic, charters and labels",
        description="Simulate delegated and autonomous agents with charters, tasks, sponsors and "
        "credentials, with injected violations of every detector and benign near-misses. Writes "
        "DIR/events.jsonl, DIR/labels.jsonl and DIR/charters/*.yaml. Deterministic per seed.",
    )
    m.add_argument("--agents", type=int, default=40, help="number of agents (default 40)")
    m.add_argument("--minutes", type=float, default=60, help="simulated minutes (default 60)")
    m.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    m.add_argument(
        "--out", default="sim", type=out_dir, metavar="DIR", help="output directory (default sim)"
    )
    m.add_argument("--no-attacks", action="store_true", help="benign traffic only")
    m.add_argument("--json", action="store_true", help="print the counts as JSON")
    m.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from monitor import simulate

    sim = simulate.simulate(args.agents, args.minutes, args.seed, attacks=not args.no_attacks)
    simulate.write(sim, args.out)
    n_attacks = sum(1 for label in sim.labels if label["label"] == "attack")
    if args.json:
        summary = {
            "events": len(sim.events),
            "charters": len(sim.charters),
            "labels": len(sim.labels),
            "attacks": n_attacks,
            "out": str(args.out),
        }
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(
        f"wrote {len(sim.events):,} events, {len(sim.charters)} charters, {len(sim.labels)} labels "
        f"({n_attacks} injected violations) to {args.out}/"
    )
    return 0
