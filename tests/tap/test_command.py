"""``mcpmon tap`` on the command line: help, dry runs to a file, stdin, usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from monitor.cli import build_parser, main
from tests.tap.support import JSONRPC_SAMPLE, ROOT

MAPPING = "fields: {agent_id: params._meta.io.modelcontextprotocol/clientInfo.name}\ndefaults: {server: gw}\n"


def test_help_explains_formats_outputs_checkpoints_and_the_mapping() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    text = sub.choices["tap"].format_help()  # type: ignore[union-attr]
    for needle in (
        "--format {ours,jsonrpc,agentgateway,toolhive,teleport,otel,mcpx,docker-audit,auto}",
        "delegated",
        "docs/gateways.md",
        "--follow",
        "tail -F",
        "--to-file OUT.jsonl",
        "OUT.deadletter.jsonl",
        "checkpoint",
        "at-least-once",
        "outcome unknown",
        "tap's clock",
        "fields:",
        "defaults:",
        "MCPMON_TAP_BATCH_RECORDS",
    ):
        assert needle in text, needle


def test_dry_run_to_a_file_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "map.yaml").write_text(MAPPING)
    out = tmp_path / "out.jsonl"
    argv = [
        "tap",
        str(JSONRPC_SAMPLE),
        "--format",
        "jsonrpc",
        "--mapping",
        str(tmp_path / "map.yaml"),
    ]
    assert main([*argv, "--to-file", str(out), "--json"]) == 0
    summary = orjson.loads(capsys.readouterr().out)
    # only the 2026-07-28 request names its client; the other five have no identity
    assert (summary["lines"], summary["events"], summary["deadletters"]) == (12, 1, 10)
    assert summary["deadletter_reasons"] == {
        "no agent_id": 5,
        "response to a dead-lettered request": 5,
    }
    assert summary["checkpoints"] == 0  # --to-file checkpoints only when asked
    assert len(out.read_bytes().splitlines()) == 1
    assert len((tmp_path / "out.deadletter.jsonl").read_bytes().splitlines()) == 10
    assert main([*argv, "--to-file", str(out)]) == 0
    assert "dead letters" in capsys.readouterr().out


def test_stdin_source(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    lines = (ROOT / "examples" / "events.jsonl").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "tap", "-", "--to-file", str(out), "--json"],
        input=lines,
        capture_output=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    summary = orjson.loads(proc.stdout)
    assert summary["deadletters"] == 2 and summary["events"] == len(out.read_bytes().splitlines())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["nope.jsonl"], "source file not found: nope.jsonl"),
        (["-", "--follow"], "stdin has no offsets"),
        (["{sample}", "--mapping", "{map}"], "--format ours takes no --mapping"),
        (["{sample}", "--format", "jsonrpc", "--mapping", "{bad}"], "bad.yaml: fields.agent"),
    ],
)
def test_usage_errors_exit_1_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    (tmp_path / "map.yaml").write_text(MAPPING)
    (tmp_path / "bad.yaml").write_text("fields: {agent: x}\n")
    subst = {
        "{sample}": str(JSONRPC_SAMPLE),
        "{map}": str(tmp_path / "map.yaml"),
        "{bad}": str(tmp_path / "bad.yaml"),
    }
    argv = ["tap", *(subst.get(a, a) for a in extra), "--to-file", str(tmp_path / "o.jsonl")]
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_no_broker_says_so_and_suggests_a_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPMON_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # nothing listens there
    src = ROOT / "examples" / "events.jsonl"
    assert main(["tap", str(src), "--checkpoint", str(tmp_path / "ck.json")]) == 1
    err = capsys.readouterr().err
    assert "Kafka at 127.0.0.1:1 did not answer" in err and "--to-file OUT.jsonl" in err
    assert not (tmp_path / "ck.json").exists()


def test_auto_on_a_mixed_log_summarises_events_dead_letters_and_skips_by_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.tap.support import SAMPLES

    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(
        b"".join(SAMPLES[n].read_bytes() for n in ("toolhive", "teleport", "otel", "mcpx"))
    )
    out = tmp_path / "out.jsonl"
    argv = ["tap", str(mixed), "--format", "auto", "--to-file", str(out), "--json"]
    assert main(argv) == 0
    summary = orjson.loads(capsys.readouterr().out)
    assert (summary["lines"], summary["events"], summary["deadletters"]) == (30, 17, 5)
    assert summary["deadletter_reasons"] == {
        "no agent_id": 4,
        "denied before MCP parsing (http_request, anonymous)": 1,
    }
    assert summary["skipped"]["event mcp.session.start"] == 2
    dead_lines = (tmp_path / "out.deadletter.jsonl").read_bytes().splitlines()
    assert len(dead_lines) == 5 and len(out.read_bytes().splitlines()) == 17


def test_to_file_dash_pipes_events_into_replay_with_dead_letters_and_summary_on_stderr(
    tmp_path: Path,
) -> None:
    """``mcpmon tap LOG --to-file - | mcpmon replay -``: no file, nothing lost, same alerts."""
    events, charters = ROOT / "examples" / "events.jsonl", ROOT / "examples" / "charters"
    mcpmon = [sys.executable, "-m", "monitor.cli"]
    tap = subprocess.Popen(
        [*mcpmon, "tap", str(events), "--to-file", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    replay = subprocess.run(
        [*mcpmon, "replay", "-", "--charters", str(charters), "--out", str(tmp_path / "a")],
        stdin=tap.stdout,
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert tap.stdout is not None and tap.stderr is not None
    tap.stdout.close()
    err = tap.stderr.read().decode()
    assert tap.wait(60) == 0
    assert "bad lines            0" in replay.stdout.decode()  # only events came through stdout
    dead = [ln for ln in err.splitlines() if ln.startswith('{"source"')]
    assert len(dead) == 2 and "dead letters         2" in err  # on stderr, not dropped
    assert "stdout" in err and "file://" not in err  # the summary names where events went
    direct = tmp_path / "b"
    subprocess.run(
        [*mcpmon, "replay", str(events), "--charters", str(charters), "--out", str(direct)],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert (tmp_path / "a" / "alerts.jsonl").read_bytes() == (direct / "alerts.jsonl").read_bytes()
    assert not (Path.cwd() / "-").exists()


@pytest.mark.parametrize("secret", ["AKIAIOSFODNN7EXAMPLE", "ghp_" + "Z" * 36])
def test_the_summary_never_quotes_a_secret_from_a_refused_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], secret: str
) -> None:
    """A reason can quote the input (an unknown event type): the summary counts dead
    letters by the reason's redacted head, as the replay summary does."""
    src = tmp_path / "in.jsonl"
    src.write_bytes(orjson.dumps({"type": secret, "event_id": "e1"}) + b"\n")
    out = tmp_path / "out.jsonl"
    argv = ["tap", str(src), "--format", "ours", "--to-file", str(out)]
    assert main([*argv, "--json"]) == 0
    summary = orjson.loads(capsys.readouterr().out)
    # the head ends at the first colon, here the redaction marker's own
    assert summary["deadletter_reasons"] == {"unknown event type '[REDACTED": 1}
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "dead letters" in text and secret[:8] not in text
