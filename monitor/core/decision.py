"""The decision step: findings in, alerts and revocation commands out.

Detectors say what they saw; this step decides what to do about it, the same
way for every detector:

- **dedup** — a finding whose dedup key was alerted on within
  ``alert_dedup_seconds`` (event time) is counted, not re-alerted;
- **ids** — ``alert_id`` is a hash of agent, detector, clause, dedup key,
  *every* evidence event (which includes the event that triggered the
  finding) and the event time it was found at; ``command_id`` hashes the same plus the command's target. So a
  replay or a redelivery (same events) yields the same ids and consumers can
  dedup on them, while two findings — a call at 09:07 and another at 09:20
  after the same ``task_ended`` — never share one. Parts are length-prefixed
  before hashing: no choice of event ids makes two part lists hash alike;
- **revocation** — findings at or above ``revoke_min_severity`` that suggest a
  scope become a :class:`RevocationCommand`; routine ones (``notify=False``,
  e.g. "task ended") always do. A target commanded for this agent less than
  ``alert_dedup_seconds`` (event time) ago is not commanded again; after that,
  a new finding on it (a call with a revoked credential 25 h later) commands
  it again, with a new ``command_id`` (its cause is the new event), so a
  deny-list entry that was lifted or lost is written anew. A ``task`` command
  names every credential of the task that has not expired, not only the one a
  call used: a call that presents the task's credential under another task id
  (or none) is still denied. ``expires_at`` is the latest expiry of the
  command's credentials, when the ledger knows every one of them: the
  deny-list holds its entries until then;
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
from monitor.core.state import C_EXPIRES, MAX_ALERTED, MAX_COMMANDED, T_SPONSOR, AgentState
from monitor.output_contracts import (
    SEVERITY_RANK,
    Alert,
    CharterClause,
    Frameworks,
    Mode,
    RevocationCommand,
    Scope,
)

_cached_frameworks = lru_cache(maxsize=None)(frameworks_for)


def memo_key(text: str) -> str:
    """A 12-character digest of a dedup key: per-agent memories stay small in snapshots."""
    return base64.b64encode(hashlib.blake2b(text.encode(), digest_size=9).digest()).decode()


def stable_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def finding_id(*parts: str) -> str:
    """A 32-hex id of ``parts``, injective in them (each is length-prefixed).

    ``stable_id`` joins with a separator an event id may itself contain; the ids
    of alerts and commands, which hash caller-chosen event ids, use this one.
    """
    h = hashlib.sha256()
    for p in parts:
        b = p.encode()
        h.update(b"%d:" % len(b))
        h.update(b)
    return h.hexdigest()[:32]


def latest_expiry(st: AgentState, creds: list[str]) -> datetime | None:
    """The latest expiry of ``creds`` per the agent's ledger; None if any is unknown (or none)."""
    latest: float | None = None
    for cid in creds:
        rec = st.creds.get(cid)
        if rec is None or rec[C_EXPIRES] is None:
            return None
        latest = rec[C_EXPIRES] if latest is None else max(latest, rec[C_EXPIRES])
    return None if latest is None else datetime.fromtimestamp(latest, UTC)


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
        mode: Mode = "observe" if charter is None or self.force_observe else charter.mode
        when = datetime.fromtimestamp(t, UTC)
        for f in findings:
            dedup = f"{f.detector}|{f.dedup or f.key}"
            if st.recently(st.alerted, memo_key(dedup), t, self.dedup_seconds, MAX_ALERTED):
                suppressed += 1
                continue
            # the finding's cause: every event of its evidence (the triggering one included)
            # and its event time — a timer that fires again later on the same evidence
            # (a second sponsor_ended) is another finding; a redelivery has the same time
            cause = [*f.evidence, f"t={t!r}"]
            alert_ids: list[str] = []
            if f.notify:
                alert = self._alert(f, cause, when, mode, st, charter, sponsor, credential_id)
                alerts.append(alert)
                alert_ids.append(alert.alert_id)
            scope = f.revoke
            if scope is None or (f.notify and SEVERITY_RANK[f.severity] < self.revoke_rank):
                continue
            command = self._command(f, scope, cause, t, when, mode, st, alert_ids)
            if command is not None:
                commands.append(command)
        return alerts, commands, suppressed

    def _alert(
        self,
        f: Finding,
        cause: list[str],
        when: datetime,
        mode: Mode,
        st: AgentState,
        charter: CompiledCharter | None,
        sponsor: str | None,
        credential_id: str | None,
    ) -> Alert:
        """The alert of a finding: its id from the cause, its free text redacted.

        The sponsor is the event's, else the one of the finding's task.
        """
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
        return Alert(
            alert_id=finding_id(st.agent_id, f.detector, f.key, f.dedup, *cause),
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

    def _command(
        self,
        f: Finding,
        scope: Scope,
        cause: list[str],
        t: float,
        when: datetime,
        mode: Mode,
        st: AgentState,
        alert_ids: list[str],
    ) -> RevocationCommand | None:
        """The command revoking ``scope`` for a finding, or None when that target was
        commanded for this agent within the dedup window (event time)."""
        cred_set = set(f.credential_ids)
        if scope == "task" and f.task_id is not None:
            # a task's revocation ends every credential of it, not only the one used
            cred_set.update(st.live_credentials(f.task_id, t))
        creds = sorted(cred_set)
        session = (f.session_id or "") if scope == "session" else ""
        target = "|".join((scope, f.task_id or "", session, ",".join(creds)))
        # rate-limited, not once for ever: a later call with a revoked credential
        # re-commands it (a lifted or lost deny entry is written again)
        if st.recently(st.commanded, memo_key(target), t, self.dedup_seconds, MAX_COMMANDED):
            return None
        return RevocationCommand(
            command_id=finding_id(st.agent_id, target, f.detector, f.key, f.dedup, *cause),
            ts=when,
            agent_id=st.agent_id,
            scope=scope,
            credential_ids=creds,
            task_id=f.task_id,
            session_id=f.session_id if scope == "session" else None,
            reason=f.reason if self.redact is None else self.redact(f.reason),
            alert_ids=alert_ids,
            mode=mode,
            expires_at=None if scope == "agent" else latest_expiry(st, creds),
        )


__all__ = ["DecisionStep", "Frameworks", "finding_id", "latest_expiry", "stable_id"]
