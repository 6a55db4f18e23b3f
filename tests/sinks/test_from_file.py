"""``mcpmon sink --from-file``: an alerts file to a SIEM without Kafka, nothing dropped silently."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

import orjson

from monitor.cli import main
from monitor.events import MAX_MESSAGE_BYTES
from monitor.output_contracts import Alert
from monitor.retry import RetryPolicy
from monitor.sinks.from_file import FileDelivery, deliver_file
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


class _Refuses:
    """Takes every alert but the ``poison`` ones, which it refuses for good (e.g. too large
    for a datagram): the :class:`Deliverer` raises Undeliverable at once."""

    name = "refuses"

    def __init__(self, *poison: str) -> None:
        self.poison = set(poison)
        self.got: list[str] = []

    async def send(self, a: Alert) -> None:
        if a.alert_id in self.poison:
            raise DeliveryError(f"{a.alert_id} too large for a datagram", permanent=True)
        self.got.append(a.alert_id)

    async def aclose(self) -> None:
        return None


def _reports(err: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(x) for x in err.getvalue().splitlines()]


def test_the_summary_says_what_was_delivered_refused_and_where_to_resume() -> None:
    assert FileDelivery(delivered=1234, bad=5).render() == "delivered 1,234, refused 5"
    stopped = FileDelivery(delivered=2, bad=1, stopped_at=3).render()
    assert stopped == (
        "delivered 2, refused 1; stopped at line 3 (still failing): resume with --start-line 3"
    )


def test_each_oversized_line_is_refused_with_its_length_and_the_rest_still_delivered(
    tmp_path: Path,
) -> None:
    """A line over the message limit cannot be an alert the pipeline made: it is reported
    (line number, its size, the limit) and counted, and the lines after it are delivered."""
    big = b"x" * (MAX_MESSAGE_BYTES + 10)
    src = _file(tmp_path, [big, big, alert(alert_id="a0").to_json()])
    t, err = _Flaky(refuse="none"), io.StringIO()
    done = asyncio.run(deliver_file(str(src), t, FAST, timeout=5, err=err))
    assert t.got == ["a0"]
    assert (done.delivered, done.bad, done.stopped_at) == (1, 2, None)
    reason = f"line of {MAX_MESSAGE_BYTES + 10} bytes exceeds {MAX_MESSAGE_BYTES}"
    assert _reports(err) == [{"line": 1, "reason": reason}, {"line": 2, "reason": reason}]


def test_blank_lines_are_skipped_silently_and_the_alerts_after_them_delivered(
    tmp_path: Path,
) -> None:
    src = _file(
        tmp_path, [alert(alert_id="a0").to_json(), b"", b"  \t", alert(alert_id="a1").to_json()]
    )
    t, err = _Flaky(refuse="none"), io.StringIO()
    done = asyncio.run(deliver_file(str(src), t, FAST, timeout=5, err=err))
    assert t.got == ["a0", "a1"]
    assert (done.delivered, done.bad, done.stopped_at) == (2, 0, None)
    assert err.getvalue() == ""


def test_each_alert_the_transport_can_never_take_is_refused_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    """A poison alert is reported with the transport's reason and counted; it does not stop
    the run (retrying it could never help), so the alerts after it are delivered."""
    ids = ["p1", "a0", "p2", "a1"]
    src = _file(tmp_path, [alert(alert_id=i).to_json() for i in ids])
    t, err = _Refuses("p1", "p2"), io.StringIO()
    done = asyncio.run(deliver_file(str(src), t, FAST, timeout=5, err=err))
    assert t.got == ["a0", "a1"]
    assert (done.delivered, done.bad, done.stopped_at) == (2, 2, None)
    assert _reports(err) == [
        {"line": 1, "reason": "undeliverable alert: p1 too large for a datagram"},
        {"line": 3, "reason": "undeliverable alert: p2 too large for a datagram"},
    ]


def test_an_invalid_alert_is_reported_with_the_dotted_path_of_its_bad_field(
    tmp_path: Path,
) -> None:
    """The reason names the field (``clause.key``) so the operator can fix the producer; a line
    that is not JSON at all has no field and says so plainly."""
    no_key = orjson.loads(alert().to_json())
    del no_key["clause"]["key"]
    src = _file(tmp_path, [orjson.dumps(no_key), b"not json"])
    err = io.StringIO()
    done = asyncio.run(deliver_file(str(src), _Flaky(refuse="none"), FAST, timeout=5, err=err))
    assert done.bad == 2
    reports = _reports(err)
    assert reports[0] == {"line": 1, "reason": "invalid alert: clause.key: Field required"}
    assert reports[1]["line"] == 2
    assert str(reports[1]["reason"]).startswith("invalid alert: Invalid JSON: ")
