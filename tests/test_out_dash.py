"""``-`` for an output means stdout, or is refused naming the flag: never a file or a
directory named ``-`` (README "Command line")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from monitor.cli import main

ROOT = Path(__file__).resolve().parents[1]
EVENTS, CHARTERS = str(ROOT / "examples/events.jsonl"), str(ROOT / "examples/charters")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _no_dash(tmp_path: Path) -> None:
    assert not (tmp_path / "-").exists()


def test_report_privileges_out_dash_is_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "privileges", EVENTS, "--charters", CHARTERS, "--out", "-"]) == 0
    out = capsys.readouterr().out
    assert "wrote" not in out and out.strip()
    _no_dash(tmp_path)
    assert (
        main(["report", "privileges", EVENTS, "--charters", CHARTERS, "--json", "--out", "-"]) == 0
    )
    assert isinstance(orjson.loads(capsys.readouterr().out), dict)


@pytest.mark.parametrize(
    "argv",
    [
        ["charter", "suggest", EVENTS, "--out", "-"],
        ["charter", "evaluate", EVENTS, "--out", "-"],
        ["map", EVENTS, "--out", "-"],
        ["simulate", "--out", "-"],
        ["evaluate", "--out", "-"],
        ["schemas", "--out", "-"],
    ],
    ids=lambda a: " ".join(a[:2]) if a[0] == "charter" else a[0],
)
def test_a_directory_out_refuses_dash_naming_the_flag(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --out: - (stdout) is not a directory" in err
    assert err.startswith(f"usage: mcpmon {argv[0]}")  # the sub-command's usage
    _no_dash(tmp_path)


def test_sink_from_file_to_ocsf_file_dash_writes_stdout(tmp_path: Path) -> None:
    # a process of its own: the sink sets up service logging (structlog on its stderr)
    assert main(["replay", EVENTS, "--charters", CHARTERS, "--out", str(tmp_path / "r")]) == 0
    alerts = (tmp_path / "r" / "alerts.jsonl").read_bytes().splitlines()
    sink = ["sink", "--from-file", "r/alerts.jsonl", "--to", "ocsf-file", "--file", "-"]
    r = subprocess.run(
        [sys.executable, "-m", "monitor.cli", *sink],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    findings = [orjson.loads(line) for line in r.stdout.splitlines()]
    assert len(findings) == len(alerts) > 0
    assert all(f["class_uid"] == 2004 for f in findings)  # OCSF Detection Finding
    assert "ocsf-file" in r.stderr  # the summary stays off stdout
    _no_dash(tmp_path)


def test_sink_to_stdout_stops_quietly_when_the_reader_leaves(tmp_path: Path) -> None:
    """``mcpmon sink --from-file a --to ocsf-file --file - | head``: a closed pipe ends the
    run (exit 0), it is no delivery failure to retry."""
    assert main(["replay", EVENTS, "--charters", CHARTERS, "--out", str(tmp_path / "r")]) == 0
    sink = ["sink", "--from-file", "r/alerts.jsonl", "--to", "ocsf-file", "--file", "-"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", *sink],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first finding
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "sink_retry" not in err and "Broken pipe" not in err and "Traceback" not in err
