"""The decision step: findings in, alerts and revocation commands out.

Detectors say what they saw; this step decides what to do about it, the same
way for every detector:

- **dedup** — a finding whose dedup key was alerted on within
  ``alert_dedup_seconds`` (event time) is counted, not re-alerted;
- **ids** — ``alert_id`` and ``command_id`` are hashes of agent, detector,
  clause, target and the first evidence event, so a replay or a redelivery
  yields the same ids and consumers can dedup on them;
- **revocation** — findings at or above ``revoke_min_severity`` that suggest a
  scope become a :class:`RevocationCommand`; routine ones (``notify=False``,
  e.g. "task ended") always do. A target already commanded for this agent is
  not commanded again;
- **mode** — the charter's ``observe``/``enforce`` (observe when no charter
  applies or the engine is forced to shadow mode) is stamped on both;
- **redaction** — reasons, details and the free-text ids of an alert (and a
  command's reason) pass through the :class:`~monitor.core.redact.Redactor` before
  they are built, so what an agent put in its arguments never reaches a SIEM
  as a readable secret. Ids are computed before redaction: they do not change.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from functools import lru_cache

from monitor.core.detectors.base import Finding
from monitor.core.frameworks import frameworks_for
from monitor.core.policy import CompiledCharter
from monitor.core.redact import Redactor
from monitor.core.state import MAX_ALERTED, MAX_COMMANDED, T_SPONSOR, AgentState
from monitor.outputs import SEVERITY_RANK, Alert, CharterClause, Frameworks, RevocationCommand

_cached_frameworks = lru_cache(maxsize=None)(frameworks_for)


def memo_key(text: str) -> str:
    """A 12-character digest of a dedup key: per-agent memories stay small in snapshots."""
    return base64.b64encode(hashlib.blake2b(text.encode(), digest_size=9).digest()).decode()


def stable_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class DecisionStep:
    __slots__ = ("dedup_seconds", "force_observe", "redact", "revoke_rank")

    def __init__(
        self,
        dedup_seconds: float,
        revoke_min_severity: str,
        force_observe: bool,
        redact: Redactor | None = None,
    ) -> None:
        self.dedup_seconds = dedup_seconds
        self.revoke_rank = SEVERITY_RANK[revoke_min_severity]
        self.force_observe = force_observe
        self.redact = redact if redact else None  # a Redactor with no rules: none

    def decide(
        self,
        findings: list[Finding],
        t: float,
        st: AgentState,
        charter: CompiledCharter | None,
        sponsor: str | None,
        credential_id: str | None,
    ) -> tuple[list[Alert], list[RevocationCommand], int]:
        """Returns ``(alerts, commands, suppressed)`` for one event's findings."""
        alerts: list[Alert] = []
        commands: list[RevocationCommand] = []
        suppressed = 0
        mode = "observe" if charter is None or self.force_observe else charter.mode
        when = datetime.fromtimestamp(t, UTC)
        for f in findings:
            dedup = f"{f.detector}|{f.dedup or f.key}"
            if st.recently(st.alerted, memo_key(dedup), t, self.dedup_seconds, MAX_ALERTED):
                suppressed += 1
                continue
            first = f.evidence[0] if f.evidence else f"t={t}"
            alert_ids: list[str] = []
            if f.notify:
                who = sponsor
                if who is None and f.task_id is not None:
                    task = st.tasks.get(f.task_id)
                    who = task[T_SPONSOR] if task is not None else None
                reason, details, cred = f.reason, f.details, credential_id
                task_id, session_id = f.task_id, f.session_id
                if self.redact is not None:
                    r = self.redact
                    reason = r(reason)
                    details = {k: r.value(v) for k, v in details.items()}
                    who, cred = r.optional(who), r.optional(cred)
                    task_id, session_id = r.optional(task_id), r.optional(session_id)
                alert = Alert(
                    alert_id=stable_id(st.agent_id, f.detector, f.key, f.dedup, first),
                    ts=when,
                    agent_id=st.agent_id,
                    agent_kind=st.kind or (charter.kind if charter else None),  # type: ignore[arg-type]
                    detector=f.detector,
                    severity=f.severity,
                    score=f.score,
                    reason=reason,
                    evidence=f.evidence,
                    clause=CharterClause(
                        charter=charter.pattern if charter else None,
                        key=f.key,
                        text=f.clause_text,
                        mission=charter.mission if charter else "",
                    ),
                    frameworks=_cached_frameworks(f.detector),
                    mode=mode,
                    task_id=task_id,
                    sponsor=who,
                    session_id=session_id,
                    credential_id=cred,
                    details=details,
                )
                alerts.append(alert)
                alert_ids.append(alert.alert_id)
            if f.revoke is None or (f.notify and SEVERITY_RANK[f.severity] < self.revoke_rank):
                continue
            creds = sorted(set(f.credential_ids))
            session = (f.session_id or "") if f.revoke == "session" else ""
            target = "|".join((f.revoke, f.task_id or "", session, ",".join(creds)))
            if st.recently(st.commanded, memo_key(target), t, float("inf"), MAX_COMMANDED):
                continue
            commands.append(
                RevocationCommand(
                    command_id=stable_id(st.agent_id, target, f.detector, f.key, first),
                    ts=when,
                    agent_id=st.agent_id,
                    scope=f.revoke,
                    credential_ids=creds,
                    task_id=f.task_id,
                    session_id=f.session_id if f.revoke == "session" else None,
                    reason=f.reason if self.redact is None else self.redact(f.reason),
                    alert_ids=alert_ids,
                    mode=mode,
                )
            )
        return alerts, commands, suppressed


__all__ = ["DecisionStep", "Frameworks", "stable_id"]
