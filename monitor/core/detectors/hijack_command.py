"""command_class_first_use: a destructive, privilege-granting or persistence-installing
command, or a credential store read, of a kind the agent never sent.

Why: a hijacked coding or cloud agent is steered to a tool it uses every day
(``shell``, ``sql_query``), with an argument of a kind it never sends: ``rm -rf ~``
instead of ``rm -rf ./build/tmp``, ``DROP DATABASE`` instead of ``DELETE … WHERE``,
``az role assignment create … --role Owner`` instead of ``az role assignment list``.
Neither the tool nor a destination is new, and nothing leaves the host, so tool
novelty and ``shell_egress`` are silent; the argument's *value class* is new.

The arguments read and the value classes are in
:mod:`monitor.core.detectors.command_classes`.

When it alerts: the first :data:`hijack.warmup_calls <monitor.charter.Hijack>` calls of the
agent's life, or its first ``hijack.toolset_sparse_sessions`` sessions if that comes
first, only learn which classes it uses. After that a class the agent never used raises
one **medium** alert per session, alert only (no revocation suggested), until it has been
used in ``hijack.new_tool_sessions`` sessions (then it is learned: an operator's new
routine stops alerting; one hijacked session does not teach it). No read is needed
before it (unlike a tool's first use): the class is the evidence. The reason names the
class and the tool, never the argument (it may hold a secret). Turn it off per charter
with ``hijack.disabled: [command_class_first_use]``.

Example: a coding agent that in 200 calls ran ``rm -rf ./build/tmp`` and
``DELETE FROM sessions WHERE …`` calls ``shell(command="rm -rf ~/")`` → medium
``recursive_delete``; ``sql_query(query="DROP DATABASE app")`` → medium ``db_drop``;
``shell(command="… | crontab -")`` → medium ``persistence``; one that reads its
repository's docs every day reads ``~/.aws/credentials`` → medium ``credential_store``
(agent-firedrill's credential-file and persistence cases, tuning part). An agent saved
before a class existed has not learned it: if its own work uses that class, it alerts
once per session until ``hijack.new_tool_sessions`` sessions have taught it.

State (``AgentState.sections["command_class_first_use"]``):
``[learned mask, session digest, sessions seen, mask alerted this session, uses]`` where
``uses`` holds, per class, the sessions it was used in since the agent was armed; well under
200 bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b
from typing import Any

from monitor.core.detectors.base import CallContext, Finding, register
from monitor.core.detectors.command_classes import (
    CLASSES,
    FAMILY,
    MAX_SCAN,
    PRIVILEGE,
    broad_path,
    call_classes,
    names,
    shell_classes,
    sql_classes,
)
from monitor.core.detectors.hijack import HijackDetector, rules, section, session_key
from monitor.core.detectors.hijack import target as call_scope
from monitor.core.state import AgentState

__all__ = [
    "CLASSES",
    "FAMILY",
    "MAX_SCAN",
    "NAME",
    "PRIVILEGE",
    "CommandClassFirstUse",
    "broad_path",
    "call_classes",
    "names",
    "shell_classes",
    "sql_classes",
]

NAME = "command_class_first_use"

# ------------------------------------------------------------------ the detector
_LEARNED, _SKEY, _SESSIONS, _ALERTED, _USES = range(5)


def _fresh() -> list[Any]:
    return [0, "", 0, 0, [0] * len(CLASSES)]


def _state(st: AgentState) -> list[Any]:
    return section(st, NAME, _fresh, 5)


def _digest(key: str) -> str:
    return blake2b(key.encode(), digest_size=4).hexdigest()


@register
class CommandClassFirstUse(HijackDetector):
    name = NAME
    section = NAME
    size = 5

    @classmethod
    def load_state(cls, data: Any) -> list[Any]:
        sec = super().load_state(data)
        learned, skey, sessions, alerted, uses = sec
        if (
            not isinstance(learned, int)
            or isinstance(learned, bool)
            or not isinstance(skey, str)
            or len(skey) > 16
            or not isinstance(sessions, int)
            or not isinstance(alerted, int)
            or not isinstance(uses, list)
            or len(uses) > len(CLASSES)
            or not all(isinstance(u, int) and 0 <= u < 1 << 16 for u in uses)
        ):
            raise ValueError("not a command_class_first_use section")
        uses.extend([0] * (len(CLASSES) - len(uses)))  # a section from fewer classes
        return sec

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        sec = _state(st)
        skey = _digest(session_key(ctx))
        if sec[_SKEY] != skey:
            sec[_SKEY] = skey
            sec[_SESSIONS] += 1
            sec[_ALERTED] = 0
        mask = call_classes(ctx)
        new = mask & ~sec[_LEARNED]
        if not new:
            return ()
        r = rules(ctx.charter)
        sparse = r.toolset_sparse_sessions
        armed = ctx.index > r.warmup_calls or (sparse is not None and sec[_SESSIONS] > sparse)
        if not armed:
            sec[_LEARNED] |= new  # still learning what the agent's work uses
            return ()
        out: list[Finding] = []
        for i, name in enumerate(CLASSES):
            bit = 1 << i
            if not new & bit or sec[_ALERTED] & bit:
                continue
            sec[_ALERTED] |= bit
            sec[_USES][i] += 1
            nth = sec[_USES][i]
            if nth >= r.new_tool_sessions:
                sec[_LEARNED] |= bit
                sec[_USES][i] = 0
            out.append(self._finding(ctx, name, nth, r.new_tool_sessions))
        return out

    def _finding(self, ctx: CallContext, cls_name: str, nth: int, learn_after: int) -> Finding:
        c = ctx.call
        family = FAMILY[cls_name]
        did = {
            "privilege": "sent a privilege-granting command",
            "persistence": "sent a command that makes something run again later",
            "credential_access": "read a credential store",
        }.get(family, "sent a destructive command")
        _, creds = call_scope(ctx)
        return Finding(
            NAME,
            "hijack.warmup_calls",
            "an agent's commands stay within the value classes its own work uses",
            "medium",
            f"{c.agent_id} {did} ({cls_name}) through {c.server}/{c.tool} "
            f"for the first time in {ctx.index} calls: the tool is routine, this kind of "
            f"argument is not (use {nth} of {learn_after} before it is learned)",
            [c.event_id],
            score=0.7,
            revoke=None,
            credential_ids=creds,
            task_id=c.task_id,
            session_id=c.session_id,
            dedup=f"command_class:{cls_name}:{c.session_id or c.task_id or c.event_id}",
            details={
                "class": cls_name,
                "family": family,
                "calls_before": ctx.index - 1,
                "use": nth,
            },
        )
