"""Analyst feedback on a behaviour alert: remember the alerted call, act on the verdict.

The behaviour detector keeps each alerted call (:func:`remember`, the last
:data:`FEEDBACK_KEEP` per agent) so that a later ``alert_feedback`` event can act
on it (:func:`apply`): ``benign`` teaches the agent's model that call, weighted,
and accepts its data volume and its score as ones this agent makes;
``malicious`` unlearns it. The remembered entries are part of the model's
snapshot (:attr:`~.model.AgentBaseline.feedback`), so they are plain JSON:
``[alert_id, slots, score bin, volume slot, log bytes out, log bytes in, learned]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from monitor.core.baseline import calibration as cal
from monitor.core.baseline import moments
from monitor.core.baseline.counts import TABLE_OF, add, remove
from monitor.core.baseline.features import CallFeatures
from monitor.core.baseline.layout import _M_VOL, R_IN_MEAN, R_IN_VAR, R_OUT_MEAN, R_OUT_VAR

if TYPE_CHECKING:
    from monitor.core.baseline.model import AgentBaseline

FEEDBACK_KEEP: Final = 4  # alerted calls remembered per agent for analyst feedback
FEEDBACK_WEIGHT: Final = 8  # a "benign" verdict counts the call this many more times


def remember(
    m: AgentBaseline, alert_id: str, f: CallFeatures, raw: float | None, learned: bool
) -> None:
    """Keep an alerted call so an analyst's verdict can act on it (the last few only)."""
    cal_bin = cal.score_bin(raw) if raw is not None else -1
    m.feedback.append(
        [
            alert_id,
            m.slots_of(f),
            cal_bin,
            f.tool & _M_VOL,
            round(f.bytes_out, 4),
            round(f.bytes_in, 4),
            learned,
        ]
    )
    del m.feedback[:-FEEDBACK_KEEP]


def apply(m: AgentBaseline, alert_id: str, verdict: str) -> bool:
    """``benign``: learn the call (again), :data:`FEEDBACK_WEIGHT` times, accept its
    volume and its score as one this agent makes; ``malicious``: unlearn it if it was
    learned (its score never was: an alerted episode is held back). False if the
    alert is not (or no longer) remembered."""
    k = next((i for i, e in enumerate(m.feedback) if e[0] == alert_id), None)
    if k is None:
        return False
    entry = m.feedback.pop(k)
    _, slots, cal_bin, vs, b_out, b_in, learned = entry
    c, tot, sg, re = m.counts, m.totals, m.singles, m.reals
    if verdict == "benign":
        for i in slots:
            add(c, tot, sg, i, TABLE_OF[i], FEEDBACK_WEIGHT)
        moments.accept(re, R_OUT_MEAN + vs, R_OUT_VAR + vs, b_out)
        moments.accept(re, R_IN_MEAN + vs, R_IN_VAR + vs, b_in)
        if cal_bin >= 0:
            m.commit([cal_bin])
    elif learned:
        for i in slots:
            remove(c, tot, sg, i, TABLE_OF[i])
    return True


__all__ = ["FEEDBACK_KEEP", "FEEDBACK_WEIGHT", "apply", "remember"]
