"""high_impact_first_use: an agent uses a high-impact granted tool for the first time.

Why: a hijacked agent is steered to a tool it is allowed to use but never does —
``delete_repo``, ``transfer_funds``, ``invite_user``, ``share_file``. The charter
grants it, so ``out_of_charter_tool`` is silent; the agent's own life says it is new.

A tool is high impact when a word of its name or one of its capability classes
is in the built-in list (:data:`monitor.core.detectors.hijack.HIGH_IMPACT`) or the
charter's ``hijack.high_impact``. The first ``hijack.warmup_calls`` calls of an
agent's life (default 200) only learn which such tools it uses. After that, a
new one raises one medium alert when the agent read untrusted content within
the last ``hijack.provenance_window_calls`` calls of the session — a call whose
result carried values (``result_digests``) or of class ``read_untrusted`` — the
way an injected instruction arrives; with ``hijack.first_use_needs_read: false``,
whatever came before. A first use without such a read is learned quietly:
agents do pick up rarely used tools late in life (the simulator's do). Tools
the charter does not grant are left to ``out_of_charter_tool``.

Example: a mail assistant that for 300 calls used ``send_email`` reads an email,
then calls ``delete_folder`` (granted by ``mail/*``) → medium. Its 301st
``send_email`` is quiet, and so is a ``delete_folder`` in a session that read nothing.

State (``AgentState.behav["high_impact_first_use"]``): ``[tool keys, session key,
index of the last untrusted read]``; tool keys are the newest :data:`MAX_TOOLS`
8-hex digests of ``server/tool``, under 1 KiB.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from hashlib import blake2b

from monitor.core.detectors.base import CallContext, Detector, Finding, register
from monitor.core.detectors.hijack import enabled, high_impact, rules, section, session_key
from monitor.core.detectors.hijack import target as call_scope
from monitor.core.policy import CompiledCharter
from monitor.core.state import AgentState

NAME = "high_impact_first_use"
MAX_TOOLS = 64


@lru_cache(maxsize=4096)
def tool_key(server: str, tool: str) -> str:
    return blake2b(f"{server}\x1f{tool}".encode(), digest_size=4).hexdigest()


@register
class HighImpactFirstUse(Detector):
    name = NAME

    def wants_calls(self, charter: CompiledCharter | None, kind: str) -> bool:
        return enabled(charter, NAME)

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        c = ctx.call
        sec = section(st, NAME, [[], "", None], 3)
        skey = session_key(ctx)
        if sec[1] != skey:
            sec[1], sec[2] = skey, None
        read_at = sec[2]
        if c.result_digests or "read_untrusted" in ctx.classes:
            sec[2] = ctx.index
        if ctx.grant is None or not high_impact(ctx):
            return ()
        used = sec[0]
        key = tool_key(c.server, c.tool)
        if key in used:
            return ()
        used.append(key)
        del used[: max(0, len(used) - MAX_TOOLS)]
        r = rules(ctx.charter)
        warmup = r.warmup_calls
        if ctx.index <= warmup:
            return ()
        if r.first_use_needs_read and (
            read_at is None or ctx.index - read_at > r.provenance_window_calls
        ):
            return ()
        scope, creds = call_scope(ctx)
        return [
            Finding(
                NAME,
                "hijack.warmup_calls",
                "a high-impact tool first used after the agent's warm-up",
                "medium",
                f"{c.agent_id} used the high-impact tool {c.server}/{c.tool} for the first time "
                f"in {ctx.index} calls: granted, but never part of its work so far",
                [c.event_id],
                score=0.7,
                revoke=scope,
                credential_ids=creds,
                task_id=c.task_id,
                session_id=c.session_id,
                dedup=f"first_use:{key}",
                details={"calls_before": ctx.index - 1, "warmup_calls": warmup},
            )
        ]
