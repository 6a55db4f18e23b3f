"""The pure formatters, field by field: OCSF Detection Finding, CEF, syslog, Splunk HEC."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from monitor import __version__
from monitor.settings import load_settings
from monitor.sinks.formats import (
    CEF_SEVERITY,
    OCSF_SEVERITY,
    SYSLOG_SEVERITY,
    action,
    cef_ext_escape,
    cef_extension,
    cef_header_escape,
    octet_counted,
    syslog_line,
    to_cef,
    to_hec,
    to_ocsf,
)
from tests.sinks.support import T0, T0_MS, alert

SEVERITIES = ["info", "low", "medium", "high", "critical"]


# ------------------------------------------------------------------ OCSF
def test_ocsf_class_and_type() -> None:
    o = to_ocsf(alert())
    assert o["class_uid"] == 2004
    assert o["class_name"] == "Detection Finding"
    assert o["category_uid"] == 2
    assert o["category_name"] == "Findings"
    assert o["activity_id"] == 1
    assert o["activity_name"] == "Create"
    assert o["type_uid"] == 200401
    assert o["type_name"] == "Detection Finding: Create"


def test_ocsf_time_severity_status_message() -> None:
    o = to_ocsf(alert())
    assert o["time"] == T0_MS
    assert (o["severity_id"], o["severity"]) == (4, "High")
    assert (o["status_id"], o["status"]) == (1, "New")
    assert o["confidence_score"] == 90
    assert o["message"] == "read_secret then egress within 3 calls"


@pytest.mark.parametrize(
    ("sev", "sid", "name"),
    [
        ("info", 1, "Informational"),
        ("low", 2, "Low"),
        ("medium", 3, "Medium"),
        ("high", 4, "High"),
        ("critical", 5, "Critical"),
    ],
)
def test_ocsf_severity_ids(sev: str, sid: int, name: str) -> None:
    o = to_ocsf(alert(severity=sev))
    assert (o["severity_id"], o["severity"]) == (sid, name)


@pytest.mark.parametrize(
    ("score", "cid", "name"),
    [
        (1.0, 3, "High"),
        (0.9, 3, "High"),
        (0.89, 2, "Medium"),
        (0.5, 2, "Medium"),
        (0.49, 1, "Low"),
        (0.0, 1, "Low"),
    ],
)
def test_ocsf_confidence_from_score(score: float, cid: int, name: str) -> None:
    """High from 0.9, Medium from 0.5 (inclusive), else Low: id and OCSF caption both."""
    o = to_ocsf(alert(score=score))
    assert (o["confidence_id"], o["confidence"]) == (cid, name)


@pytest.mark.parametrize(
    ("severity", "mode", "revoke_at", "expected"),
    [
        ("high", "enforce", "high", (2, "Denied", 24, "Access Revoked")),
        ("critical", "enforce", "high", (2, "Denied", 24, "Access Revoked")),
        ("medium", "enforce", "high", (1, "Allowed", 15, "Detected")),
        ("critical", "observe", "low", (1, "Allowed", 15, "Detected")),
        ("low", "enforce", "low", (2, "Denied", 24, "Access Revoked")),
    ],
)
def test_ocsf_action_and_disposition_say_what_the_monitor_did(
    severity: str, mode: str, revoke_at: str, expected: tuple[int, str, int, str]
) -> None:
    """The security_control profile, ids and OCSF captions: Denied / Access Revoked when an
    enforcing charter revoked, Allowed / Detected when the alert was the only response."""
    o = to_ocsf(alert(severity=severity, mode=mode), revoke_min_severity=revoke_at)
    assert (o["action_id"], o["action"], o["disposition_id"], o["disposition"]) == expected
    assert action(alert(severity=severity, mode=mode), revoke_at) == expected


@pytest.mark.parametrize("sev", SEVERITIES)
def test_action_defaults_to_the_deployments_default_revoke_level(sev: str) -> None:
    """Called without a revoke level, ``action`` (and ``to_ocsf``) assume the deployment's
    default MCPMON_REVOKE_MIN_SEVERITY, so a caller that leaves it out reports what an
    unconfigured monitor does."""
    default = load_settings(env={}).revoke_min_severity
    a = alert(severity=sev, mode="enforce")
    assert action(a) == action(a, default)
    assert to_ocsf(a)["action_id"] == to_ocsf(a, default)["action_id"]


def test_ocsf_metadata_product_and_framework_labels() -> None:
    m = to_ocsf(alert())["metadata"]
    assert m["product"] == {
        "name": "mcp-monitor",
        "vendor_name": "mcp-monitor",
        "version": __version__,
    }
    assert m["uid"] == "a1b2c3"
    assert m["version"] == "1.3.0"
    assert m["labels"] == [
        "mode:enforce",
        "owasp_agentic:ASI01",
        "owasp_agentic:ASI02",
        "maestro:L3",
        "nist_ai_rmf:MEASURE",
        "nist_ai_rmf:MANAGE",
    ]


def test_ocsf_finding_info() -> None:
    fi = to_ocsf(alert())["finding_info"]
    assert fi["uid"] == "a1b2c3"
    assert fi["title"] == "Forbidden chain"
    assert fi["desc"] == "read_secret then egress within 3 calls"
    assert fi["types"] == ["forbidden_chain"]
    assert fi["analytic"] == {
        "uid": "forbidden_chain",
        "name": "forbidden_chain",
        "type_id": 1,
        "type": "Rule",
        "category": "forbidden_chains.exfiltration",
        "desc": "read_secret -> egress within 5 calls",
    }
    assert fi["related_events"] == [{"uid": "ev-1"}, {"uid": "ev-2"}]


def test_ocsf_actor_resources_observables() -> None:
    o = to_ocsf(alert())
    # the agent is a user of OCSF type Other (99): the type name a SIEM shows and filters on
    assert o["actor"]["user"] == {
        "uid": "spiffe://corp/agents/patcher-1",
        "name": "spiffe://corp/agents/patcher-1",
        "type_id": 99,
        "type": "Other",
        "account": {"type": "autonomous", "type_id": 99},
    }
    assert o["actor"]["session"] == {"uid": "sess-3"}
    assert o["resources"] == [
        {"type": "mcp.credential", "uid": "cred-9"},
        {"type": "mcp.task", "uid": "task-7"},
        {"type": "mcp.session", "uid": "sess-3"},
    ]
    obs = {(x["name"], x["type_id"], x["value"]) for x in o["observables"]}
    assert obs == {
        ("actor.user.uid", 4, "spiffe://corp/agents/patcher-1"),
        ("resources.uid", 10, "cred-9"),
        ("resources.uid", 10, "task-7"),
        ("resources.uid", 10, "sess-3"),
        ("evidences.user.uid", 4, "alice@corp"),
    }


def test_ocsf_evidence_names_the_agent_the_events_the_details_and_the_sponsor() -> None:
    """The one evidence record, key for key: SIEM rules pivot on ``data.event_ids``."""
    assert to_ocsf(alert())["evidences"] == [
        {
            "actor": {
                "user": {
                    "uid": "spiffe://corp/agents/patcher-1",
                    "name": "spiffe://corp/agents/patcher-1",
                }
            },
            "data": {"event_ids": ["ev-1", "ev-2"], "details": {"calls": 3}},
            "user": {"uid": "alice@corp", "name": "alice@corp"},
        }
    ]


def test_ocsf_unmapped_keeps_everything_else() -> None:
    u = to_ocsf(alert())["unmapped"]
    # exactly these keys: rules match the task and the charter clause by these names
    assert set(u) == {
        "mode",
        "score",
        "sponsor",
        "task_id",
        "evidence",
        "charter",
        "charter_key",
        "charter_text",
        "mission",
        "frameworks",
        "details",
    }
    assert u["task_id"] == "task-7"
    assert u["charter_key"] == "forbidden_chains.exfiltration"
    assert u["charter_text"] == "read_secret -> egress within 5 calls"
    assert u["mode"] == "enforce" and u["score"] == 0.9 and u["sponsor"] == "alice@corp"
    assert u["evidence"] == ["ev-1", "ev-2"]
    assert u["charter"] == "spiffe://corp/agents/patcher-*"
    assert u["mission"] == "apply approved OS patches"
    assert u["frameworks"]["owasp_agentic"][1] == {
        "id": "ASI02",
        "name": "Tool Misuse and Exploitation",
    }
    assert u["frameworks"]["maestro"] == [{"id": "L3", "name": "Agent Frameworks"}]
    assert u["frameworks"]["nist_ai_rmf"] == ["MEASURE", "MANAGE"]
    assert u["details"] == {"calls": 3}


def test_ocsf_optional_fields_absent() -> None:
    a = alert(task_id=None, sponsor=None, session_id=None, credential_id=None, agent_kind=None)
    o = to_ocsf(a)
    assert o["resources"] == []
    assert "session" not in o["actor"] and "account" not in o["actor"]["user"]
    assert [x["name"] for x in o["observables"]] == ["actor.user.uid"]
    orjson.dumps(o)  # JSON-serialisable


# ------------------------------------------------------------------ CEF
def _parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """Split on unescaped pipes (7 header fields), then extension on unescaped ``=``."""
    parts = re.split(r"(?<!\\)\|", line, maxsplit=7)
    header = [p.replace("\\|", "|").replace("\\\\", "\\") for p in parts[:7]]
    ext = parts[7]
    keys = list(re.finditer(r"(?:^| )([A-Za-z0-9]+)=", ext))
    out: dict[str, str] = {}
    for i, m in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(ext)
        raw = ext[m.end() : end]
        out[m.group(1)] = (
            raw.replace("\\n", "\n").replace("\\r", "\r").replace("\\=", "=").replace("\\\\", "\\")
        )
    return header, out


def test_cef_header() -> None:
    header, _ = _parse_cef(to_cef(alert()))
    assert header == [
        "CEF:0",
        "mcp-monitor",
        "mcp-monitor",
        __version__,
        "forbidden_chain",
        "Forbidden chain",
        "8",
    ]


@pytest.mark.parametrize(
    ("sev", "n"), [("info", 1), ("low", 3), ("medium", 5), ("high", 8), ("critical", 10)]
)
def test_cef_severity_0_to_10(sev: str, n: int) -> None:
    header, _ = _parse_cef(to_cef(alert(severity=sev)))
    assert header[6] == str(n)
    assert 0 <= CEF_SEVERITY[sev] <= 10


def test_cef_extension_fields() -> None:
    _, ext = _parse_cef(to_cef(alert()))
    assert ext == {
        "rt": str(T0_MS),
        "externalId": "a1b2c3",
        "cat": "forbidden_chain",
        "act": "enforce",
        "suser": "spiffe://corp/agents/patcher-1",
        "msg": "read_secret then egress within 3 calls",
        "cfp1Label": "score",
        "cfp1": "0.9",
        "cs1Label": "owaspAgentic",
        "cs1": "ASI01 Agent Goal Hijack; ASI02 Tool Misuse and Exploitation",
        "cs2Label": "maestro",
        "cs2": "L3 Agent Frameworks",
        "cs3Label": "nistAiRmf",
        "cs3": "MEASURE,MANAGE",
        "cs4Label": "evidence",
        "cs4": "ev-1,ev-2",
        "cs5Label": "charterClause",
        "cs5": "forbidden_chains.exfiltration: read_secret -> egress within 5 calls",
        "cs6Label": "credential",
        "cs6": "cred-9",
        "flexString1Label": "task",
        "flexString1": "task-7",
        "flexString2Label": "session",
        "flexString2": "sess-3",
        "duser": "alice@corp",
    }


def test_cef_optional_and_empty_fields_left_out() -> None:
    a = alert(task_id=None, sponsor=None, session_id=None, credential_id=None, evidence=[])
    keys = [k for k, _ in cef_extension(a)]
    for k in ("cs4", "cs6", "cs6Label", "flexString1", "flexString2", "duser"):
        assert k not in keys
    assert "cs4Label" in keys  # a label without value is harmless; the value is what matters


def test_cef_escaping_rules() -> None:
    assert cef_header_escape("a|b\\c\nd\r\ne") == "a\\|b\\\\c d e"
    assert cef_header_escape("a\rb") == "a b"  # a lone CR too: some parsers end the record there
    assert cef_ext_escape("a=b\\c|d\ne\rf") == "a\\=b\\\\c|d\\ne\\rf"


def test_cef_hostile_values_round_trip_and_stay_one_line() -> None:
    nasty = "x|y=z\\w\nnext line\r\nend cs1=fake"
    a = alert(reason=nasty, detector="weird|det\\x", agent_id="ag=1|2")
    line = to_cef(a)
    assert "\n" not in line and "\r" not in line
    header, ext = _parse_cef(line)
    assert header[4] == "weird|det\\x"
    assert len(header) == 7
    assert ext["msg"] == nasty.replace("\r\n", "\n")  # \r\n -> \n escape
    assert ext["suser"] == "ag=1|2"
    assert ext["cs1"].startswith("ASI01")  # the injected "cs1=fake" did not become a key


# ------------------------------------------------------------------ syslog
def test_syslog_rfc5424_header() -> None:
    line = syslog_line(alert(), "CEF:0|x", hostname="mon-1")
    assert line == b"<83>1 2026-03-01T12:00:00.250Z mon-1 mcpmon - forbidden_chain - CEF:0|x"


@pytest.mark.parametrize("sev", SEVERITIES)
def test_syslog_pri_from_facility_and_severity(sev: str) -> None:
    line = syslog_line(alert(severity=sev), "m", hostname="h", facility=4)
    assert line.startswith(f"<{4 * 8 + SYSLOG_SEVERITY[sev]}>1 ".encode())


def test_syslog_timestamp_is_utc_and_fields_sanitised() -> None:
    ts = datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    line = syslog_line(alert(ts=ts, detector="has space"), "m", hostname="", app_name="a b")
    assert line == b"<83>1 2026-03-01T12:00:00.000Z - a_b - has_space - m"


def test_syslog_timestamp_is_utc_whatever_the_hosts_timezone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A monitor on a host in local time still stamps its records in UTC (``Z``): SIEMs
    correlate on this time, and an offset would also break RFC 5424 parsers that expect Z."""
    monkeypatch.setenv("TZ", "IST-5:30")  # POSIX rule: no tz database needed
    time.tzset()
    try:
        line = syslog_line(alert(), "m", hostname="h")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert line == b"<83>1 2026-03-01T12:00:00.250Z h mcpmon - forbidden_chain - m"


