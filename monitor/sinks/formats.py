"""Pure formatters: one :class:`~monitor.output_contracts.Alert` → OCSF, CEF, Splunk HEC, syslog.

No I/O, no clock: the same alert always gives the same bytes. The field
mappings are documented in docs/siem.md; change both together.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from monitor import __version__
from monitor.output_contracts import Alert

PRODUCT = "mcp-monitor"
VENDOR = "mcp-monitor"
OCSF_VERSION = "1.3.0"

# ---- OCSF Detection Finding (class 2004)
OCSF_CLASS_UID = 2004
OCSF_CATEGORY_UID = 2
OCSF_ACTIVITY_CREATE = 1
OCSF_TYPE_UID = OCSF_CLASS_UID * 100 + OCSF_ACTIVITY_CREATE  # 200401

#: OCSF severity_id: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical
OCSF_SEVERITY: dict[str, tuple[int, str]] = {
    "info": (1, "Informational"),
    "low": (2, "Low"),
    "medium": (3, "Medium"),
    "high": (4, "High"),
    "critical": (5, "Critical"),
}
#: CEF Severity 0-10 (Low 0-3, Medium 4-6, High 7-8, Very-High 9-10)
CEF_SEVERITY: dict[str, int] = {"info": 1, "low": 3, "medium": 5, "high": 8, "critical": 10}
#: syslog severity (RFC 5424 §6.2.1): 2 crit, 3 err, 4 warning, 5 notice, 6 info
SYSLOG_SEVERITY: dict[str, int] = {"info": 6, "low": 5, "medium": 4, "high": 3, "critical": 2}

# OCSF observable type_id
_OBS_USER_NAME = (4, "User Name")
_OBS_RESOURCE_UID = (10, "Resource UID")

#: OCSF profiles the finding uses: ``host`` (for ``actor``), ``security_control``
#: (``action_id`` / ``disposition_id``: what the monitor did about it).
OCSF_PROFILES = ["host", "security_control"]
#: finding_info.analytic.type_id per detector kind (monitor.core.detectors.base.Detector.analytic)
OCSF_ANALYTIC: dict[str, tuple[int, str]] = {
    "rule": (1, "Rule"),
    "behavioral": (2, "Behavioral"),
    "statistical": (3, "Statistical"),
}
_SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def analytic_type(detector: str) -> tuple[int, str]:
    """OCSF analytic type of ``detector``: Rule, Behavioral or Statistical (unknown: Rule)."""
    from monitor.core.detectors import REGISTRY

    cls = REGISTRY.get(detector)
    return OCSF_ANALYTIC.get(cls.analytic if cls is not None else "rule", OCSF_ANALYTIC["rule"])


def confidence(score: float) -> tuple[int, str]:
    """OCSF confidence_id from the alert's score: High from 0.9, Medium from 0.5, else Low."""
    if score >= 0.9:
        return 3, "High"
    if score >= 0.5:
        return 2, "Medium"
    return 1, "Low"


def action(alert: Alert, revoke_min_severity: str = "high") -> tuple[int, str, int, str]:
    """``(action_id, action, disposition_id, disposition)`` of the security_control profile.

    An enforcing charter revokes from ``revoke_min_severity`` (the deployment's
    MCPMON_REVOKE_MIN_SEVERITY): Denied / Access Revoked. Otherwise the call was
    let through and the alert is the response: Allowed / Detected.
    """
    enforce = alert.mode == "enforce"
    if enforce and _SEVERITY_RANK[alert.severity] >= _SEVERITY_RANK[revoke_min_severity]:
        return 2, "Denied", 24, "Access Revoked"
    return 1, "Allowed", 15, "Detected"


def title(alert: Alert) -> str:
    """Stable, human-readable name of the finding: the detector in words."""
    return alert.detector.replace("_", " ").capitalize()


def epoch_ms(alert: Alert) -> int:
    return int(alert.ts.timestamp() * 1000)


def framework_labels(alert: Alert) -> list[str]:
    """``owasp_agentic:ASI02``, ``maestro:L3``, ``nist_ai_rmf:MANAGE`` — one per tag."""
    f = alert.frameworks
    return [
        *(f"owasp_agentic:{r.id}" for r in f.owasp_agentic),
        *(f"maestro:{r.id}" for r in f.maestro),
        *(f"nist_ai_rmf:{n}" for n in f.nist_ai_rmf),
    ]


def _refs(refs: list[Any]) -> str:
    return "; ".join(f"{r.id} {r.name}" for r in refs)


