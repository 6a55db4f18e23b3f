"""``mcpmon schemas``: the JSON Schema of every contract, written or checked for drift.

Kept apart from :mod:`monitor.cli`, which only registers it; building the
parser imports nothing heavy (what the command drives loads when it runs).
"""

from __future__ import annotations

import argparse
from typing import Any

from monitor.command_support import out_dir


def add_schemas_parser(sub: Any) -> None:
    """Register ``schemas`` on the CLI's sub-parsers."""
    s = sub.add_parser(
        "schemas",
        help="write the JSON Schema of every contract (default into mcpmon-schemas/)",
        description="Generate JSON Schema files from the pydantic contracts; --check fails on "
        "drift. In a checkout, the committed schemas are regenerated with --out schemas.",
    )
    s.add_argument(
        "--out",
        default="mcpmon-schemas",
        type=out_dir,
        metavar="DIR",
        help="target directory (default mcpmon-schemas: a new one, never a checkout's schemas/)",
    )
    s.add_argument("--check", action="store_true", help="only check that the files are up to date")
    s.set_defaults(func=cmd_schemas)


def cmd_schemas(args: argparse.Namespace) -> int:
    from monitor import schemas

    if args.check:
        bad = schemas.stale(args.out)
        if bad:
            print(
                f"stale schema files in {args.out}: {', '.join(bad)} (run: mcpmon schemas --out {args.out})"
            )
            return 1
        print(f"{args.out}: up to date")
        return 0
    for p in schemas.write(args.out):
        print(f"wrote {p}")
    return 0
