"""``-`` for an output means stdout, or is refused naming the flag: never a file or a
directory named ``-`` (README "Command line")."""

from __future__ import annotations

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


def test_sink_from_file_to_ocsf_file_dash_writes_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", EVENTS, "--charters", CHARTERS, "--out", str(tmp_path / "r")]) == 0
    alerts = (tmp_path / "r" / "alerts.jsonl").read_bytes().splitlines()
    capsys.readouterr()
    argv = ["sink", "--from-file", str(tmp_path / "r" / "alerts.jsonl"), "--to", "ocsf-file"]
    assert main([*argv, "--file", "-"]) == 0
    captured = capsys.readouterr()
    findings = [orjson.loads(line) for line in captured.out.splitlines()]
    assert len(findings) == len(alerts) > 0
    assert all(f["class_uid"] == 2004 for f in findings)  # OCSF Detection Finding
    assert "ocsf-file" in captured.err  # the summary stays off stdout
    _no_dash(tmp_path)
