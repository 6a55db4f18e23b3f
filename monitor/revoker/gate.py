"""The revoker's door: only authentic, fresh commands reach an actuator.

Pure: the shell passes the clock reading in. A command on ``mcp.revocations``
is refused — never applied, never acked — when the revoker has command keys
(``MCPMON_COMMAND_SIGNING_KEYS``) and the command

- carries no signature (``unsigned``), one by an unknown key, one that does
  not verify (a field was changed: ``bad signature``), or one by a key of the
  ring that may not sign commands (``may not sign commands``: a key scoped to
  charter updates, :mod:`monitor.signing`) — a forged command; or
- has a ``ts`` further than ``max_age_seconds`` from now, in the past or the
  future — a replay of an old genuine command. Within that window a replayed
  command is harmless: the ledger acks it ``already_applied`` and touches
  nothing.

Why refused commands are not acked ``failed``: an ack is the revoker's word
about a command it accepted. A forged command may reuse a genuine
``command_id``; a ``failed`` ack under that id would tell the issuer its real
revocation failed. A refused command instead goes to the dead-letter topic
(raw bytes and reason) and raises a ``revocation_refused`` alert.

Without keys every command is accepted, as before signing existed, and the
service warns at start: nothing on the bus is authenticated then, so an age
check would only refuse late genuine commands, and it is not made.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from monitor.core.frameworks import MAESTRO, OWASP_AGENTIC
from monitor.core.redact import DEFAULT_REDACTOR, Redactor
from monitor.output_contracts import (
    Alert,
    CharterClause,
    FrameworkRef,
    Frameworks,
    RevocationCommand,
)
from monitor.signing import Keyring, check_command

#: The detector name of the alert a refused command raises.
REFUSED_DETECTOR = "revocation_refused"
#: Dead-letter reasons start with this (the metrics' reason class: "refused").
REFUSED_PREFIX = "refused revocation command"


@dataclass(frozen=True, slots=True)
class CommandGate:
    keys: Keyring | None
    max_age_seconds: float = 86_400.0  # 0: no limit

    @property
    def authenticates(self) -> bool:
        return self.keys is not None

    def check(self, cmd: RevocationCommand, now: datetime) -> str | None:
        """None to carry ``cmd`` out; else why it is refused, in words."""
        if self.keys is None:
            return None
        problem = check_command(cmd, self.keys)  # signature and the key's scope
        if problem is not None:  # it may quote the caller's key id: logged and dead-lettered
            return DEFAULT_REDACTOR(problem)
        if self.max_age_seconds > 0:
            age = (now - cmd.ts).total_seconds()
            if age > self.max_age_seconds:
                return (
                    f"expired: issued {age:.0f} s ago, more than the "
                    f"{self.max_age_seconds:g} s allowed (a replay?)"
                )
            if -age > self.max_age_seconds:
                return (
                    f"dated {-age:.0f} s in the future, more than the "
                    f"{self.max_age_seconds:g} s allowed"
                )
        return None


_REFUSED_FRAMEWORKS = Frameworks(
    # someone who is not the monitor speaks on its revocation channel
    owasp_agentic=[
        FrameworkRef(id="ASI07", name=OWASP_AGENTIC["ASI07"]),
        FrameworkRef(id="ASI03", name=OWASP_AGENTIC["ASI03"]),
    ],
    maestro=[FrameworkRef(id="L6", name=MAESTRO["L6"])],
    nist_ai_rmf=["MANAGE"],
)


def refused_alert(
    cmd: RevocationCommand,
    raw: bytes,
    why: str,
    now: datetime,
    redact: Redactor = DEFAULT_REDACTOR,
) -> Alert:
    """The alert for a refused command; its id is a hash of the raw bytes, so a redelivery
    of the same message raises the same alert (SIEM rules deduplicate). Everything in it
    but the id came from whoever wrote the command (key id, reason, ids): redacted."""
    digest = hashlib.sha256(raw).hexdigest()
    forged = not why.startswith(("expired", "dated"))
    what = "forged or unsigned" if forged else "replayed or stale"
    alert = Alert(
        alert_id=hashlib.sha256(f"{REFUSED_DETECTOR}\x1f{digest}".encode()).hexdigest()[:32],
        ts=now,
        agent_id=cmd.agent_id,
        agent_kind=None,
        detector=REFUSED_DETECTOR,
        severity="critical" if forged else "high",
        score=1.0,
        reason=(
            f"{what} revocation command {cmd.command_id} refused: {why}. Nothing was "
            f"revoked. Someone other than the monitor may be writing to the revocation topic."
        ),
        evidence=[],
        clause=CharterClause(
            charter=None,
            key="revocation",
            text="only revocation commands signed by the monitor, and fresh, are carried out",
        ),
        frameworks=_REFUSED_FRAMEWORKS,
        mode=cmd.mode,
        task_id=cmd.task_id,
        session_id=cmd.session_id,
        details={
            "command_id": cmd.command_id,
            "refused": why,
            "scope": cmd.scope,
            "sha256": digest,
            "signed": cmd.signature is not None,
        },
    )
    return redact.alert(alert)


__all__ = ["REFUSED_DETECTOR", "REFUSED_PREFIX", "CommandGate", "refused_alert"]
