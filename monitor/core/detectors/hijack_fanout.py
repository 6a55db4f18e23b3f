"""fan_out: many distinct recipients, tools or servers in a short window, against habit.

Why: a hijacked agent told to "forward this to everyone in the directory" or to
"try every tool you have" touches far more distinct destinations, tools or
servers in a few minutes than it ever does. Each call is granted and ordinary;
the breadth is not.

Over a sliding window of ``hijack.fan_out_window_seconds`` (default 300) the
detector counts distinct recipients (values in destination-like arguments —
``to``, ``cc``, ``recipient``, ``email``, ``user``, ``channel``, ``url``, ``account``,
… — of high-impact calls, by digest), distinct tools and distinct servers. The
agent's habit is the most of each it reached in any *earlier* epoch (epochs are
consecutive windows; the current one joins the habit when it ends), so a burst
cannot raise its own bar. After
``hijack.warmup_calls`` (default 200) it fires (medium) when a count reaches
``max(floor, habit × hijack.fan_out_habit_factor + 1)``: the floor is
``hijack.fan_out_min_distinct`` (default 8) for recipients and servers, twice
that for tools. An epoch it fired in does not raise the habit.

Example: an agent that mails at most 2 people per 5 minutes sends to 9 distinct
addresses in 3 minutes → medium. One that mails 12 a day in bursts of 6 is quiet
at 9 (habit 6 × 2 + 1 = 13).

State (``AgentState.sections["fan_out"]``): ``[window, counts, habit, epoch maxima,
epoch start, fired]``. The window maps kind + 8-hex digest (``r``/``t``/``s``) to
the second last seen, oldest first, at most :data:`MAX_ENTRIES` (under 2 KiB);
counts, habit and maxima are ``[recipients, tools, servers]``. Each call costs
O(its own entries + the expired ones), never a rescan of the window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from hashlib import blake2b
from typing import Any

from monitor.core.detectors.base import CallContext, Finding, register
from monitor.core.detectors.hijack import (
    HijackDetector,
    arg_digests,
    high_impact,
    rules,
    section,
    words,
)
from monitor.core.detectors.hijack import target as call_scope
from monitor.core.state import AgentState
from monitor.events import ToolCall

NAME = "fan_out"
MAX_ENTRIES = 96
MAX_RECIPIENTS_PER_CALL = 16
#: Argument-name words that hold a recipient or destination.
DEST_WORDS = frozenset(
    {
        "to", "cc", "bcc", "recipient", "recipients", "email", "emails", "address",
        "user", "users", "member", "members", "invitee", "invitees", "channel", "channels",
        "url", "uri", "webhook", "account", "iban", "destination", "dest", "target",
        "phone", "number", "payee", "beneficiary", "assignee", "reviewer", "reviewers",
    }
)  # fmt: skip
_KINDS = ("r", "t", "s")
_KIND_INDEX = {k: i for i, k in enumerate(_KINDS)}
_WIN, _COUNTS, _HABIT, _CUR, _EPOCH, _FIRED = range(6)
_LABEL = {"r": "recipients", "t": "tools", "s": "servers"}


@lru_cache(maxsize=4096)
def _h(text: str) -> str:
    return blake2b(text.encode(), digest_size=4).hexdigest()


def _fresh() -> list[Any]:
    return [{}, [0, 0, 0], [0, 0, 0], [0, 0, 0], None, False]


def recipients(call: ToolCall) -> list[str]:
    if not any(not DEST_WORDS.isdisjoint(words(str(k))) for k in call.args):
        return []
    out: list[str] = []
    for k, ds in arg_digests(call):
        if not DEST_WORDS.isdisjoint(words(k)):
            out.extend(ds)
    return out[:MAX_RECIPIENTS_PER_CALL]


@register
class FanOut(HijackDetector):
    name = NAME
    section = NAME
    size = 6

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        c = ctx.call
        r = rules(ctx.charter)
        sec = section(st, NAME, _fresh, 6)
        win: dict[str, int] = sec[_WIN]
        counts: list[int] = sec[_COUNTS]
        habit: list[int] = sec[_HABIT]
        window = r.fan_out_window_seconds
        now = int(ctx.t)
        start = now - window
        while win:  # expire from the oldest (insertion order is time order)
            k, t = next(iter(win.items()))
            if t >= start:
                break
            del win[k]
            counts[_KIND_INDEX[k[0]]] -= 1
        if sec[_EPOCH] is None or not 0 <= now - sec[_EPOCH] <= window:
            # an epoch (one window long) ends: what it reached becomes habit, unless it fired
            if not sec[_FIRED]:
                sec[_HABIT] = habit = [max(a, b) for a, b in zip(habit, sec[_CUR], strict=True)]
            sec[_CUR], sec[_EPOCH], sec[_FIRED] = [0, 0, 0], now, False
        keys = ["t" + _h(f"{c.server}\x1f{c.tool}"), "s" + _h(c.server)]
        if c.args and high_impact(ctx):
            keys.extend("r" + d for d in recipients(c))
        for k in keys:
            if k in win:
                del win[k]  # seen in the window: refreshed, moves to the newest end
            else:
                counts[_KIND_INDEX[k[0]]] += 1
            win[k] = now
        while len(win) > MAX_ENTRIES:
            k = next(iter(win))
            del win[k]
            counts[_KIND_INDEX[k[0]]] -= 1
        cur = sec[_CUR]
        for i in range(3):
            if counts[i] > cur[i]:
                cur[i] = counts[i]
        if ctx.index <= r.warmup_calls:
            return ()
        floor = r.fan_out_min_distinct
        for i, k in enumerate(_KINDS):
            bar = math.floor(habit[i] * r.fan_out_habit_factor) + 1
            need = max(floor * (2 if k == "t" else 1), bar)
            if counts[i] >= need:
                sec[_FIRED] = True
                return [self._finding(ctx, k, counts[i], habit[i], window)]
        return ()

    def _finding(self, ctx: CallContext, kind: str, n: int, habit: int, window: float) -> Finding:
        c = ctx.call
        scope, creds = call_scope(ctx)
        label = _LABEL[kind]
        return Finding(
            NAME,
            "hijack.fan_out_min_distinct",
            f"distinct {label} in {window:g} s stay near the agent's habit",
            "medium",
            f"{c.agent_id} reached {n} distinct {label} within {window:g} s (its most so far: "
            f"{habit}), the last with {c.server}/{c.tool}: fanning out",
            [c.event_id],
            score=0.7,
            revoke=scope,
            credential_ids=creds,
            task_id=c.task_id,
            session_id=c.session_id,
            dedup=f"fan_out:{kind}",
            details={"kind": label, "distinct": n, "habit": habit},
        )
