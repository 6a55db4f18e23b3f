"""Why a call scored high, in words: one phrase per feature that drove the score.

An alert from a learned model is only actionable if it says *what* was unusual
("first mail to protonmail.example", "34 calls in the last minute, usually at
most 7"), so every feature in :data:`~.features.FEATURES` has a phrase here,
built from the call and the agent's own counts.
"""

from __future__ import annotations

from math import exp

from monitor.core.baseline.counts import (
    BUCKET_LOW,
    OFFSET,
    SIZE,
    T_BURST,
    T_DESTINATION,
    T_FANOUT,
    T_RATE,
    T_RESOURCE,
    T_SERVER,
    T_SHAPE,
    T_TASK,
    T_TOOL,
    T_TRANSITION,
)
from monitor.core.baseline.features import FEATURES, CallFeatures, h32
from monitor.core.baseline.layout import R_IN_MEAN, R_OUT_MEAN, TOOL_SLOTS
from monitor.core.baseline.model import AgentBaseline

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TOP = 3  # features quoted per alert


def human_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KB"``.

    >>> human_bytes(12), human_bytes(1536), human_bytes(3.2e7)
    ('12 B', '1.5 KB', '32.0 MB')
    """
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _count(m: AgentBaseline, table: int, h: int) -> int:
    return m.counts[OFFSET[table] + (h & (SIZE[table] - 1))]


def _usual_max(m: AgentBaseline, table: int) -> int:
    """The lower edge of the highest ordinal bucket this agent has reached."""
    off = OFFSET[table]
    for b in range(SIZE[table] - 1, -1, -1):
        if m.counts[off + b]:
            return BUCKET_LOW[b]
    return 0


def _seen(c: int, what: str) -> str:
    return f"first {what}" if c == 0 else f"rare {what} (seen {c}×)"


def phrase(m: AgentBaseline, f: CallFeatures, feature: int) -> str:
    """One feature's part of the explanation, e.g. ``"first destination net:paste.example"``."""
    name = FEATURES[feature]
    if name == "tool":
        return _seen(_count(m, T_TOOL, f.tool), f"use of tool {f.tool_name}")
    if name == "server":
        return _seen(_count(m, T_SERVER, f.server), f"call to server {f.server_name}")
    if name == "transition":
        c = _count(m, T_TRANSITION, f.transition)
        return _seen(c, f"sequence {f.prev_tool} → {f.tool_name}")
    if name == "chain":
        return "its previous calls also followed sequences it rarely or never ran"
    if name == "destination":
        if not f.destinations:
            return "no destination"
        d = min(f.destinations, key=lambda k: _count(m, T_DESTINATION, h32(k)))
        return _seen(_count(m, T_DESTINATION, h32(d)), f"destination {d}")
    if name == "resource":
        if not f.resources:
            return "no resource"
        r = min(f.resources, key=lambda k: _count(m, T_RESOURCE, h32(k)))
        return _seen(_count(m, T_RESOURCE, h32(r)), f"resource area {r}")
    if name == "arg_shape":
        return _seen(_count(m, T_SHAPE, f.shape), f"argument shape {f.shape_name}")
    if name == "rate":
        return f"{f.rate} calls in the last minute (its busiest tasks: {_usual_max(m, T_RATE)})"
    if name == "burst":
        return f"{f.burst} calls in 10 seconds (its busiest tasks: {_usual_max(m, T_BURST)})"
    if name == "fanout":
        return (
            f"{f.fanout} distinct destinations in 10 minutes "
            f"(usually at most {_usual_max(m, T_FANOUT)})"
        )
    if name in ("bytes_out", "bytes_in"):
        vs = f.tool & (TOOL_SLOTS - 1)
        usual = exp(m.reals[(R_OUT_MEAN if name == "bytes_out" else R_IN_MEAN) + vs]) - 1
        value = exp(f.bytes_out if name == "bytes_out" else f.bytes_in) - 1
        verb = "returned by" if name == "bytes_out" else "sent to"
        return f"{human_bytes(value)} {verb} {f.tool_name} (usually about {human_bytes(usual)})"
    if name == "hour":
        return f"active at {f.hour:02d}h UTC, an hour this agent rarely works"
    if name == "weekday":
        return f"active on a {_DAYS[f.weekday]}, a day this agent rarely works"
    if name == "error_streak":
        return f"{f.error_streak} failed or denied calls in a row"
    if name == "task_length":
        return f"{f.task_length} calls into one task (its longest: {_usual_max(m, T_TASK)})"
    raise ValueError(name)  # pragma: no cover


def top_features(contributions: list[float], k: int = TOP) -> list[int]:
    """Indices of the ``k`` largest positive contributions, largest first."""
    order = sorted(range(len(contributions)), key=lambda i: -contributions[i])
    return [i for i in order[:k] if contributions[i] > 0.0]


def feature_key(f: CallFeatures, feature: int) -> str:
    """What the top feature was *about*, for dedup: the destination, the tool, …"""
    name = FEATURES[feature]
    if name == "destination" and f.destinations:
        return f.destinations[0]
    if name == "resource" and f.resources:
        return f.resources[0]
    if name in ("tool", "arg_shape", "bytes_out", "bytes_in"):
        return f.tool_name
    if name == "server":
        return f.server_name
    if name == "transition":
        return f"{f.prev_tool}>{f.tool_name}"
    return ""


__all__ = ["TOP", "feature_key", "human_bytes", "phrase", "top_features"]
