"""The revoker's pure core: what to do with a command, when to retry, what to say.

No I/O, no clock, no randomness: the shell passes time in and carries the
decisions out. Three decisions live here.

* :func:`decide` — per (command, actuator): ``observe`` (shadow mode: log and
  ack, never touch anything), ``skip`` (the ledger says this actuator already
  applied this ``command_id``: ack ``already_applied``) or ``apply``.
* :class:`~monitor.retry.RetryPolicy` (shared with the sink) — bounded
  exponential backoff; after ``attempts`` attempts the command is acked
  ``failed`` for that actuator and :func:`failure_alert` is raised.
* :func:`targets` — what a command ends, by scope: every scope revokes its
  ``credential_ids``; ``task`` / ``session`` / ``agent`` also deny that task,
  session or agent as a whole.

Idempotence is per ``(command_id, actuator)``: when one actuator applied a
command and another failed, a redelivery re-runs only the one that failed.

"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from monitor.core.frameworks import MAESTRO, OWASP_AGENTIC
from monitor.core.redact import DEFAULT_REDACTOR, Redactor
from monitor.output_contracts import (
    Alert,
    CharterClause,
    FrameworkRef,
    Frameworks,
    RevocationAck,
    RevocationCommand,
)
from monitor.retry import RetryPolicy

Action = Literal["apply", "skip", "observe"]
Status = Literal["applied", "already_applied", "failed"]

#: The detector name of the alert a command that keeps failing raises.
FAILURE_DETECTOR = "revocation_failed"
#: Detail of an observe-mode ack (status ``applied``: the command was handled as asked).
OBSERVE_DETAIL = "observe: not applied"


def decide(mode: str, already_applied: bool) -> Action:
    """Observe wins over everything: a shadow command never reaches an actuator."""
    if mode == "observe":
        return "observe"
    return "skip" if already_applied else "apply"


#: aiokafka's default max.poll.interval: a consumer that does not poll for this long
#: is put out of its group (its partitions go to another revoker)
MAX_POLL_INTERVAL_SECONDS = 300.0


def worst_case_seconds(policy: RetryPolicy, attempt_timeout: float) -> float:
    """Longest one command can take: every attempt times out, every backoff is waited.

    Actuators run concurrently, so this is per command, not per actuator.
    """
    return policy.attempts * attempt_timeout + sum(policy.schedule())


def records_per_poll(worst_case: float, interval: float = MAX_POLL_INTERVAL_SECONDS) -> int:
    """How many commands to take per poll so that, with every one of them hitting a dead
    actuator, the revoker still polls within 80 % of ``interval``.

    Without this bound a batch of commands against a down actuator would outlast the
    poll interval: the revoker would be put out of its group mid-batch and the same
    commands redelivered (acked ``already_applied`` where done, nothing lost, but
    revocation slowed for everyone). With the defaults (5 attempts, 11 s each,
    7.5 s of backoff): 3 per poll.

    >>> records_per_poll(worst_case_seconds(RetryPolicy(), 11.0))
    3
    """
    if worst_case <= 0:
        return 500
    return max(1, int(interval * 0.8 // worst_case))


@dataclass(frozen=True, slots=True)
class Targets:
    """What one command ends. Gateways deny a call if any of these match it."""

    credentials: tuple[str, ...]
    agent: str | None
    session: str | None
    task: str | None

    def describe(self) -> str:
        parts = [f"credential {c}" for c in self.credentials]
        if self.task:
            parts.append(f"task {self.task}")
        if self.session:
            parts.append(f"session {self.session}")
        if self.agent:
            parts.append(f"agent {self.agent}")
        return ", ".join(parts) if parts else "nothing"


def targets(cmd: RevocationCommand) -> Targets:
    return Targets(
        credentials=tuple(dict.fromkeys(cmd.credential_ids)),
        agent=cmd.agent_id if cmd.scope == "agent" else None,
        session=cmd.session_id if cmd.scope == "session" else None,
        task=cmd.task_id if cmd.scope == "task" else None,
    )


def observe_detail(cmd: RevocationCommand) -> str:
    return f"{OBSERVE_DETAIL}; would revoke {targets(cmd).describe()}"


def ack(
    cmd: RevocationCommand, actuator: str, status: Status, detail: str, ts: datetime
) -> RevocationAck:
    return RevocationAck(
        command_id=cmd.command_id, actuator=actuator, status=status, ts=ts, detail=detail
    )


_FAILURE_FRAMEWORKS = Frameworks(
    # access that should have ended did not: privilege abuse stays possible
    owasp_agentic=[FrameworkRef(id="ASI03", name=OWASP_AGENTIC["ASI03"])],
    maestro=[
        FrameworkRef(id="L4", name=MAESTRO["L4"]),
        FrameworkRef(id="L6", name=MAESTRO["L6"]),
    ],
    nist_ai_rmf=["MANAGE"],
)


def failure_alert(
    cmd: RevocationCommand,
    actuator: str,
    detail: str,
    attempts: int,
    ts: datetime,
    redact: Redactor = DEFAULT_REDACTOR,
) -> Alert:
    """The alert for a command an actuator could not carry out.

    Its id is deterministic (command + actuator), so a redelivered command that
    fails again raises the same alert, which SIEM rules deduplicate. Its text is
    redacted: ``detail`` quotes the actuator's endpoint (a webhook URL with its
    token) and the endpoint's reply, and ``cmd.reason`` is whatever was on the bus.
    """
    alert_id = hashlib.sha256(
        "\x1f".join((FAILURE_DETECTOR, cmd.command_id, actuator)).encode()
    ).hexdigest()[:32]
    alert = Alert(
        alert_id=alert_id,
        ts=ts,
        agent_id=cmd.agent_id,
        agent_kind=None,
        detector=FAILURE_DETECTOR,
        severity="critical",
        score=1.0,
        reason=(
            f"revocation of {targets(cmd).describe()} by {actuator} failed after "
            f"{attempts} attempt(s): {detail}. Access the monitor decided to end may still "
            f"be open; end it by hand. Cause: {cmd.reason}"
        ),
        evidence=[],
        clause=CharterClause(
            charter=None,
            key="revocation",
            text="access is ended when a revocation command is issued",
        ),
        frameworks=_FAILURE_FRAMEWORKS,
        mode=cmd.mode,
        task_id=cmd.task_id,
        session_id=cmd.session_id,
        credential_id=cmd.credential_ids[0] if cmd.credential_ids else None,
        details={
            "command_id": cmd.command_id,
            "actuator": actuator,
            "attempts": attempts,
            "scope": cmd.scope,
            "error": detail,
            "caused_by_alerts": ",".join(cmd.alert_ids),
        },
    )
    return redact.alert(alert)
