"""Charter updates at run time: accepted whole, or refused whole with an alert.

A ``charter_updated`` event replaces the charter of its ``agent`` pattern.
Because a charter *is* the policy, an update is all or nothing:

- it must carry a valid signature by one of the engine's charter keys
  (``EngineSettings.charter_keys``; none configured: no signature needed), so
  an agent — or anyone else who can write to ``mcp.events`` — cannot grant
  itself tools by sending one;
- it must validate as a charter, every key of it.

Otherwise nothing of it is applied, the charter in force stays in force, and
the decision is a ``charter_rejected`` alert naming the key at fault (or
``signature``). The alert comes from the core, so ``mcpmon replay`` and the
worker refuse the same updates with the same alert ids.

>>> from monitor.events import decode_event
>>> ev = decode_event(b'{"type":"charter_updated","event_id":"u1","ts":"2026-01-01T00:00:00Z",'
...     b'"agent_id":"a","charter":{"agent":"a","kind":"robot"}}')
>>> alert = check_update(ev, None, None)
>>> alert.detector, alert.clause.key
('charter_rejected', 'kind')
"""

from __future__ import annotations

from monitor.charter import Charter, parse_charter
from monitor.core.decision import stable_id
from monitor.core.frameworks import frameworks_for
from monitor.core.policy import CompiledCharter
from monitor.errors import CharterError
from monitor.events import CharterUpdated
from monitor.outputs import Alert, CharterClause
from monitor.signing import Keyring, check_charter

DETECTOR = "charter_rejected"


def check_update(
    ev: CharterUpdated, keys: Keyring | None, current: CompiledCharter | None
) -> Charter | Alert:
    """The charter to apply, or the ``charter_rejected`` alert when the update is refused.

    ``current`` is the charter in force for the update's pattern, if any (named
    in the alert, so an analyst sees what stays in force).
    """
    pattern = ev.charter.get("agent")
    pattern = pattern if isinstance(pattern, str) else None
    if keys is not None:
        problem = check_charter(ev.charter, ev.signature, keys)
        if problem is not None:
            why = f"not signed by an authorised charter key: {problem}"
            return _alert(ev, pattern, current, "signature", why)
    try:
        charter = parse_charter(ev.charter, name=f"charter_updated {ev.event_id}")
    except CharterError as err:
        first = err.problems[0]
        more = len(err.problems) - 1
        why = "; ".join(f"{p.key or '(document)'}: {p.message}" for p in err.problems[:5])
        if more > 4:
            why += f" (and {more - 4} more)"
        return _alert(ev, pattern, current, first.key or "charter", f"invalid: {why}")
    return charter


def _alert(
    ev: CharterUpdated,
    pattern: str | None,
    current: CompiledCharter | None,
    key: str,
    why: str,
) -> Alert:
    stays = (
        f"the charter loaded for {current.pattern!r} stays in force"
        if current is not None
        else "no charter was in force for it and none is now"
    )
    target = repr(pattern) if pattern is not None else "an unnamed pattern"
    return Alert(
        alert_id=stable_id(ev.agent_id, DETECTOR, key, ev.event_id),
        ts=ev.ts,
        agent_id=ev.agent_id,
        agent_kind=current.kind if current is not None else None,
        detector=DETECTOR,
        severity="high",
        score=1.0,
        reason=(
            f"charter update {ev.event_id} for {target} was rejected as a whole, {why}; {stays}"
        ),
        evidence=[ev.event_id],
        clause=CharterClause(
            charter=pattern,
            key=key,
            text="a charter update is applied only whole, valid and signed by an authorised key",
            mission=current.mission if current is not None else "",
        ),
        frameworks=frameworks_for(DETECTOR),
        mode=current.mode if current is not None else "observe",
        details={"event_id": ev.event_id, "signed": ev.signature is not None},
    )


__all__ = ["DETECTOR", "check_update"]
