"""A stored baseline snapshot is input: any field of the wrong type or range is refused at
restore (ValueError, which the worker dead-letters as ``corrupt_state``), never taken in to
fail a later call of the agent."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from monitor.core.baseline.model import AgentBaseline
from monitor.core.baseline.window import _STATE

from .routine import exfil, routine

BAD: tuple[Any, ...] = (
    "x", True, None, 1.5, -3, 10**6, [], {}, [["x"]], [[1, 2]], [10**6], [[]],
    [["a", [10**6], 0, 0, 1.0, 1.0, True]], [["a", [0], 10**6, 0, 1.0, 1.0, True]],
    [["a", [0], 0, 10**6, 1.0, 1.0, True]], [["a", [0], 0, 0, "x", 1.0, True]],
)  # fmt: skip
#: snapshot positions: 1 buffer, 2-5 counters, 6 top bin, 7 window, 8 feedback
SCALARS = range(1, 9)


def _trained() -> AgentBaseline:
    m = AgentBaseline()
    for c in routine(120):
        f = m.observe(c, c.ts.timestamp())
        if m.n_learned < 30:
            m.learn_one(f)
            continue
        raw, s = m.score_one(f)
        m.push(s)
        m.learn_one(f, s, raw)
        m.remember(c.event_id, f, raw, True)
    return m


def _carry_on(m: AgentBaseline) -> None:
    """What the behaviour detector asks of a restored model on the agent's next calls."""
    for c in [*routine(40, start=10_000), exfil(10_500)]:
        f = m.observe(c, c.ts.timestamp())
        raw, s = m.score_one(f)
        m.push(s)
        m.contributions(s)
        m.threshold(0.01)
        m.p_value(raw)
        m.learn_one(f, s, raw)
    m.apply_feedback("no-such-alert", "benign")
    for e in list(m.feedback):
        m.apply_feedback(e[0], "benign")
    m.commit(list(m.window.ep_bins))
    AgentBaseline.restore(m.snapshot())


def _cases() -> list[tuple[str, list[Any]]]:
    snap = _trained().snapshot()
    out = []
    for i in SCALARS:
        for bad in BAD:
            s = copy.deepcopy(snap)
            s[i] = bad
            out.append((f"[{i}]={bad!r}", s))
    for j, name in enumerate(_STATE):
        for bad in BAD:
            s = copy.deepcopy(snap)
            s[7][j] = bad
            out.append((f"window.{name}={bad!r}", s))
    return out


def test_every_wrong_field_is_refused_at_restore_or_harmless_after() -> None:
    taken = 0
    for label, snap in _cases():
        try:
            m = AgentBaseline.restore(snap)
        except ValueError:
            continue
        taken += 1
        try:
            _carry_on(m)
        except Exception as err:
            pytest.fail(f"{label} was restored, then failed a call: {type(err).__name__}: {err}")
    assert taken > 0  # values that fit (e.g. a large counter) are taken, and work


def test_a_wrong_window_field_is_named() -> None:
    snap = _trained().snapshot()
    snap[7][_STATE.index("prev_tool_name")] = 7
    with pytest.raises(ValueError, match="prev_tool_name"):
        AgentBaseline.restore(snap)
