"""``mcpmon tap`` into the real broker: every line of the log accounted for.

Each test taps a file into its own topics (the ``run`` fixture) through the
CLI entry point, reads both topics back, and checks every line: requests
became events keyed by ``agent_id`` with the right outcome, bad lines became
dead letters with their line number and raw text, skipped lines are counted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from monitor.cli import main
from monitor.kafka_io import read_topics
from tests.integration.workers import Run
from tests.tap.support import ROOT, WRAPPED_MAPPING, wrapped_traffic


def _tap_env(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in run.env().items():
        if k.startswith("MCPMON_"):
            monkeypatch.setenv(k, v)


def test_jsonrpc_log_into_kafka_every_line_accounted_for(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    traffic = wrapped_traffic(600)
    src = tmp_path / "gw.jsonl"
    src.write_bytes(b"".join(x + b"\n" for x in traffic.lines))
    (tmp_path / "map.yaml").write_text(WRAPPED_MAPPING)
    _tap_env(run, monkeypatch)

    argv = ["tap", str(src), "--format", "jsonrpc", "--mapping", str(tmp_path / "map.yaml")]
    assert main([*argv, "--json", "--batch", "100"]) == 0
    summary = orjson.loads(capsys.readouterr().out)

    want = len(traffic.requests) + len(traffic.dead)
    recs = asyncio.run(
        read_topics(
            run.bootstrap,
            [run.topics["events"], run.topics["deadletter"]],
            until=lambda r: len(r) >= want,
            timeout=30,
            settle=0.5,
        )
    )
    events = [r for r in recs if r.topic == run.topics["events"]]
    dead = [orjson.loads(r.value) for r in recs if r.topic == run.topics["deadletter"]]

    got = {}
    for r in events:
        e = orjson.loads(r.value)
        assert r.key == e["agent_id"].encode()  # keyed by agent: per-agent order kept
        got[e["args"]["line"]] = (e["agent_id"], e["outcome"])
    assert got == traffic.requests
    assert len(events) == len(traffic.requests)  # one run, no restart: no duplicates
    assert {d["line"] for d in dead} == traffic.dead and len(dead) == len(traffic.dead)
    for d in dead:
        assert d["raw"].encode() == traffic.lines[d["line"] - 1] and d["reason"]
    assert sum(summary["skipped"].values()) == len(traffic.skipped)
    # every line: a request (its response folded in), a dead letter, or skipped
    responses = len(traffic.requests) - 1  # the last request was never answered
    assert (
        len(traffic.requests) + responses + len(traffic.dead) + len(traffic.skipped)
        == len(traffic.lines)
        == summary["lines"]
    )
    assert summary["delivered"] == {"events": len(events), "deadletters": len(dead)}
    ck = orjson.loads((tmp_path / ".gw.jsonl.mcpmon-tap.json").read_bytes())
    assert ck["offset"] == src.stat().st_size and ck["target"].endswith(run.topics["events"])

    # a second run resumes at the end: nothing new, nothing produced again
    assert main([*argv, "--json"]) == 0
    again = orjson.loads(capsys.readouterr().out)
    assert again["lines"] == 0 and again["resumed_at_line"] == len(traffic.lines) + 1


def test_our_own_events_pass_through_unchanged(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [x for x in (ROOT / "examples" / "events.jsonl").read_bytes().splitlines() if x.strip()]
    _tap_env(run, monkeypatch)
    ck = tmp_path / "ck.json"
    src = ROOT / "examples" / "events.jsonl"
    assert main(["tap", str(src), "--checkpoint", str(ck), "--json"]) == 0
    summary = orjson.loads(capsys.readouterr().out)
    recs = asyncio.run(
        read_topics(
            run.bootstrap,
            [run.topics["events"], run.topics["deadletter"]],
            until=lambda r: len(r) >= len(lines),
            timeout=30,
            settle=0.5,
        )
    )
    values = sorted(r.value for r in recs if r.topic == run.topics["events"])
    dead = [orjson.loads(r.value) for r in recs if r.topic == run.topics["deadletter"]]
    assert len(dead) == summary["deadletters"] == 2
    assert values == sorted(
        x.strip() for x in lines if x.strip() not in {d["raw"].encode().strip() for d in dead}
    )
    for r in recs:
        if r.topic == run.topics["events"]:
            assert r.key == orjson.loads(r.value)["agent_id"].encode()
