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

from collections.abc import Iterable, Iterator
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
    #: a behaviour alert's baseline features, explained (:func:`baseline_features`)
    baseline: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "alert": self.alert,
            "evidence": self.evidence,
            "missing_evidence": self.missing,
            "revocations": self.revocations,
        }
        if self.baseline:
            out["baseline_features"] = self.baseline
        return out


#: What each behaviour-baseline feature measures (``monitor.core.baseline.features.FEATURES``),
#: in an analyst's words: what a high contribution means.
FEATURE_MEANINGS: dict[str, str] = {
    "tool": "the tool: one this agent rarely or never called",
    "server": "the MCP server: one this agent rarely or never called",
    "transition": "the step from its previous tool to this one: a sequence it rarely ran",
    "chain": "its last few steps together: a run of sequences it rarely or never ran",
    "destination": "where the call sends (address, host, channel): rarely or never sent to",
    "resource": "the resource area touched: rarely or never touched",
    "arg_shape": "the argument names and types: a shape of call it rarely made",
    "rate": "calls in the last minute: above its own usual pace",
    "burst": "calls in the last 10 seconds: a burst above its own habit",
    "fanout": "distinct destinations in 10 minutes: wider than its own habit",
    "bytes_out": "data sent: far more than its usual volume",
    "bytes_in": "data received: far more than its usual volume",
    "hour": "the hour of day: one it is rarely active in",
    "weekday": "the day of the week: one it is rarely active on",
    "error_streak": "failed calls in a row: more than it usually has",
    "task_length": "calls in this task so far: longer than its usual tasks",
}


def baseline_features(alert: dict[str, Any]) -> list[dict[str, Any]]:
    """A behaviour alert's features, strongest first: ``name``, ``contribution`` (what it
    added to the raw score: its surprise above the agent's running mean), ``meaning``; from ``details`` (``top_features``, ``contribution.*``).
    Empty for any other alert."""
    details = alert.get("details") or {}
    if alert.get("detector") != "behaviour_anomaly" or not isinstance(details, dict):
        return []
    named = str(details.get("top_features") or "").split(",")
    names = [n for n in named if n] or [
        k.removeprefix("contribution.") for k in details if k.startswith("contribution.")
    ]
    out = [
        {
            "name": n,
            "contribution": details.get(f"contribution.{n}"),
            "meaning": FEATURE_MEANINGS.get(n, "a feature of this agent's learned baseline"),
        }
        for n in names
    ]
    out.sort(key=lambda f: -f["contribution"] if isinstance(f["contribution"], int | float) else 0)
    return out


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
    return find_alert_in(_json_lines(alerts_path), alert_id, alerts_path)


def find_alert_in(
    alerts: Iterable[tuple[object, dict[str, Any]]], alert_id: str, where: str
) -> Alert:
    """:func:`find_alert` over ``(position, object)`` pairs read from ``where`` (a file, a topic)."""
    if len(alert_id) < MIN_PREFIX:
        raise MonitorError(f"alert id {alert_id!r}: give at least {MIN_PREFIX} characters")
    hits = [
        (n, a)
        for n, a in alerts
        if isinstance(a.get("alert_id"), str) and a["alert_id"].startswith(alert_id)
    ]
    ids = sorted({a["alert_id"] for _, a in hits})
    if not ids:
        raise MonitorError(f"no alert {alert_id!r} in {where}")
    if len(ids) > 1:
        raise MonitorError(f"alert id {alert_id!r} is ambiguous in {where}: {ids[:5]}")
    n, found = hits[-1]
    try:
        return Alert.model_validate(found)
    except ValueError as err:
        raise MonitorError(f"{where}:{n}: not a valid alert: {err}") from None


def join(
    alert: Alert,
    events: Iterable[dict[str, Any]] | None,
    revocations: Iterable[dict[str, Any]],
    redactor: Redactor,
) -> Explanation:
    """The alert with the events its evidence names (None: no events given) and the
    revocation commands that cite it; a file or a topic, the same join."""
    out = Explanation(alert=orjson.loads(redactor.alert(alert).to_json()))
    out.baseline = baseline_features(out.alert)
    wanted = dict.fromkeys(alert.evidence)
    if events is not None:
        found: dict[str, dict[str, Any]] = {}
        for ev in events:
            eid = ev.get("event_id")
            if isinstance(eid, str) and eid in wanted and eid not in found:
                found[eid] = _redacted(ev, redactor)
                if len(found) == len(wanted):
                    break  # every piece of evidence found: no need to read the rest
        out.evidence = [found[e] for e in wanted if e in found]
        out.missing = [e for e in wanted if e not in found]
    else:
        out.missing = list(wanted)
    out.revocations = [
        r
        for r in revocations
        if isinstance(r.get("alert_ids"), list) and alert.alert_id in r["alert_ids"]
    ]
    return out


def explain(
    alert_id: str,
    alerts_path: str,
    events_path: str | None,
    redactor: Redactor,
    revocations_path: str | None = None,
) -> Explanation:
    """Join the alert with its evidence events and the revocations that cite it."""
    alert = find_alert(alerts_path, alert_id)
    events = None if events_path is None else (ev for _, ev in _json_lines(events_path))
    if revocations_path is None:
        beside = Path(alerts_path).with_name("revocations.jsonl")
        revocations_path = str(beside) if beside.is_file() else None
    revocations = (
        (r for _, r in _json_lines(revocations_path)) if revocations_path is not None else ()
    )
    return join(alert, events, revocations, redactor)


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
    if x.baseline:
        lines.append(
            f"baseline   what drove the score (p ≈ {details.get('p_value')}, "
            f"after {details.get('calls_learned')} calls learned; + what each added to the raw "
            f"score {details.get('raw_score')}), strongest first"
        )
        for f in x.baseline:
            added = f["contribution"]
            shown = f"+{added:.3f}" if isinstance(added, int | float) else "?"
            lines.append(f"  {f['name']:<13} {shown:>7}  {f['meaning']}")
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
