"""``python -m monitor.corpora NAME --source DIR``: (re)write a corpus's committed fixture."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from monitor.corpora.registry import CORPORA, regenerate
from monitor.errors import MonitorError


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m monitor.corpora",
        description="Convert a public corpus from its source (a checkout, or a bare git snapshot "
        "for InjecAgent) and write the small fixture mcpmon evaluate --corpus NAME runs from "
        "(default: data/corpora/NAME). Deterministic: the same source writes the same bytes.",
    )
    p.add_argument("name", choices=sorted(CORPORA), help="corpus name")
    p.add_argument("--source", required=True, metavar="DIR", help="the corpus source")
    p.add_argument("--out", metavar="DIR", help="fixture directory (default data/corpora/NAME)")
    args = p.parse_args(argv)
    try:
        out = regenerate(args.name, args.source, args.out)
    except MonitorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
