"""``mcpmon explain``: an alert joined with its evidence, clause and revocation; redacted, escaped."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from monitor.charter import load_charter_dir
from monitor.cli import main
from monitor.core import Engine
from monitor.core.redact import DEFAULT_REDACTOR
from monitor.errors import MonitorError
from monitor.explain import explain, render
from monitor.replay import replay_file

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("replay")
    replay_file(str(EXAMPLES / "events.jsonl"), Engine(load_charter_dir(EXAMPLES / "charters")), d)
    return d


def _alert(out: Path, detector: str) -> dict[str, object]:
    alerts = [orjson.loads(x) for x in (out / "alerts.jsonl").read_bytes().splitlines()]
    return next(a for a in alerts if a["detector"] == detector)


def test_a_chain_alert_comes_with_both_events_and_the_revocation_that_cites_it(out: Path) -> None:
    a = _alert(out, "forbidden_chain")
    x = explain(
        str(a["alert_id"])[:8],
        str(out / "alerts.jsonl"),
        str(EXAMPLES / "events.jsonl"),
        DEFAULT_REDACTOR,
    )
    assert [e["event_id"] for e in x.evidence] == a["evidence"] and not x.missing
    assert [r["alert_ids"] for r in x.revocations] == [[a["alert_id"]]]
    text = render(x)
    assert "forbidden_chains.exfiltration" in text and "mission" in text
    assert f"revocation {x.revocations[0]['command_id']}" in text


def test_evidence_missing_from_the_events_file_is_named_not_skipped(
    out: Path, tmp_path: Path
) -> None:
    a = _alert(out, "forbidden_chain")
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    x = explain(str(a["alert_id"]), str(out / "alerts.jsonl"), str(empty), DEFAULT_REDACTOR)
    assert x.evidence == [] and x.missing == a["evidence"]
    assert "(not in the events file)" in render(x)


def test_unknown_short_and_ambiguous_ids_are_errors(out: Path, tmp_path: Path) -> None:
    alerts = str(out / "alerts.jsonl")
    with pytest.raises(MonitorError, match="no alert"):
        explain("ffffffffff", alerts, None, DEFAULT_REDACTOR)
    with pytest.raises(MonitorError, match="at least 6"):
        explain("abc", alerts, None, DEFAULT_REDACTOR)
    twins = tmp_path / "alerts.jsonl"
    one = orjson.loads((out / "alerts.jsonl").read_bytes().splitlines()[0])
    other = {**one, "alert_id": one["alert_id"][:8] + "0" * 24}
    twins.write_bytes(
        orjson.dumps({**one, "alert_id": one["alert_id"][:8] + "1" * 24})
        + b"\n"
        + orjson.dumps(other)
        + b"\n"
    )
    with pytest.raises(MonitorError, match="ambiguous"):
        explain(one["alert_id"][:8], str(twins), None, DEFAULT_REDACTOR)


def test_secrets_in_evidence_are_redacted_and_control_bytes_escaped(
    out: Path, tmp_path: Path
) -> None:
    a = _alert(out, "forbidden_chain")
    token = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
    events = []
    for line in (EXAMPLES / "events.jsonl").read_bytes().splitlines():
        try:
            ev = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if ev.get("event_id") == a["evidence"][-1]:
            ev["args"] = {"body": f"token {token}", "password": "hunter2", "note": "\x1b[2Jhi"}
        events.append(orjson.dumps(ev))
    f = tmp_path / "events.jsonl"
    f.write_bytes(b"\n".join(events) + b"\n")
    x = explain(str(a["alert_id"]), str(out / "alerts.jsonl"), str(f), DEFAULT_REDACTOR)
    text = render(x)
    assert token not in text and "hunter2" not in text and "\x1b" not in text
    assert token not in orjson.dumps(x.to_dict()).decode()


def test_the_cli_prints_json(out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _alert(out, "lingering_access")
    argv = [
        "explain",
        str(a["alert_id"]),
        "--alerts",
        str(out / "alerts.jsonl"),
        "--events",
        str(EXAMPLES / "events.jsonl"),
        "--json",
    ]
    assert main(argv) == 0
    got = orjson.loads(capsys.readouterr().out)
    assert got["alert"]["alert_id"] == a["alert_id"]
    assert [e["event_id"] for e in got["evidence"]] == a["evidence"]


def test_a_behaviour_alert_shows_its_baseline_features_explained_strongest_first(
    out: Path, tmp_path: Path
) -> None:
    base = _alert(out, "forbidden_chain")
    details = {"raw_score": 7.412, "p_value": 0.00031, "calls_learned": 412,
               "top_features": "rate,destination", "tool": "http_post",
               "contribution.rate": 1.2, "contribution.destination": 4.75}  # fmt: skip
    behaviour = {**base, "detector": "behaviour_anomaly", "details": details,
                 "alert_id": "b" * 32, "reason": "unlike its own baseline"}  # fmt: skip
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_bytes(orjson.dumps(behaviour) + b"\n")
    x = explain("bbbbbbbb", str(alerts), None, DEFAULT_REDACTOR)
    assert [(f["name"], f["contribution"]) for f in x.baseline] == [
        ("destination", 4.75),
        ("rate", 1.2),
    ]
    assert "rarely or never sent to" in x.baseline[0]["meaning"]
    assert x.to_dict()["baseline_features"] == x.baseline
    text = render(x)
    assert "baseline   what drove the score (p ≈ 0.00031, after 412 calls learned" in text
    lines = text.splitlines()
    at = lines.index(next(ln for ln in lines if ln.startswith("baseline")))
    assert lines[at + 1].split()[:2] == ["destination", "+4.750"]
    assert lines[at + 2].split()[:2] == ["rate", "+1.200"]
    # any other alert: no baseline section
    plain = explain(str(base["alert_id"]), str(out / "alerts.jsonl"), None, DEFAULT_REDACTOR)
    assert plain.baseline == [] and "baseline_features" not in plain.to_dict()
    assert "\nbaseline " not in render(plain)


def test_explain_from_kafka_names_an_unreachable_broker_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "abcdef12", "--kafka", "127.0.0.1:1", "--timeout", "5"]) == 1
    assert "Kafka at 127.0.0.1:1 cannot be reached" in capsys.readouterr().err
