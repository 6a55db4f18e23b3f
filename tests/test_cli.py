from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from monitor.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_every_command_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():  # type: ignore[union-attr]
        text = p.format_help()
        assert p.description, f"{name} has no description"
        assert "usage: mcpmon" in text


def test_replay_writes_outputs_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "replay",
            str(ROOT / "examples/events.jsonl"),
            "--charters",
            str(ROOT / "examples/charters"),
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert rc == 0
    summary = orjson.loads(capsys.readouterr().out)
    assert summary["bad_lines"] == 2 and summary["alerts_total"] >= 5
    assert (tmp_path / "alerts.jsonl").stat().st_size > 0
    assert (tmp_path / "revocations.jsonl").stat().st_size > 0


def test_replay_reads_stdin(tmp_path: Path) -> None:
    data = (ROOT / "examples/events.jsonl").read_bytes()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "replay",
            "-",
            "--charters",
            str(ROOT / "examples/charters"),
            "--out",
            str(tmp_path),
        ],
        input=data,
        capture_output=True,
        check=True,
    )
    assert b"alerts" in r.stdout
    assert len((tmp_path / "alerts.jsonl").read_bytes().splitlines()) >= 5


def test_missing_events_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "replay",
            str(tmp_path / "nope.jsonl"),
            "--charters",
            str(ROOT / "examples/charters"),
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 1 and "events file not found" in capsys.readouterr().err


def test_check_charter_reports_file_key_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent: a\nkind: autonomous\nlimits:\n  hours: '25:00-26:00'\n  max_call: 3\n")
    assert main(["check-charter", str(bad), str(ROOT / "examples/charters")]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:4: limits.hours: hours must look like" in out
    assert f"{bad}:5: limits.max_call: unknown key" in out
    assert "ok: " in out and "patcher" in out


def test_check_charter_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-charter", str(ROOT / "examples/charters")]) == 0


def test_schemas_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "--check", "--out", str(ROOT / "schemas")]) == 0


def test_report_privileges(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "report",
            "privileges",
            str(ROOT / "examples/events.jsonl"),
            "--charters",
            str(ROOT / "examples/charters"),
            "--days",
            "7",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0
    assert "## Standing privilege report" in captured.out
    assert "| web/http_get | read_untrusted | 0 | 0 | never | **remove**" in captured.out
    assert "agent:shadow-it/bot-1" in captured.out
    assert "skipped 2 undecodable lines" in captured.err


def test_feedback_to_file_finds_the_agent_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.events import AlertFeedback, decode_event

    out = tmp_path / "run"
    main(
        [
            "replay",
            str(ROOT / "examples/events.jsonl"),
            "--charters",
            str(ROOT / "examples/charters"),
            "--out",
            str(out),
        ]
    )
    alert = orjson.loads((out / "alerts.jsonl").read_bytes().splitlines()[0])
    target = tmp_path / "feedback.jsonl"
    for _ in range(2):
        rc = main(
            [
                "feedback",
                alert["alert_id"],
                "--alerts",
                str(out / "alerts.jsonl"),
                "--verdict",
                "benign",
                "--note",
                "expected",
                "--to-file",
                str(target),
            ]
        )
        assert rc == 0
    first, second = (decode_event(x) for x in target.read_bytes().splitlines())
    assert isinstance(first, AlertFeedback)
    assert (first.agent_id, first.alert_id, first.verdict) == (
        alert["agent_id"],
        alert["alert_id"],
        "benign",
    )
    assert first.event_id == second.event_id  # the engine keeps one


def test_feedback_needs_the_agent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["feedback", "abc", "--verdict", "benign", "--to-file", str(tmp_path / "f")])
    assert rc == 1 and "--agent" in capsys.readouterr().err


def _readme_demo() -> tuple[str, str]:
    """The command README.md says ``make demo`` runs and the block it says that prints."""
    text = (ROOT / "README.md").read_text()
    m = re.search(r"`make demo` runs\s*\n`([^`]+)` and prints:\s*\n```\n(.*?)```", text, re.S)
    assert m, "README.md: the `make demo` paragraph and its printed block are not found"
    return m.group(1), m.group(2)


