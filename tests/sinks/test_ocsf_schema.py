"""Every OCSF finding the sink writes is valid against the published OCSF 1.3 schema.

The schema is compiled from the OCSF sources (scripts/ocsf_compile.py; committed
under tests/sinks/ocsf/ with its licence). The validator is tested too: it must
reject each kind of departure a SIEM parser would trip on.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.charter import load_charter_dir
from monitor.core import Engine
from monitor.core.detectors import REGISTRY
from monitor.output_contracts import Alert
from monitor.replay import replay_file
from monitor.sinks.formats import to_ocsf
from tests.sinks.ocsf_schema import attribute_path_exists, validate
from tests.sinks.support import alert

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("detector", sorted(REGISTRY))
def test_every_detector_severity_mode_and_optional_field_gives_a_valid_finding(
    detector: str,
) -> None:
    optional = ("task_id", "session_id", "credential_id", "sponsor", "agent_kind")
    for severity, mode, mask in itertools.product(
        ("info", "low", "medium", "high", "critical"),
        ("observe", "enforce"),
        range(1 << len(optional)),
    ):
        kw: dict[str, Any] = {
            k: (None if not (mask >> i) & 1 else ("delegated" if k == "agent_kind" else f"{k}-1"))
            for i, k in enumerate(optional)
        }
        a = alert(detector=detector, severity=severity, mode=mode, **kw)
        assert validate(to_ocsf(a)) == [], (detector, severity, mode, kw)


def test_the_demo_replays_alerts_are_all_valid_findings(tmp_path: Path) -> None:
    ex = ROOT / "examples"
    replay_file(str(ex / "events.jsonl"), Engine(load_charter_dir(ex / "charters")), tmp_path)
    alerts = [
        Alert.model_validate_json(x) for x in (tmp_path / "alerts.jsonl").read_bytes().splitlines()
    ]
    assert len(alerts) == 10
    for a in alerts:
        assert validate(to_ocsf(a)) == [], a.detector


def test_analytic_type_action_and_disposition_say_how_it_was_found_and_what_was_done() -> None:
    rule = to_ocsf(alert(detector="forbidden_chain", severity="high", mode="enforce"))
    learned = to_ocsf(alert(detector="behaviour_anomaly", severity="medium", mode="enforce"))
    watched = to_ocsf(alert(detector="forbidden_chain", severity="critical", mode="observe"))
    assert rule["finding_info"]["analytic"]["type_id"] == 1
    assert learned["finding_info"]["analytic"]["type_id"] == 3
    assert (rule["action_id"], rule["disposition_id"]) == (2, 24)  # Denied / Access Revoked
    assert (learned["action_id"], learned["disposition_id"]) == (1, 15)  # below revoke level
    assert (watched["action_id"], watched["disposition_id"]) == (1, 15)  # shadow mode
    stricter = to_ocsf(alert(severity="high", mode="enforce"), revoke_min_severity="critical")
    assert stricter["action_id"] == 1
    assert rule["metadata"]["profiles"] == ["host", "security_control"]
    assert (rule["confidence_id"], to_ocsf(alert(score=0.6))["confidence_id"]) == (3, 2)


@pytest.mark.parametrize(
    ("detector", "type_id", "name"),
    [
        ("forbidden_chain", 1, "Rule"),
        ("shell_egress", 2, "Behavioral"),
        ("behaviour_anomaly", 3, "Statistical"),
        ("not_a_registered_detector", 1, "Rule"),  # an alert from a newer or removed detector
    ],
)
def test_the_analytic_type_follows_the_detector_and_an_unknown_one_is_a_rule(
    detector: str, type_id: int, name: str
) -> None:
    f = to_ocsf(alert(detector=detector))
    analytic = f["finding_info"]["analytic"]
    assert (analytic["type_id"], analytic["type"]) == (type_id, name)
    assert validate(f) == []


def test_a_detector_of_an_analytic_kind_ocsf_has_no_id_for_is_reported_as_a_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``Detector.analytic`` is a free string: a detector declaring a kind the OCSF table does
    not know (a plugin, a typo) still gives a valid finding, typed Rule, not a crash."""

    class Heuristic:
        analytic = "heuristic"

    monkeypatch.setitem(REGISTRY, "plugin_heuristic", Heuristic)
    f = to_ocsf(alert(detector="plugin_heuristic"))
    analytic = f["finding_info"]["analytic"]
    assert (analytic["type_id"], analytic["type"]) == (1, "Rule")
    assert validate(f) == []


def test_sponsor_is_an_observable_at_a_real_attribute_path() -> None:
    f = to_ocsf(alert(sponsor="alice@corp.example"))
    names = {o["name"]: o["value"] for o in f["observables"]}
    assert names["evidences.user.uid"] == "alice@corp.example"
    assert all(attribute_path_exists(n) for n in names)


def _finding() -> dict[str, Any]:
    return orjson.loads(orjson.dumps(to_ocsf(alert(session_id="s1", sponsor="bob"))))


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda f: f.__setitem__("class_uid", 2001), "class_uid: 2001 is not one of [2004]"),
        (lambda f: f.pop("finding_info"), "finding_info: required and missing"),
        (lambda f: f.__setitem__("severity_id", 7), "severity_id: 7 is not one of"),
        (lambda f: f.__setitem__("time", "2026-01-01"), "time: expected timestamp_t"),
        (lambda f: f.__setitem__("verdict", "bad"), "verdict: not an attribute"),
        (lambda f: f["finding_info"]["analytic"].pop("type_id"), "analytic.type_id: required"),
        (
            lambda f: f["metadata"].__setitem__("profiles", ["security_control"]),
            "actor: needs the 'host' profile",
        ),
        (
            lambda f: f["observables"][0].__setitem__("name", "unmapped.sponsor"),
            "'unmapped.sponsor' is not an attribute path",
        ),
        (
            lambda f: f["observables"][0].__setitem__("name", "resources.credential.uid"),
            "'resources.credential.uid' is not an attribute path",
        ),
        (lambda f: f["actor"]["user"].__setitem__("uid", 7), "actor.user.uid: expected string_t"),
        (lambda f: f.__setitem__("resources", {"uid": "x"}), "resources: expected an array"),
        (
            lambda f: f["metadata"].__setitem__("profiles", ["host", "security_control", "cloud"]),
            "cloud: required and missing",
        ),
    ],
)
def test_the_validator_rejects_what_a_siem_parser_would_trip_on(
    break_it: Any, message: str
) -> None:
    f = _finding()
    assert validate(f) == []
    break_it(f)
    errors = validate(f)
    assert any(message in e for e in errors), errors


def test_the_file_sink_says_denied_only_from_the_deployments_revoke_level(tmp_path: Path) -> None:
    import asyncio

    from monitor.settings import load_settings
    from monitor.sinks.service import build_transport

    out = tmp_path / "f.jsonl"
    env = {"MCPMON_SINK_FILE": str(out), "MCPMON_REVOKE_MIN_SEVERITY": "critical"}
    t = build_transport(load_settings(env=env))
    asyncio.run(t.send(alert(severity="high", mode="enforce")))
    asyncio.run(t.send(alert(severity="critical", mode="enforce")))
    got = [orjson.loads(x)["action_id"] for x in out.read_bytes().splitlines()]
    assert got == [1, 2]
