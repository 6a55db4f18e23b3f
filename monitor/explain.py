"""``mcpmon explain ALERT_ID``: what an analyst asks first, on one screen.

An alert names its evidence by event id; the analyst wants the events
themselves, the charter clause in words, the features that drove a
behaviour score and whether a revocation went out. This joins them from the
files a replay (or an export of the topics) leaves: ``alerts.jsonl``, the
events file, and ``revocations.jsonl`` beside the alerts when it is there.

Everything printed passes the deployment's redactor (an event's arguments
may hold what the alert deliberately left out) and is escaped: agent-chosen
strings never reach the terminal as control sequences.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from monitor.core.redact import Redactor
from monitor.errors import MonitorError
from monitor.linereader import Oversize
from monitor.output_contracts import Alert
from monitor.replay import read_lines

#: Shortest alert-id prefix accepted (ids are 32 hex digits).
MIN_PREFIX = 6


@dataclass(slots=True)
class Explanation:
    alert: dict[str, Any]
    evidence: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # evidence ids not in the events file
    revocations: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "evidence": self.evidence,
            "missing_evidence": self.missing,
            "revocations": self.revocations,
        }


def _safe(text: object) -> str:
    """``text`` with control characters escaped (a terminal never sees them raw)."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)


def _redacted(obj: Any, redactor: Redactor, key: str = "") -> Any:
    """``obj`` with every string redacted, and every value under a secret-named key replaced."""
    if isinstance(obj, dict):
        return {k: _redacted(v, redactor, str(k)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redacted(v, redactor, key) for v in obj]
    if key and redactor.secret_key(key) and obj is not None:
        return "[REDACTED]"
    return redactor(obj) if isinstance(obj, str) else obj


def _json_lines(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every JSON-object line, streamed (event files are big)."""
    for n, raw in enumerate(read_lines(path), 1):
        if isinstance(raw, Oversize) or not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # not ours to judge here: replay dead-letters such lines
        if isinstance(obj, dict):
            yield n, obj


def find_alert(alerts_path: str, alert_id: str) -> Alert:
    """The alert whose id is or starts with ``alert_id`` (an ambiguous prefix is an error)."""
    if len(alert_id) < MIN_PREFIX:
        raise MonitorError(f"alert id {alert_id!r}: give at least {MIN_PREFIX} characters")
    hits = [
        (n, a)
        for n, a in _json_lines(alerts_path)
        if isinstance(a.get("alert_id"), str) and a["alert_id"].startswith(alert_id)
    ]
    ids = sorted({a["alert_id"] for _, a in hits})
    if not ids:
        raise MonitorError(f"no alert {alert_id!r} in {alerts_path}")
    if len(ids) > 1:
        raise MonitorError(f"alert id {alert_id!r} is ambiguous in {alerts_path}: {ids[:5]}")
    n, found = hits[-1]
    try:
        return Alert.model_validate(found)
    except ValueError as err:
        raise MonitorError(f"{alerts_path}:{n}: not a valid alert: {err}") from None


def explain(
    alert_id: str,
    alerts_path: str,
    events_path: str | None,
    redactor: Redactor,
    revocations_path: str | None = None,
) -> Explanation:
    """Join the alert with its evidence events and the revocations that cite it."""
    alert = find_alert(alerts_path, alert_id)
    out = Explanation(alert=orjson.loads(redactor.alert(alert).to_json()))
    wanted = dict.fromkeys(alert.evidence)
    if events_path is not None:
        found: dict[str, dict[str, Any]] = {}
        for _, ev in _json_lines(events_path):
            eid = ev.get("event_id")
            if isinstance(eid, str) and eid in wanted and eid not in found:
                found[eid] = _redacted(ev, redactor)
                if len(found) == len(wanted):
                    break  # every piece of evidence found: no need to read the rest
        out.evidence = [found[e] for e in wanted if e in found]
        out.missing = [e for e in wanted if e not in found]
    else:
        out.missing = list(wanted)
    if revocations_path is None:
        beside = Path(alerts_path).with_name("revocations.jsonl")
        revocations_path = str(beside) if beside.is_file() else None
    if revocations_path is not None:
        out.revocations = [
            r for _, r in _json_lines(revocations_path) if alert.alert_id in r.get("alert_ids", [])
        ]
    return out


def render(x: Explanation) -> str:
    a = x.alert
    clause = a.get("clause") or {}
    fw = a.get("frameworks") or {}
    who = [f"{k} {a[k]}" for k in ("task_id", "sponsor", "session_id", "credential_id") if a.get(k)]
    lines = [
        f"alert      {a['alert_id']}  {a['detector']}  {a['severity']} "
        f"(score {a['score']:.2f}, {a['mode']})",
        f"agent      {a['agent_id']} ({a.get('agent_kind') or 'kind unknown'})",
        *([f"           {', '.join(who)}"] if who else []),
        f"when       {a['ts']}",
        f"reason     {a['reason']}",
        f"clause     {clause.get('charter') or '(no charter)'} · {clause.get('key')}: "
        f"{clause.get('text')}",
        *([f"mission    {clause['mission']}"] if clause.get("mission") else []),
        "frameworks "
        + "; ".join(
            [
                "OWASP " + ", ".join(f"{f['id']} {f['name']}" for f in fw.get("owasp_agentic", [])),
                "MAESTRO " + ", ".join(f["id"] for f in fw.get("maestro", [])),
                "NIST AI RMF " + ", ".join(fw.get("nist_ai_rmf", [])),
            ]
        ),
    ]
    details = a.get("details") or {}
    if details:
        lines.append("details")
        lines += [f"  {k} = {v}" for k, v in details.items()]
    lines.append(f"evidence   {len(a['evidence'])} event(s)")
    for ev in x.evidence:
        head = f"{ev.get('event_id')}  {ev.get('ts')}  {ev.get('type')}"
        lines.append(f"  {head}")
        lines.append(f"    {orjson.dumps(ev).decode()}")
    lines += [f"  {e}  (not in the events file)" for e in x.missing]
    if x.revocations:
        for r in x.revocations:
            creds = ",".join(r.get("credential_ids") or []) or "-"
            lines.append(
                f"revocation {r.get('command_id')}  scope {r.get('scope')}  credentials {creds}  "
                f"mode {r.get('mode')}"
            )
    else:
        lines.append("revocation none cites this alert")
    return "\n".join(_safe(line) for line in lines)