def test_the_readme_shows_exactly_what_the_demo_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's demo block pins the demo's counts: it cannot drift from the real output
    (other than the elapsed time and the output path, which it leaves out)."""
    command, printed = _readme_demo()
    makefile = (ROOT / "Makefile").read_text()
    assert f"\t$(BIN)/{command}\n" in makefile, f"make demo does not run `{command}`"
    argv = shlex.split(command)
    assert argv[:2] == ["mcpmon", "replay"] and argv[-2:] == ["--out", "out"]
    args = [str(ROOT / a) if (ROOT / a).exists() else a for a in argv[1:-1]]
    assert main([*args, str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out.splitlines(keepends=True)
    # the README leaves out the two lines that differ from run to run, and only those
    timing = next(i for i, line in enumerate(out) if line.startswith("elapsed "))
    assert "".join(out[:timing]) == printed
    assert len(out) == timing + 2 and out[timing + 1].startswith("wrote ")


def test_version_names_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    import monitor

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"mcpmon {monitor.__version__}"


def test_replay_reads_a_pipe_such_as_process_substitution(tmp_path: Path) -> None:
    """``mcpmon replay <(zcat events.gz)`` hands over a FIFO, not a regular file."""
    import os
    import threading

    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    data = (ROOT / "examples" / "events.jsonl").read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out = tmp_path / "out"
    rc = main(
        ["replay", str(fifo), "--charters", str(ROOT / "examples" / "charters"), "--out", str(out)]
    )
    writer.join(10)
    assert rc == 0
    assert len((out / "alerts.jsonl").read_bytes().splitlines()) == 10


def test_tail_resolves_topic_aliases_through_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.tail

    seen: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(
        monitor.tail, "run_tail", lambda b, topic, out, **kw: seen.append((topic, kw)) or 0
    )
    monkeypatch.setenv("MCPMON_TOPIC_ALERTS", "corp.alerts")
    assert main(["tail", "alerts", "-n", "3"]) == 0
    assert main(["tail", "some.topic", "--all", "--follow", "--meta"]) == 0
    assert seen == [
        ("corp.alerts", {"last": 3, "follow": False, "meta": False}),
        ("some.topic", {"last": None, "follow": True, "meta": True}),
    ]


def test_a_bad_flag_shows_the_subcommands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["replay", "x.jsonl", "--charters", "c", "--out", "o", "--bogus"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: mcpmon replay ")
    assert "unrecognized arguments: --bogus" in err


def test_check_charter_json_lists_every_charter_with_errors_and_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent: a\nkind: autonomous\nlimits: {max_call: 3}\n")
    wide = tmp_path / "wide.yaml"
    wide.write_text("agent: b\nkind: autonomous\nresources: ['slack://*']\n")
    rc = main(["check-charter", str(bad), str(wide), "--json"])
    got = orjson.loads(capsys.readouterr().out)
    assert rc == 1
    assert [g["ok"] for g in got] == [False, True]
    assert "limits.max_call" in got[0]["errors"][0]
    assert got[1]["breadth"]["too_broad"] is True  # any tenant, any domain
    assert any("slack://*" in w for w in got[1]["warnings"])


def test_evaluate_and_schemas_default_to_new_directories_not_the_checkouts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["schemas"]) == 0
    assert (tmp_path / "mcpmon-schemas" / "event.tool_call.schema.json").is_file()
    assert main(["schemas", "--check"]) == 0
    args = build_parser().parse_args(["evaluate"])
    assert args.out == "mcpmon-results"


def test_replay_out_dash_puts_the_alerts_on_stdout_for_a_pipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events, charters = ROOT / "examples" / "events.jsonl", ROOT / "examples" / "charters"
    with pytest.raises(SystemExit):  # argparse: --out is required
        main(["replay", str(events), "--charters", str(charters)])
    capsys.readouterr()
    # the other two outputs need a place: nothing is dropped silently
    assert main(["replay", str(events), "--charters", str(charters), "--out", "-"]) == 1
    assert "--revocations FILE and --deadletter FILE" in capsys.readouterr().err
    rev, dead = tmp_path / "r.jsonl", tmp_path / "d.jsonl"
    argv = ["replay", str(events), "--charters", str(charters), "--out", "-",
            "--revocations", str(rev), "--deadletter", str(dead)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr()
    alerts = [orjson.loads(x) for x in out.out.splitlines()]
    assert len(alerts) == 10 and all("alert_id" in a for a in alerts)
    assert "alerts              10" in out.err and "wrote alerts to stdout" in out.err
    assert len(rev.read_bytes().splitlines()) == 6 and len(dead.read_bytes().splitlines()) == 2
    assert not (Path.cwd() / "-").exists()
