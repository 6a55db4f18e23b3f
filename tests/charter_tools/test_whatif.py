"""replay --compare-charters: which alerts and revocations a charter change adds or removes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from monitor import testing as tb
from monitor.charters_from_traffic.whatif import alert_key, compare
from monitor.cli import main
from monitor.events import encode_event
from monitor.simulate import write_charters

GRANTS = [
    {"server": "fs", "tool": "read_file", "classes": ["read"]},
    {"server": "web", "tool": "http_post", "classes": ["egress"]},
]


def _events(path: Path) -> None:
    evs = [
        tb.call(0, "bot-1", "fs", "read_file", event_id="e1"),
        tb.call(10, "bot-1", "web", "http_post", event_id="e2", credential_id="c1"),
        tb.call(20, "bot-1", "fs", "read_file", event_id="e3"),
    ]
    path.write_bytes(b"".join(encode_event(e) + b"\n" for e in evs))


def test_a_removed_grant_makes_alerts_and_revocations_appear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "past.jsonl"
    _events(events)
    current, proposed = tmp_path / "current", tmp_path / "proposed"
    write_charters([tb.charter("bot-*", tools=GRANTS)], current)
    write_charters([tb.charter("bot-*", tools=GRANTS[:1])], proposed)  # no more http_post
    out = tmp_path / "whatif"
    argv = ["replay", str(events), "--charters", str(proposed), "--out", str(out)]
    assert main([*argv, "--compare-charters", str(current)]) == 0
    printed = capsys.readouterr().out
    assert "what-if: alerts +1 -0 (=0), revocations +1 -0 (=0)" in printed
    doc = orjson.loads((out / "whatif.json").read_bytes())
    assert doc["alerts"]["appeared_by_detector"] == {"out_of_charter_tool": 1}
    (alert,) = doc["appeared_alerts"]
    assert alert["evidence"] == ["e2"] and alert["agent_id"] == "bot-1"
    assert doc["appeared_revocations"][0]["credential_ids"] == ["c1"]
    md = (out / "whatif.md").read_text()
    assert "### Alerts that appear (1)" in md and "web/http_post" in md
    # the other way round, the same alert disappears
    argv = ["replay", str(events), "--charters", str(current), "--out", str(tmp_path / "back")]
    assert main([*argv, "--compare-charters", str(proposed)]) == 0
    assert "what-if: alerts +0 -1 (=0), revocations +0 -1 (=0)" in capsys.readouterr().out


def test_same_charters_change_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "past.jsonl"
    _events(events)
    only_read = tmp_path / "c"
    write_charters([tb.charter("bot-*", tools=GRANTS[:1])], only_read)
    argv = ["replay", str(events), "--charters", str(only_read), "--out", str(tmp_path / "o")]
    assert main([*argv, "--compare-charters", str(only_read)]) == 0
    assert "what-if: alerts +0 -0 (=1), revocations +0 -0 (=1)" in capsys.readouterr().out


def test_outputs_are_matched_by_content_not_ids() -> None:
    a = {"detector": "d", "agent_id": "x", "evidence": ["e2", "e1"], "alert_id": "one"}
    b = {**a, "alert_id": "two", "evidence": ["e1", "e2"]}
    assert alert_key(a) == alert_key(b)
    w = compare([a, a], [], [b], [])
    assert (len(w.appeared_alerts), len(w.disappeared_alerts), w.unchanged_alerts) == (0, 1, 1)


def test_stdin_cannot_be_compared(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = tmp_path / "c"
    write_charters([tb.charter("bot-*")], c)
    argv = ["replay", "-", "--charters", str(c), "--out", str(tmp_path / "o")]
    assert main([*argv, "--compare-charters", str(c)]) == 1
    assert "give a file, not -" in capsys.readouterr().err