# ------------------------------------------------------------------ OCSF
def to_ocsf(alert: Alert, revoke_min_severity: str = "high") -> dict[str, Any]:
    """An OCSF 1.3 Detection Finding (class_uid 2004, activity Create), profiles host and
    security_control; valid against the published schema (tests/sinks/ocsf_schema.py)."""
    sev_id, sev = OCSF_SEVERITY[alert.severity]
    conf_id, conf = confidence(alert.score)
    action_id, action_name, disposition_id, disposition = action(alert, revoke_min_severity)
    return {
        "class_uid": OCSF_CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": OCSF_CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": OCSF_ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": OCSF_TYPE_UID,
        "type_name": "Detection Finding: Create",
        "time": epoch_ms(alert),
        "severity_id": sev_id,
        "severity": sev,
        "status_id": 1,
        "status": "New",
        "confidence_id": conf_id,
        "confidence": conf,
        "confidence_score": round(alert.score * 100),
        "action_id": action_id,
        "action": action_name,
        "disposition_id": disposition_id,
        "disposition": disposition,
        "message": alert.reason,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": alert.alert_id,
            "product": {"name": PRODUCT, "vendor_name": VENDOR, "version": __version__},
            "labels": [f"mode:{alert.mode}", *framework_labels(alert)],
            "profiles": list(OCSF_PROFILES),
        },
        "finding_info": _ocsf_finding_info(alert),
        "resources": [{"type": f"mcp.{kind}", "uid": uid} for kind, uid in _ocsf_ids(alert)],
        "actor": _ocsf_actor(alert),
        "evidences": [_ocsf_evidence(alert)],
        "observables": _ocsf_observables(alert),
        "unmapped": _ocsf_unmapped(alert),
    }


def _ocsf_ids(alert: Alert) -> list[tuple[str, str]]:
    """The alert's credential, task and session ids that are set: OCSF ``resources``."""
    ids = (
        ("credential", alert.credential_id),
        ("task", alert.task_id),
        ("session", alert.session_id),
    )
    return [(kind, value) for kind, value in ids if value is not None]


def _ocsf_observable(name: str, type_: tuple[int, str], value: str) -> dict[str, Any]:
    return {"name": name, "type_id": type_[0], "type": type_[1], "value": value}


def _ocsf_observables(alert: Alert) -> list[dict[str, Any]]:
    """What a SIEM can pivot on: the agent, each resource id, and the sponsor when known."""
    out = [_ocsf_observable("actor.user.uid", _OBS_USER_NAME, alert.agent_id)]
    out += [_ocsf_observable("resources.uid", _OBS_RESOURCE_UID, v) for _, v in _ocsf_ids(alert)]
    if alert.sponsor is not None:
        out.append(_ocsf_observable("evidences.user.uid", _OBS_USER_NAME, alert.sponsor))
    return out


def _ocsf_actor(alert: Alert) -> dict[str, Any]:
    """The agent as the acting user (type Other), with its kind and session when known."""
    user: dict[str, Any] = {"uid": alert.agent_id, "name": alert.agent_id, "type_id": 99}
    user["type"] = "Other"
    actor: dict[str, Any] = {"user": user}
    if alert.session_id is not None:
        actor["session"] = {"uid": alert.session_id}
    if alert.agent_kind is not None:
        user["account"] = {"type": alert.agent_kind, "type_id": 99}
    return actor


def _ocsf_evidence(alert: Alert) -> dict[str, Any]:
    """The one evidence record: the agent, the evidence event ids and details, the sponsor."""
    evidence: dict[str, Any] = {
        "actor": {"user": {"uid": alert.agent_id, "name": alert.agent_id}},
        "data": {"event_ids": list(alert.evidence), "details": dict(alert.details)},
    }
    if alert.sponsor is not None:  # the human the agent acts for
        evidence["user"] = {"uid": alert.sponsor, "name": alert.sponsor}
    return evidence


def _ocsf_finding_info(alert: Alert) -> dict[str, Any]:
    """The finding: its id, title, the detector as the analytic, the evidence events."""
    analytic_id, analytic_name = analytic_type(alert.detector)
    return {
        "uid": alert.alert_id,
        "title": title(alert),
        "desc": alert.reason,
        "types": [alert.detector],
        "analytic": {
            "uid": alert.detector,
            "name": alert.detector,
            "type_id": analytic_id,
            "type": analytic_name,
            "category": alert.clause.key,
            "desc": alert.clause.text,
        },
        "related_events": [{"uid": e} for e in alert.evidence],
    }


def _ocsf_unmapped(alert: Alert) -> dict[str, Any]:
    """Our fields OCSF has no place for: mode, score, the charter clause, frameworks."""
    f = alert.frameworks
    return {
        "mode": alert.mode,
        "score": alert.score,
        "sponsor": alert.sponsor,
        "task_id": alert.task_id,
        "evidence": list(alert.evidence),
        "charter": alert.clause.charter,
        "charter_key": alert.clause.key,
        "charter_text": alert.clause.text,
        "mission": alert.clause.mission,
        "frameworks": {
            "owasp_agentic": [r.model_dump() for r in f.owasp_agentic],
            "maestro": [r.model_dump() for r in f.maestro],
            "nist_ai_rmf": list(f.nist_ai_rmf),
        },
        "details": dict(alert.details),
    }


