"""``mcpmon sink --from-file``: an alerts file to a SIEM without Kafka, nothing dropped silently."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

import orjson

from monitor.cli import main
from monitor.output_contracts import Alert
from monitor.retry import RetryPolicy
from monitor.sinks.from_file import deliver_file
from monitor.sinks.transports import DeliveryError
from tests.sinks.support import alert

FAST = RetryPolicy(attempts=3, base_seconds=0.01, max_seconds=0.02)


class _Flaky:
    """Takes alerts until one id, refuses that one (retryable) until ``fixed``."""

    name = "flaky"

    def __init__(self, refuse: str) -> None:
        self.refuse = refuse
        self.fixed = False
        self.got: list[str] = []

    async def send(self, a: Alert) -> None:
        if a.alert_id == self.refuse and not self.fixed:
            raise DeliveryError("receiver down")
        self.got.append(a.alert_id)

    async def aclose(self) -> None:
        return None


def _file(tmp_path: Path, lines: list[bytes]) -> Path:
    p = tmp_path / "alerts.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    return p


def test_every_alert_is_delivered_in_order_and_bad_lines_are_named(tmp_path: Path) -> None:
    lines = [alert(alert_id=f"a{i}").to_json() for i in range(3)]
    lines.insert(1, b'{"alert_id": "x"}')
    lines.insert(3, b"not json")
    src = _file(tmp_path, lines)
    t, err = _Flaky(refuse="none"), io.StringIO()
    done = asyncio.run(deliver_file(str(src), t, FAST, timeout=5, err=err))
    assert t.got == ["a0", "a1", "a2"]
    assert (done.delivered, done.bad, done.stopped_at) == (3, 2, None)
    reports = [orjson.loads(x) for x in err.getvalue().splitlines()]
    assert [r["line"] for r in reports] == [2, 4]
    assert reports[0]["reason"].startswith("invalid alert: ts: Field required")


def test_refused_lines_go_to_the_callers_stderr_not_the_one_at_import(tmp_path: Path) -> None:
    """A caller that redirects stderr (an embedding service, a test harness) gets the reports
    there: the default is read at each call, not bound when the module was imported."""
    src = _file(tmp_path, [b"not json", alert(alert_id="a0").to_json()])
    t, err = _Flaky(refuse="none"), io.StringIO()
    with contextlib.redirect_stderr(err):
        done = asyncio.run(deliver_file(str(src), t, FAST, timeout=5))
    assert (done.delivered, done.bad) == (1, 1)
    assert [orjson.loads(x)["line"] for x in err.getvalue().splitlines()] == [1]


def test_a_receiver_still_down_stops_the_run_at_that_line_and_a_resume_delivers_the_rest(
    tmp_path: Path,
) -> None:
    src = _file(tmp_path, [alert(alert_id=f"a{i}").to_json() for i in range(4)])
    t = _Flaky(refuse="a2")
    first = asyncio.run(deliver_file(str(src), t, FAST, timeout=0.3, err=io.StringIO()))
    assert (first.delivered, first.stopped_at) == (2, 3)
    assert "resume with --start-line 3" in first.render()
    t.fixed = True
    second = asyncio.run(
        deliver_file(str(src), t, FAST, timeout=5, start_line=3, err=io.StringIO())
    )
    assert (second.delivered, second.stopped_at) == (2, None)
    assert t.got == ["a0", "a1", "a2", "a3"]  # each exactly once across the two runs


def test_the_cli_writes_ocsf_findings_and_exits_1_when_a_line_was_refused(tmp_path: Path) -> None:
    good = _file(tmp_path, [alert(alert_id=f"a{i}").to_json() for i in range(2)])
    out = tmp_path / "f.ocsf.jsonl"
    argv = ["sink", "--from-file", str(good), "--to", "ocsf-file", "--file", str(out)]
    assert main(argv) == 0
    findings = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [f["class_uid"] for f in findings] == [2004, 2004]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(good.read_bytes() + b"{}\n")
    assert main([*argv[:2], str(bad), *argv[3:]]) == 1
    assert len(out.read_bytes().splitlines()) == 4
