"""Charter updates at run time: accepted whole, or refused whole with an alert.

A ``charter_updated`` event replaces the charter of its ``agent`` pattern.
Because a charter *is* the policy, an update is all or nothing, and an agent —
or anyone else who can write to ``mcp.events`` — must not be able to grant
itself tools by sending one. So an update is applied only when

- it carries a valid signature by a key of the engine's charter keys
  (``EngineSettings.charter_keys``) that may sign charters (key scopes,
  :mod:`monitor.signing`). Unsigned updates are refused, also when no keys are
  configured, unless ``EngineSettings.charter_allow_unsigned`` is set; then an
  unsigned update is applied with a ``charter_unsigned`` alert (a forged
  signature is refused all the same);
- a signed update carries a ``version`` (covered by the signature) above the
  one last accepted for its pattern: a replayed older update — even under a
  new ``event_id``, which the signature does not cover — is refused. A signed
  update applied before, again (same ``event_id`` and version: a redelivery,
  e.g. after a worker crash) changes nothing and raises nothing;
- it validates as a charter, every key of it.

Otherwise nothing of it is applied, the charter in force stays in force, and
the decision is a ``charter_rejected`` alert naming the key at fault
(``signature``, ``version`` or the charter key). An update that is applied but
grants anything the charter in force did not (a tool, a tenant, a resource
glob that covers more, enforce → observe, a forbidden chain removed, a limit
raised, the baseline off; :mod:`monitor.core.charter_diff` decides, as
``mcpmon charter diff`` does) raises a ``charter_widened`` alert listing what
widened, signed or not: a stolen policy key must not widen quietly either.
The alerts come from the core, so ``mcpmon replay`` and the worker judge the
same updates with the same alert ids.

>>> from monitor.events import decode_event
>>> ev = decode_event(b'{"type":"charter_updated","event_id":"u1","ts":"2026-01-01T00:00:00Z",'
...     b'"agent_id":"a","charter":{"agent":"a","kind":"autonomous","tools":[{"server":"s","tool":"*"}]}}')
>>> refused = check_update(ev, None, None)
>>> refused.detector, refused.clause.key
('charter_rejected', 'signature')
>>> applied = check_update(ev, None, None, allow_unsigned=True)
>>> applied.charter.agent, [a.detector for a in applied.alerts]
('a', ['charter_unsigned', 'charter_widened'])
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.charter import Charter, parse_charter
from monitor.core.charter_diff import RISKIER, diff_charters
from monitor.core.decision import stable_id
from monitor.core.frameworks import frameworks_for
from monitor.core.policy import CompiledCharter
from monitor.errors import CharterError
from monitor.events import CharterUpdated
from monitor.output_contracts import Alert, CharterClause, Severity
from monitor.signing import Keyring, check_charter

DETECTOR = REJECTED = "charter_rejected"
UNSIGNED = "charter_unsigned"
WIDENED = "charter_widened"
#: widened changes named in an alert's reason (all are counted)
MAX_LISTED = 8

#: How to get a refused unsigned update in, said in the alert.
HOW_TO_SIGN = (
    "sign charter updates with mcpmon sign-charter under a key of MCPMON_CHARTER_SIGNING_KEYS, "
    "or allow unsigned ones with MCPMON_CHARTER_ALLOW_UNSIGNED=true (not in production)"
)


@dataclass(frozen=True, slots=True)
class Accepted:
    """An update to apply, with the alerts it raises all the same."""

    charter: Charter
    version: int | None  # the signed version to record for the pattern; None: applied unsigned
    alerts: tuple[Alert, ...] = ()


def check_update(
    ev: CharterUpdated,
    keys: Keyring | None,
    current: CompiledCharter | None,
    *,
    allow_unsigned: bool = False,
    applied: Mapping[str, int] | None = None,
) -> Accepted | Alert | None:
    """The update to apply, the ``charter_rejected`` alert refusing it, or None when it is
    a signed update applied before, again (a redelivery: nothing to do).

    ``current`` is the charter in force for the update's pattern, if any (named
    in the alerts and compared with the update); ``applied`` the signed updates
    applied to that pattern, ``event_id → version``, oldest first (the last is
    in force).
    """
    pattern = ev.charter.get("agent")
    pattern = pattern if isinstance(pattern, str) else None
    signed = False
    if ev.signature is not None and keys is not None:
        problem = check_charter(ev.charter, ev.signature, keys, ev.version)
        if problem is not None:
            why = f"not signed by an authorised charter key: {problem}"
            return _rejected(ev, pattern, current, "signature", why)
        signed = True
    elif not allow_unsigned:
        if keys is not None:
            why = "not signed by an authorised charter key: unsigned"
        elif ev.signature is not None:
            why = f"this monitor has no charter keys to check its signature; {HOW_TO_SIGN}"
        else:
            why = f"unsigned, and unsigned charter updates are refused; {HOW_TO_SIGN}"
        return _rejected(ev, pattern, current, "signature", why)
    if signed:
        if ev.version is None:
            why = (
                "signed without a version, so it could be replayed at any time; sign it again "
                "with mcpmon sign-charter, which stamps one"
            )
            return _rejected(ev, pattern, current, "version", why)
        if applied:
            if applied.get(ev.event_id) == ev.version:
                return None
            last_event, last_version = list(applied.items())[-1]  # in force
            if ev.version <= last_version:
                why = (
                    f"its version {ev.version} is not above version {last_version} accepted "
                    f"for the pattern (event {last_event}): a replay of an older signed update"
                )
                return _rejected(ev, pattern, current, "version", why)
    try:
        charter = parse_charter(ev.charter, name=f"charter_updated {ev.event_id}")
    except CharterError as err:
        first = err.problems[0]
        more = len(err.problems) - 1
        why = "; ".join(f"{p.key or '(document)'}: {p.message}" for p in err.problems[:5])
        if more > 4:
            why += f" (and {more - 4} more)"
        return _rejected(ev, pattern, current, first.key or "charter", f"invalid: {why}")
    alerts: list[Alert] = []
    if not signed:
        alerts.append(_unsigned(ev, charter, current, keys))
    old = [current.charter] if current is not None else []
    widened = [c.text for c in diff_charters(old, [charter]) if c.verdict == RISKIER]
    if widened:
        alerts.append(_widened(ev, charter, current, widened, signed))
    return Accepted(charter, ev.version if signed else None, tuple(alerts))


def _alert(
    ev: CharterUpdated,
    detector: str,
    severity: Severity,
    pattern: str | None,
    current: CompiledCharter | None,
    key: str,
    reason: str,
    text: str,
    mode_of: Charter | CompiledCharter | None,
    **details: str | int | bool | None,
) -> Alert:
    return Alert(
        alert_id=stable_id(ev.agent_id, detector, key, ev.event_id),
        ts=ev.ts,
        agent_id=ev.agent_id,
        agent_kind=current.kind if current is not None else None,
        detector=detector,
        severity=severity,
        score=1.0,
        reason=reason,
        evidence=[ev.event_id],
        clause=CharterClause(
            charter=pattern,
            key=key,
            text=text,
            mission=current.mission if current is not None else "",
        ),
        frameworks=frameworks_for(detector),
        mode=mode_of.mode if mode_of is not None else "observe",
        details={
            "event_id": ev.event_id,
            "signed": ev.signature is not None,
            "version": ev.version,
            **details,
        },
    )


def _rejected(
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
    return _alert(
        ev,
        REJECTED,
        "high",
        pattern,
        current,
        key,
        f"charter update {ev.event_id} for {target} was rejected as a whole, {why}; {stays}",
        "a charter update is applied only whole, valid, signed by an authorised key and newer "
        "than the one in force",
        current,
    )


def _unsigned(
    ev: CharterUpdated, charter: Charter, current: CompiledCharter | None, keys: Keyring | None
) -> Alert:
    unchecked = " (its signature was not checked: no charter keys)" if ev.signature else ""
    return _alert(
        ev,
        UNSIGNED,
        "medium",
        charter.agent,
        current,
        "signature",
        f"charter update {ev.event_id} for {charter.agent!r} was applied unsigned{unchecked}, "
        "only because unsigned charter updates are allowed (MCPMON_CHARTER_ALLOW_UNSIGNED): "
        "anyone who can write to the events topic can change this policy; sign updates with "
        "mcpmon sign-charter and turn the setting off",
        "charter updates are signed by the policy owner; this monitor is set to apply unsigned ones",
        charter,
        keys_configured=keys is not None,
    )


def _widened(
    ev: CharterUpdated,
    charter: Charter,
    current: CompiledCharter | None,
    widened: list[str],
    signed: bool,
) -> Alert:
    listed = "; ".join(widened[:MAX_LISTED])
    if len(widened) > MAX_LISTED:
        listed += f" (and {len(widened) - MAX_LISTED} more)"
    how = f"signed, version {ev.version}" if signed else "unsigned"
    before = "the charter in force" if current is not None else "no charter (a new pattern)"
    return _alert(
        ev,
        WIDENED,
        "high",
        charter.agent,
        current,
        re.split(r"[:. ]", widened[0], maxsplit=1)[0],  # "tools", "limits", "mode", "charter"
        f"charter update {ev.event_id} ({how}) for {charter.agent!r} was applied and grants "
        f"more than {before}: {listed}; confirm with the policy owner that it is intended",
        "a charter update that grants more than the charter in force is reported",
        charter,
        widened="; ".join(widened)[:2048],
        widened_count=len(widened),
    )


__all__ = ["DETECTOR", "REJECTED", "UNSIGNED", "WIDENED", "Accepted", "check_update"]
