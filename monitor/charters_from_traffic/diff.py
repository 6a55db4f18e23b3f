"""``mcpmon charter diff``: the charter differ, which lives in the core.

The core judges charter updates with it (a widening update raises a
``charter_widened`` alert), so it moved to :mod:`monitor.core.charter_diff`;
this module keeps the names importable from here.
"""

from __future__ import annotations

from monitor.core.charter_diff import (
    REVIEW,
    RISKIER,
    SAFER,
    Change,
    covered,
    diff_charters,
    diff_pair,
    render,
    to_dict,
)

__all__ = [
    "REVIEW",
    "RISKIER",
    "SAFER",
    "Change",
    "covered",
    "diff_charters",
    "diff_pair",
    "render",
    "to_dict",
]
