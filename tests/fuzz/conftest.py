"""Counts the hostile inputs tried, per class, and prints them at the end of the run."""

from __future__ import annotations

from collections import Counter
from typing import Any

TRIED: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TRIED:
        return
    tr = terminalreporter
    tr.section("hostile inputs tried")
    for name, n in sorted(TRIED.items()):
        tr.write_line(f"{n:>9,}  {name}")
    tr.write_line(f"{sum(TRIED.values()):>9,}  in total")
