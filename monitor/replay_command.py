"""``mcpmon replay``: the detection engine over a JSONL events file, no Kafka.

Kept apart from :mod:`monitor.cli`, which only registers it; building the
parser imports nothing heavy (what the command drives loads when it runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from monitor.command_support import engine_from_args, settings_from_args
from monitor.errors import MonitorError

#: the settings replay reads: the engine's and the command signing keys (it signs as the worker)
REPLAY_USES = ("engine", "commands")


def add_replay_parser(sub: Any) -> None:
    """Register ``replay`` on the CLI's sub-parsers."""
    r = sub.add_parser(
        "replay",
        help="run the detection engine over a JSONL events file (no Kafka)",
        description="Replay events through the detection engine and write DIR/alerts.jsonl, "
        "DIR/revocations.jsonl and DIR/deadletter.jsonl (bad lines with line number and reason). "
        "Prints a summary; shows progress on stderr when it is a terminal.",
        epilog="Example: mcpmon replay examples/events.jsonl --charters examples/charters --out out",
    )
    r.add_argument(
        "events", metavar="EVENTS.jsonl", help="events file, one JSON object a line; - for stdin"
    )
    r.add_argument(
        "--charters", required=True, metavar="DIR", help="charter YAML files (a dir or one file)"
    )
    r.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="output directory (created); - = alerts on stdout (then give --revocations and "
        "--deadletter) and the summary on stderr",
    )
    r.add_argument("--revocations", metavar="FILE", help="revocation commands here instead")
    r.add_argument("--deadletter", metavar="FILE", help="dead letters here instead")
    r.add_argument("--observe", action="store_true", help="shadow mode: mark every command observe")
    r.add_argument(
        "--lateness", type=float, metavar="S", help="watermark lag in seconds (default 0)"
    )
    r.add_argument(
        "--dedup-seconds", type=float, metavar="S", help="alert dedup window (default 300)"
    )
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.add_argument(
        "--compare-charters",
        metavar="DIR",
        help="what-if: also replay with these (current) charters and write DIR/whatif.md and "
        "whatif.json under --out: alerts and revocations that appear or disappear with "
        "--charters, keyed by detector + agent + evidence. Example: mcpmon replay past.jsonl "
        "--charters suggested --out whatif --compare-charters charters",
    )
    r.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from monitor.output_contracts import RevocationCommand
    from monitor.replay import replay_file
    from monitor.signing import CommandSigner

    engine = engine_from_args(args.charters, args, uses=REPLAY_USES)
    if args.events != "-" and (not Path(args.events).exists() or Path(args.events).is_dir()):
        # exists, not is_file: <(zcat events.gz) and /dev/stdin are not regular files
        raise MonitorError(f"events file not found: {args.events}")
    ring = settings_from_args(
        args, uses=REPLAY_USES
    ).command_keyring()  # sign as the worker does, when it has a key
    encode = CommandSigner(ring).encode if ring is not None else RevocationCommand.to_json
    if args.compare_charters and args.events == "-":
        raise MonitorError("--compare-charters replays the events twice: give a file, not -")
    summary = replay_file(
        args.events,
        engine,
        args.out,
        progress=sys.stderr,
        encode_command=encode,
        revocations=args.revocations,
        deadletter=args.deadletter,
    )
    whatif = None
    if args.compare_charters:
        from monitor.charters_from_traffic.command import run_whatif

        whatif = run_whatif(args, settings_from_args(args, uses=REPLAY_USES).engine())
    report = sys.stderr if args.out == "-" else sys.stdout  # stdout carries the alerts then
    if args.json:
        report.write(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(summary.render(), file=report)
        where = "stdout" if args.out == "-" else f"{args.out}/alerts.jsonl"
        rev = args.revocations or f"{args.out}/revocations.jsonl"
        dead = args.deadletter or f"{args.out}/deadletter.jsonl"
        print(f"wrote alerts to {where}, {rev}, {dead}", file=report)
    if whatif:
        print(whatif, file=sys.stderr if args.json or args.out == "-" else sys.stdout)
    return 0
