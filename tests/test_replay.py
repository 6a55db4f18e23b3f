from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from monitor.charter import load_charter_dir
from monitor.core import Engine
from monitor.replay import replay_file, replay_lines

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _engine() -> Engine:
    return Engine(load_charter_dir(EXAMPLES / "charters"))


def _read(p: Path) -> list[dict]:
    return [orjson.loads(line) for line in p.read_bytes().splitlines()]


def test_example_fires_every_rule_detector(tmp_path: Path) -> None:
    s = replay_file(str(EXAMPLES / "events.jsonl"), _engine(), tmp_path)
    alerts = _read(tmp_path / "alerts.jsonl")
    assert {a["detector"] for a in alerts} == {
        "out_of_charter_tool",
        "forbidden_chain",
        "lingering_access",
        "absent_sponsor",
        "rate_limit",
    }
    revs = _read(tmp_path / "revocations.jsonl")
    assert {r["scope"] for r in revs} >= {"credential", "task"}
    assert s.bad_lines == 2 and s.duplicates == 1
    assert sum(s.alerts.values()) == len(alerts) and sum(s.revocations.values()) == len(revs)


def test_malformed_lines_go_to_deadletter_and_the_rest_is_processed(tmp_path: Path) -> None:
    good = (EXAMPLES / "events.jsonl").read_bytes().splitlines()
    good = [g for g in good if b"ex-bad" not in g]
    bad = [
        b"{not json",
        b'{"type": "tool_call"}',
        b'{"type": "no_such_type", "event_id": "x", "ts": "2026-03-02T09:00:00Z", "agent_id": "a"}',
        b'{"type": "tool_call", "event_id": "x", "ts": "2026-03-02T09:00:00Z", "agent_id": "a",'
        b' "server": "s", "tool": "t", "bytes_out": "lots"}',
        b"\xff\xfe not utf-8",
        b"[]",
    ]
    lines = good[:10] + bad + good[10:]
    out = {n: io.BytesIO() for n in ("a", "r", "d")}
    s = replay_lines(lines, _engine(), out["a"], out["r"], out["d"])
    dead = [orjson.loads(x) for x in out["d"].getvalue().splitlines()]
    assert s.bad_lines == len(bad) == len(dead)
    assert [d["line"] for d in dead] == list(range(11, 11 + len(bad)))
    assert dead[3]["field"] == "bytes_out" and "bytes_out" in dead[3]["reason"]
    assert "raw_base64" in dead[4]  # never lost, even when not text
    assert all(d["reason"] for d in dead)
    # everything valid was processed exactly as without the bad lines
    clean = {n: io.BytesIO() for n in ("a", "r", "d")}
    replay_lines(good, _engine(), clean["a"], clean["r"], clean["d"])
    assert out["a"].getvalue() == clean["a"].getvalue()
    assert out["r"].getvalue() == clean["r"].getvalue()


def test_engine_errors_are_dead_lettered_not_fatal(tmp_path: Path) -> None:
    class Exploding(Engine):
        def process(self, event):  # type: ignore[no-untyped-def]
            if event.event_id == "ex-0003":
                raise RuntimeError("boom")
            return super().process(event)

    eng = Exploding(load_charter_dir(EXAMPLES / "charters"))
    out = {n: io.BytesIO() for n in ("a", "r", "d")}
    s = replay_lines(
        (EXAMPLES / "events.jsonl").read_bytes().splitlines(), eng, out["a"], out["r"], out["d"]
    )
    dead = [orjson.loads(x) for x in out["d"].getvalue().splitlines()]
    assert any(d["reason"] == "engine error: RuntimeError: boom" for d in dead)
    assert s.events > 50


