"""``mcpmon check-charter``: validate charter files, every problem with file, key and line.

Kept apart from :mod:`monitor.cli`, which only registers it; building the
parser imports nothing heavy (what the command drives loads when it runs).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from monitor.errors import CharterError


def add_check_charter_parser(sub: Any) -> None:
    """Register ``check-charter`` on the CLI's sub-parsers."""
    c = sub.add_parser(
        "check-charter",
        help="validate charter files, reporting every problem with file, key and line",
        description="Validate charters. Unknown keys are errors (a misspelt rule must not be "
        "silently ignored). Exit 1 if any file has a problem. Each charter's breadth (servers + "
        "tenants + data domains it grants; an unbounded axis counts 10) is printed, and an "
        "autonomous charter of breadth 10 or more gets a 'warning:' line naming the grants that make "
        "it too broad for static scoping (a warning: the exit code stays 0).",
    )
    c.add_argument("files", nargs="+", metavar="FILE", help="charter YAML files or directories")
    c.add_argument(
        "--json", action="store_true", help="one JSON list: per charter ok/errors and warnings"
    )
    c.set_defaults(func=cmd_check_charter)


def cmd_check_charter(args: argparse.Namespace) -> int:
    from monitor.charter import charter_warnings, load_charter_dir
    from monitor.core.breadth import breadth

    failed = 0
    report: list[dict[str, object]] = []
    for path in args.files:
        try:
            charters = load_charter_dir(path)
        except CharterError as err:
            failed += 1
            problems = [str(p) for p in err.problems]
            report.append({"path": path, "ok": False, "errors": problems})
            if not args.json:
                for p in problems:
                    print(f"error: {p}")
            continue
        for c in charters:
            b = breadth(c)
            warnings = [b.warning()] if b.too_broad else []  # valid: a finding, not a failure
            warnings += [f"{c.agent}: {w}" for w in charter_warnings(c)]
            report.append(
                {
                    "path": path,
                    "ok": True,
                    "agent": c.agent,
                    "kind": c.kind,
                    "mode": c.mode,
                    "tools": len(c.tools),
                    "forbidden_chains": len(c.forbidden_chains),
                    "breadth": b.to_dict(),
                    "warnings": warnings,
                }
            )
            if args.json:
                continue
            print(
                f"ok: {path}: {c.agent} ({c.kind}, {c.mode}, {len(c.tools)} tools, "
                f"{len(c.forbidden_chains)} forbidden chains, {b.summary()})"
            )
            for w in warnings:
                print(f"warning: {path}: {w}")
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 1 if failed else 0