def test_syslog_header_fields_are_printable_ascii_from_bang_to_tilde() -> None:
    """RFC 5424 PRINTUSASCII is %d33-126: ``!`` and ``~`` are kept, space and DEL are not."""
    line = syslog_line(alert(detector="~det!"), "m", hostname="!h~", app_name="a\x7fb c")
    assert line == b"<83>1 2026-03-01T12:00:00.250Z !h~ a_b_c - ~det! - m"


def test_syslog_header_fields_are_cut_at_the_rfc5424_lengths() -> None:
    """HOSTNAME 255, APP-NAME 48, MSGID 32 characters (RFC 5424 §6): a longer field makes
    strict receivers drop the whole record."""
    host, app, det = "h" * 300, "a" * 60, "d" * 40
    line = syslog_line(alert(detector=det), "m", hostname=host, app_name=app)
    head = line.split(b" ")
    assert head[2:6] == [b"h" * 255, b"a" * 48, b"-", b"d" * 32]
    exact = syslog_line(alert(detector="d" * 32), "m", hostname="h" * 255, app_name="a" * 48)
    assert exact.split(b" ")[2:6] == [b"h" * 255, b"a" * 48, b"-", b"d" * 32]


def test_octet_counting() -> None:
    frame = "é".encode()
    assert octet_counted(frame) == b"2 \xc3\xa9"
    assert octet_counted(b"abc") == b"3 abc"


