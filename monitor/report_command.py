"""``mcpmon report``: reports over recorded traffic (privileges).

Kept apart from :mod:`monitor.cli`, which only registers it; building the
parser imports nothing heavy (what the command drives loads when it runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson


def add_report_parser(sub: Any) -> None:
    """Register ``report`` on the CLI's sub-parsers."""
    rp = sub.add_parser(
        "report",
        help="reports over recorded traffic (privileges: standing privilege, least-privilege advice)",
        description="privileges: grants an agent pattern holds but has not used in the window or "
        "for --days, credentials that outlived their use, and a credential_max_ttl suggestion "
        "from how long credentials were actually used. Event time only: the report is the same "
        "whenever it is run.",
    )
    rp.add_argument("what", choices=["privileges"], help="which report")
    rp.add_argument("events", metavar="EVENTS.jsonl", help="recorded events; - for stdin")
    rp.add_argument("--charters", required=True, metavar="DIR", help="charters in force")
    rp.add_argument("--days", type=float, default=30, help="flag grants unused this long (30)")
    rp.add_argument("--json", action="store_true", help="JSON instead of markdown")
    rp.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout (- is stdout)")
    rp.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from monitor.charter import load_charter_dir
    from monitor.core.policy import CharterSet
    from monitor.core.standing import PrivilegeUsage
    from monitor.errors import DecodeError
    from monitor.events import decode_event
    from monitor.replay import read_lines

    usage = PrivilegeUsage(CharterSet(load_charter_dir(args.charters)))
    bad = 0
    for raw in read_lines(args.events):
        if not isinstance(raw, bytes):  # longer than the message limit: never decoded
            bad += 1
            continue
        if not raw.strip():
            continue
        try:
            usage.observe(decode_event(raw))
        except DecodeError:
            bad += 1
    report = usage.report(unused_days=args.days)
    text = (
        orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode()
        if args.json
        else report.to_markdown()
    )
    if args.out and args.out != "-":
        Path(args.out).write_text(text + "\n")
        print(f"wrote {args.out}")
    else:
        print(text)
    if bad:
        print(
            f"skipped {bad:,} undecodable lines (mcpmon replay dead-letters them with reasons)",
            file=sys.stderr,
        )
    return 0