def test_replay_is_deterministic(tmp_path: Path) -> None:
    replay_file(str(EXAMPLES / "events.jsonl"), _engine(), tmp_path / "1")
    replay_file(str(EXAMPLES / "events.jsonl"), _engine(), tmp_path / "2")
    for name in ("alerts.jsonl", "revocations.jsonl", "deadletter.jsonl"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()


def test_a_20_mb_line_is_read_in_chunks_and_dead_lettered_small(tmp_path: Path) -> None:
    """One huge line (issue 13: a 100 MB one took 1.4 GB and left a 600 MB dead letter)."""
    import hashlib
    import tracemalloc

    from monitor.deadletter import HEAD_BYTES, MAX_RECORD_BYTES
    from monitor.events import MAX_MESSAGE_BYTES

    good = [g for g in (EXAMPLES / "events.jsonl").read_bytes().splitlines() if b"ex-bad" not in g]
    huge = b'{"type": "tool_call", "args": {"blob": "' + b"\x01\x02ab" * (5 << 20) + b'"}}'
    src = tmp_path / "events.jsonl"
    with src.open("wb") as f:
        f.write(b"\n".join(good[:10]) + b"\n")
        f.write(huge + b"\n")
        f.write(b"\n".join(good[10:]) + b"\n")
    tracemalloc.start()
    try:
        s = replay_file(str(src), _engine(), tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_MESSAGE_BYTES + (1 << 20), peak  # the line is 20 MB; never held whole
    dead_file = tmp_path / "out" / "deadletter.jsonl"
    assert dead_file.stat().st_size <= MAX_RECORD_BYTES
    (dead,) = _read(dead_file)
    assert dead["line"] == 11 and dead["reason"].startswith(f"message of {len(huge)} bytes")
    assert dead["length"] == len(huge) and dead["truncated"]
    assert dead["sha256"] == hashlib.sha256(huge).hexdigest()
    assert huge.startswith(dead["raw"].encode()) and len(dead["raw"]) == HEAD_BYTES
    assert s.bad_lines == 1 and sum(s.deadletter_reasons.values()) == 1
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"\n".join(good) + b"\n")
    replay_file(str(clean), _engine(), tmp_path / "clean")
    for name in ("alerts.jsonl", "revocations.jsonl"):  # the valid lines around it: all processed
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "clean" / name).read_bytes()


def test_gzip_input_is_read_by_content_and_gives_the_same_outputs(tmp_path: Path) -> None:
    import gzip

    plain = (EXAMPLES / "events.jsonl").read_bytes()
    packed = tmp_path / "events.jsonl.gz"
    packed.write_bytes(gzip.compress(plain))
    disguised = tmp_path / "events.jsonl"  # gzip under a plain name: decided by the magic bytes
    disguised.write_bytes(gzip.compress(plain))
    charters = load_charter_dir(EXAMPLES / "charters")
    outs = []
    for i, src in enumerate((EXAMPLES / "events.jsonl", packed, disguised)):
        summary = replay_file(str(src), Engine(charters), tmp_path / f"o{i}")
        assert summary.bad_lines == 2
        outs.append((tmp_path / f"o{i}" / "alerts.jsonl").read_bytes())
    assert outs[0] and outs[0] == outs[1] == outs[2]


def test_a_broken_gzip_stream_is_an_error_naming_the_file(tmp_path: Path) -> None:
    import gzip

    import pytest

    from monitor.errors import MonitorError

    packed = gzip.compress((EXAMPLES / "events.jsonl").read_bytes())
    broken = tmp_path / "cut.gz"
    broken.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(MonitorError, match=r"cut\.gz: gzip stream broken after line \d+"):
        replay_file(str(broken), Engine(load_charter_dir(EXAMPLES / "charters")), tmp_path / "o")


def test_feedback_ranker_setting_annotates_replayed_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MCPMON_FEEDBACK_RANKER reaches the replay's engine: verdicts in the file are learned
    and later alerts carry details.feedback_score; without it, the same file gives none."""
    from monitor import testing as tb
    from monitor.cli import main
    from monitor.events import AlertFeedback, encode_event

    charters = tmp_path / "charters"
    charters.mkdir()
    (charters / "a.yaml").write_text(
        "agent: agent:fb/*\nkind: autonomous\nmode: observe\n"
        "tools:\n  - {server: fs, tool: read_file, classes: [read]}\n"
    )
    probe = Engine(load_charter_dir(charters))
    lines = []
    for i in range(30):
        ev = tb.call(i, "agent:fb/1", "github", f"tool_{i}", event_id=f"c{i}")
        lines.append(encode_event(ev))
        for a in probe.process(ev).alerts:
            verdict = "benign" if i % 2 else "malicious"
            fb = AlertFeedback(
                event_id=f"f{i}",
                ts=tb.at(i),
                agent_id=a.agent_id,
                alert_id=a.alert_id,
                verdict=verdict,  # type: ignore[arg-type]
            )
            lines.append(encode_event(fb))
            probe.process(fb)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")

    def scores(out: Path) -> list[object]:
        main(["replay", str(events), "--charters", str(charters), "--out", str(out)])
        return [a["details"].get("feedback_score") for a in _read(out / "alerts.jsonl")]

    plain = scores(tmp_path / "off")
    assert plain and all(s is None for s in plain)
    monkeypatch.setenv("MCPMON_FEEDBACK_RANKER", "true")
    ranked = scores(tmp_path / "on")
    assert len(ranked) == len(plain) and isinstance(ranked[-1], float)
