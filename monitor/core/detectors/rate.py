"""rate_limit: more calls in a sliding minute than ``limits.max_calls_per_minute``.

Counts live in 60 one-second buckets (about 0.5 KiB per agent whatever the
limit), so the window is exact to the second. Calls older than the window are
ignored. A burst raises one alert per dedup window, and no revocation: a burst
alone is not proof of compromise (the behaviour baseline weighs it).

State (``AgentState.sections["rate_limit"]``): ``[base second, total, 60 buckets]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.core.detectors.base import CallContext, Detector, Finding, register
from monitor.core.policy import CompiledCharter
from monitor.core.state import AgentState

WINDOW = 60
_ZEROS = [0] * WINDOW


@register
class RateLimit(Detector):
    name = "rate_limit"
    section = "rate_limit"

    @classmethod
    def load_state(cls, data: Any) -> list[Any]:
        if (
            not isinstance(data, list)
            or len(data) != 3
            or not isinstance(data[2], list)
            or len(data[2]) != WINDOW
            or not all(type(x) is int for x in (data[0], data[1], *data[2]))
        ):
            raise ValueError("not [base second, total, 60 integer buckets]")
        return data

    def wants_calls(self, charter: CompiledCharter | None, kind: str) -> bool:
        return charter is not None and charter.max_rate is not None

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        ch = ctx.charter
        if ch is None or ch.max_rate is None:
            return ()
        limit = ch.max_rate
        sec = int(ctx.t)
        r = st.sections.get("rate_limit")
        if r is None:
            r = st.sections["rate_limit"] = [sec, 0, [0] * WINDOW]
        base = r[0]
        buckets = r[2]
        if sec > base:  # slide the window forward, clearing the seconds it passes
            if sec - base >= WINDOW:
                buckets[:] = [0] * WINDOW
                r[1] = 0
            else:
                gap = sec - base
                start = (base + 1) % WINDOW
                end = start + gap
                if end <= WINDOW:
                    r[1] -= sum(buckets[start:end])
                    buckets[start:end] = _ZEROS[:gap]
                else:
                    wrap = end - WINDOW
                    r[1] -= sum(buckets[start:]) + sum(buckets[:wrap])
                    buckets[start:] = _ZEROS[: WINDOW - start]
                    buckets[:wrap] = _ZEROS[:wrap]
            r[0] = sec
        elif base - sec >= WINDOW:
            return ()  # older than the window
        buckets[sec % WINDOW] += 1
        total = r[1] = r[1] + 1
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
