"""Breadth of a charter: how many servers, tenants and data domains its grants span.

Static scoping (a charter written once, in force for months) works for an
agent whose reach is narrow. An autonomous agent granted many servers, any
tenant and any data domain is too broad for it: one compromise reaches all of
it, and no fixed list can say which part a given run needs — that is what
per-task delegation with just-in-time credentials is for.

The score, deliberately simple so a reviewer can recompute it by hand::

    breadth = servers + tenants + data_domains

- ``servers``: the number of distinct ``server`` values in ``tools``; a glob
  server (``"*"``, ``"prod-*"``) counts :data:`WIDE`;
- ``tenants``: the number of listed tenants; unset (any tenant) or a glob
  entry counts :data:`WIDE`;
- ``data_domains``: likewise.

:data:`WIDE` (10) stands for "unbounded": it alone reaches
:data:`TOO_BROAD_AT`, so any unbounded axis makes an autonomous charter too
broad, and so do ten listed servers, tenants and domains in total. Delegated
charters get a score but no flag: their authority is narrowed per task by the
credential issued for it. ``mcpmon check-charter`` and ``mcpmon report
privileges`` print the score with the axes that drive it; ``mcpmon charter
suggest`` shows it before (the current charter) and after (the suggestion).

>>> from monitor.charter import Charter
>>> b = breadth(Charter(agent="a", kind="autonomous", tools=[{"server": "s", "tool": "*"}]))
>>> b.score, b.too_broad, [d.axis for d in b.drivers]
(21, True, ['tenants', 'data_domains', 'servers'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.charter import Charter

WIDE = 10
TOO_BROAD_AT = 10
_GLOB = frozenset("*?[")


def _wide(name: str) -> bool:
    return bool(_GLOB & set(name))


@dataclass(frozen=True, slots=True)
class Axis:
    axis: str  # "servers" | "tenants" | "data_domains"
    points: int
    grants: tuple[str, ...]  # the servers / tenants / domains granted, or ("any",)

    def text(self) -> str:
        shown = ", ".join(self.grants[:6]) + (
            f" … (+{len(self.grants) - 6})" if len(self.grants) > 6 else ""
        )
        return f"{self.axis} {shown} (+{self.points})"


@dataclass(frozen=True, slots=True)
class Breadth:
    charter: str
    kind: str
    score: int
    axes: tuple[Axis, ...]
    too_broad: bool
    drivers: tuple[Axis, ...] = field(default=())  # the axes that make it too broad, widest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "charter": self.charter,
            "kind": self.kind,
            "score": self.score,
            "too_broad": self.too_broad,
            "axes": {a.axis: {"points": a.points, "grants": list(a.grants)} for a in self.axes},
            "drivers": [a.axis for a in self.drivers],
        }

    def summary(self) -> str:
        """``breadth 21 (servers 1, tenants any, data_domains any)``."""
        parts = ", ".join(
            f"{a.axis} {'any' if a.grants == ('any',) else a.points}" for a in self.axes
        )
        return f"breadth {self.score} ({parts})"

    def warning(self) -> str:
        """Why it is too broad, naming the grants that drive the score; "" if it is not."""
        if not self.too_broad:
            return ""
        return (
            f"{self.charter}: too broad for static scoping (breadth {self.score}, flagged from "
            f"{TOO_BROAD_AT}, autonomous): driven by {'; '.join(a.text() for a in self.drivers)}"
            " — narrow the grants, or run it delegated with per-task credentials"
        )


def _listed(axis: str, values: list[str] | None) -> Axis:
    if values is None:
        return Axis(axis, WIDE, ("any",))
    names = tuple(sorted(set(values)))
    return Axis(axis, WIDE if any(map(_wide, names)) else len(names), names)


def breadth(charter: Charter) -> Breadth:
    """The breadth score of one charter, with the axes (and grants) that make it up."""
    servers = tuple(sorted({g.server for g in charter.tools}))
    axes = (
        Axis("servers", WIDE if any(map(_wide, servers)) else len(servers), servers),
        _listed("tenants", charter.tenants),
        _listed("data_domains", charter.data_domains),
    )
    score = sum(a.points for a in axes)
    too_broad = charter.kind == "autonomous" and score >= TOO_BROAD_AT
    drivers = (
        tuple(sorted((a for a in axes if a.points > 0), key=lambda a: -a.points))
        if too_broad
        else ()
    )
    return Breadth(charter.agent, charter.kind, score, axes, too_broad, drivers)
