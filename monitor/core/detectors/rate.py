"""rate_limit: more calls in a sliding minute than ``limits.max_calls_per_minute``.

Counts live in 60 one-second buckets (about 0.5 KiB per agent whatever the
limit), so the window is exact to the second. Calls older than the window are
ignored. A burst raises one alert per dedup window, and no revocation: a burst
alone is not proof of compromise (the behaviour baseline weighs it).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.core.detectors.base import CallContext, Detector, Finding, register
from monitor.core.state import AgentState

WINDOW = 60


@register
class RateLimit(Detector):
    name = "rate_limit"

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        ch = ctx.charter
        if ch is None or ch.limits.max_calls_per_minute is None:
            return ()
        limit = ch.limits.max_calls_per_minute
        sec = int(ctx.t)
        r = st.rate
        if r is None:
            r = st.rate = [sec, 0, [0] * WINDOW]
        base, total, buckets = r
        if sec > base:
            if sec - base >= WINDOW:
                buckets[:] = [0] * WINDOW
                total = 0
            else:
                for s in range(base + 1, sec + 1):
                    i = s % WINDOW
                    total -= buckets[i]
                    buckets[i] = 0
            base = sec
        elif base - sec >= WINDOW:
            return ()  # older than the window
        buckets[sec % WINDOW] += 1
        total += 1
        r[0], r[1] = base, total
        if total <= limit:
            return ()
        c = ctx.call
        return [
            Finding(
                self.name,
                "limits.max_calls_per_minute",
                f"at most {limit} calls a minute",
                "medium",
                f"{c.agent_id} made {total} calls in the last minute, above its charter's limit "
                f"of {limit}",
                [c.event_id],
                task_id=c.task_id,
                session_id=c.session_id,
                dedup="rate",
                details={"calls_last_minute": total, "limit": limit},
            )
        ]