# ------------------------------------------------------------------ CEF
def cef_header_escape(value: str) -> str:
    """Header fields: backslash and pipe escaped; line breaks become spaces."""
    v = value.replace("\\", "\\\\").replace("|", "\\|")
    return v.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def cef_ext_escape(value: str) -> str:
    """Extension values: backslash, equals and line breaks escaped (pipes are literal)."""
    v = value.replace("\\", "\\\\").replace("=", "\\=")
    return v.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


def cef_extension(alert: Alert) -> list[tuple[str, str]]:
    """Ordered CEF extension pairs (see docs/siem.md); empty values are left out."""
    f = alert.frameworks
    pairs: list[tuple[str, str]] = [
        ("rt", str(epoch_ms(alert))),
        ("externalId", alert.alert_id),
        ("cat", alert.detector),
        ("act", alert.mode),
        ("suser", alert.agent_id),
        ("msg", alert.reason),
        ("cfp1Label", "score"),
        ("cfp1", f"{alert.score:g}"),
        ("cs1Label", "owaspAgentic"),
        ("cs1", _refs(f.owasp_agentic)),
        ("cs2Label", "maestro"),
        ("cs2", _refs(f.maestro)),
        ("cs3Label", "nistAiRmf"),
        ("cs3", ",".join(f.nist_ai_rmf)),
        ("cs4Label", "evidence"),
        ("cs4", ",".join(alert.evidence)),
        ("cs5Label", "charterClause"),
        ("cs5", f"{alert.clause.key}: {alert.clause.text}"),
    ]
    if alert.credential_id is not None:
        pairs += [("cs6Label", "credential"), ("cs6", alert.credential_id)]
    if alert.task_id is not None:
        pairs += [("flexString1Label", "task"), ("flexString1", alert.task_id)]
    if alert.session_id is not None:
        pairs += [("flexString2Label", "session"), ("flexString2", alert.session_id)]
    if alert.sponsor is not None:
        pairs.append(("duser", alert.sponsor))  # the human the agent acts for
    return [(k, v) for k, v in pairs if v != ""]


def to_cef(alert: Alert) -> str:
    """``CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|k=v ...`` on one line."""
    header = [
        VENDOR,
        PRODUCT,
        __version__,
        alert.detector,
        title(alert),
        str(CEF_SEVERITY[alert.severity]),
    ]
    ext = " ".join(f"{k}={cef_ext_escape(v)}" for k, v in cef_extension(alert))
    return "CEF:0|" + "|".join(cef_header_escape(h) for h in header) + "|" + ext


# ------------------------------------------------------------------ syslog
def _sd_name(value: str, limit: int) -> str:
    """RFC 5424 header field: printable US-ASCII without spaces, ``-`` if empty."""
    out = "".join(c if 33 <= ord(c) <= 126 else "_" for c in value)[:limit]
    return out or "-"


def syslog_line(
    alert: Alert, message: str, *, hostname: str, app_name: str = "mcpmon", facility: int = 10
) -> bytes:
    """RFC 5424: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG``.

    PRI = facility * 8 + severity (facility 10: security/authorization);
    TIMESTAMP is the alert's event time in UTC; MSGID is the detector.
    """
    pri = facility * 8 + SYSLOG_SEVERITY[alert.severity]
    ts = alert.ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    head = (
        f"<{pri}>1 {ts} {_sd_name(hostname, 255)} {_sd_name(app_name, 48)} - "
        f"{_sd_name(alert.detector, 32)} -"
    )
    return f"{head} {message}".encode()


def octet_counted(frame: bytes) -> bytes:
    """RFC 6587 §3.4.1 octet-counting: ``MSG-LEN SP SYSLOG-MSG``."""
    return str(len(frame)).encode() + b" " + frame


# ------------------------------------------------------------------ Splunk HEC
def to_hec(
    alert: Alert,
    *,
    host: str,
    source: str = "mcpmon",
    sourcetype: str = "mcpmon:alert",
    index: str = "",
) -> dict[str, Any]:
    """The body of ``POST /services/collector/event``: the alert is the event.

    ``fields`` are indexed fields (flat strings or lists of strings) for fast
    searches: detector, severity, agent, mode and the framework tags.
    """
    f = alert.frameworks
    fields: dict[str, Any] = {
        "alert_id": alert.alert_id,
        "detector": alert.detector,
        "severity": alert.severity,
        "agent_id": alert.agent_id,
        "mode": alert.mode,
        "owasp_agentic": [r.id for r in f.owasp_agentic],
        "maestro": [r.id for r in f.maestro],
        "nist_ai_rmf": list(f.nist_ai_rmf),
    }
    body: dict[str, Any] = {
        "time": round(alert.ts.timestamp(), 3),
        "host": host,
        "source": source,
        "sourcetype": sourcetype,
        "event": alert.model_dump(mode="json"),
        "fields": fields,
    }
    if index:
        body["index"] = index
    return body