# ------------------------------------------------------------------ HEC
def test_hec_body() -> None:
    a = alert()
    b = to_hec(a, host="mon-1")
    assert set(b) == {"time", "host", "source", "sourcetype", "event", "fields"}
    assert b["time"] == T0_MS / 1000
    assert b["host"] == "mon-1"
    assert b["source"] == "mcpmon"
    assert b["sourcetype"] == "mcpmon:alert"
    assert b["event"] == orjson.loads(a.to_json())
    assert b["event"]["evidence"] == ["ev-1", "ev-2"]
    assert b["fields"] == {
        "alert_id": "a1b2c3",
        "detector": "forbidden_chain",
        "severity": "high",
        "agent_id": "spiffe://corp/agents/patcher-1",
        "mode": "enforce",
        "owasp_agentic": ["ASI01", "ASI02"],
        "maestro": ["L3"],
        "nist_ai_rmf": ["MEASURE", "MANAGE"],
    }


def test_hec_time_is_epoch_seconds_to_the_millisecond() -> None:
    """HEC ``time`` keeps milliseconds, the precision of every other format (OCSF ``time``,
    CEF ``rt``): the same alert gets the same time in every SIEM."""
    b = to_hec(alert(ts=T0 + timedelta(microseconds=123)), host="h")
    assert b["time"] == T0_MS / 1000


def test_hec_index_and_overrides() -> None:
    b = to_hec(alert(), host="h", source="s", sourcetype="st", index="sec")
    assert (b["source"], b["sourcetype"], b["index"]) == ("s", "st", "sec")


def test_mappings_cover_every_severity() -> None:
    for table in (OCSF_SEVERITY, CEF_SEVERITY, SYSLOG_SEVERITY):
        assert set(table) == set(SEVERITIES)
