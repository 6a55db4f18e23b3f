"""Event delivery never silently drops: a full buffer or a stop with Kafka down logs each
event in full and counts it; a file sink appends one event a line."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import orjson
import pytest
from structlog.testing import capture_logs

from monitor.events import ToolCall
from monitor.proxy.emit import FileEmitter, KafkaEmitter
from monitor.proxy.exceptions import ProxyError
from monitor.proxy.metrics import ProxyMetrics
from tests.proxy.support import tool_call
from tests.revoker.servers import free_port
from tests.waiting import until


def _event(i: int) -> ToolCall:
    return tool_call(i)


def _sample(m: ProxyMetrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, labels or None) or 0.0


def test_with_kafka_down_events_are_buffered_then_logged_in_full_never_dropped() -> None:
    metrics = ProxyMetrics()
    # nothing listens there: every connection attempt fails
    sink = KafkaEmitter(f"127.0.0.1:{free_port()}", "mcp.events", metrics, buffer_events=2)

    async def go() -> None:
        await sink.start()
        for i in range(3):
            sink.emit(_event(i))
        assert _sample(metrics, "mcpmon_proxy_emit_buffer_events") == 2
        # the sender keeps trying meanwhile: wait for it to have failed to connect
        await until(
            lambda: _sample(metrics, "mcpmon_proxy_emit_failures_total", reason="connect") >= 1,
            10,
            "a failed connection attempt",
        )
        await sink.close(timeout=0.2)

    with capture_logs() as logs:
        asyncio.run(asyncio.wait_for(go(), 30))
    lost = [e for e in logs if e["event"] == "event_not_emitted"]
    assert [(e["reason"], e["tool_call"]["event_id"]) for e in lost] == [
        ("buffer_full", "e2"),
        ("shutdown", "e0"),
        ("shutdown", "e1"),
    ]
    # in full: the logged line is the event as it would have been produced
    assert ToolCall.model_validate(lost[1]["tool_call"]) == _event(0)
    assert _sample(metrics, "mcpmon_proxy_events_lost_total", reason="buffer_full") == 1
    assert _sample(metrics, "mcpmon_proxy_events_lost_total", reason="shutdown") == 2
    assert _sample(metrics, "mcpmon_proxy_emit_failures_total", reason="connect") >= 1
    assert _sample(metrics, "mcpmon_proxy_events_emitted_total") == 0
    assert _sample(metrics, "mcpmon_proxy_emit_buffer_events") == 0
    assert any(e["event"] == "emit_broker_unavailable" for e in logs)


def test_a_file_sink_appends_one_event_a_line(tmp_path: Path) -> None:
    metrics = ProxyMetrics()
    out = tmp_path / "calls.jsonl"
    out.write_bytes(b'{"earlier": 1}\n')

    async def go() -> None:
        sink = FileEmitter(out, metrics)
        await sink.start()
        sink.emit(_event(0))
        sink.emit(_event(1))
        await sink.close()

    asyncio.run(go())
    lines = out.read_bytes().splitlines()
    assert orjson.loads(lines[0]) == {"earlier": 1}
    assert [orjson.loads(x)["event_id"] for x in lines[1:]] == ["e0", "e1"]
    assert _sample(metrics, "mcpmon_proxy_events_emitted_total") == 2


def test_an_unwritable_file_is_a_start_error_naming_it(tmp_path: Path) -> None:
    sink = FileEmitter(tmp_path / "missing-dir" / "calls.jsonl", ProxyMetrics())
    with pytest.raises(ProxyError, match=r"--to-file .*missing-dir/calls\.jsonl: No such file"):
        asyncio.run(sink.start())


def test_the_events_file_is_private(tmp_path: Path) -> None:
    new, old = tmp_path / "new.jsonl", tmp_path / "old.jsonl"
    old.write_bytes(b"")
    os.chmod(old, 0o644)  # written by an earlier proxy, or by hand

    async def go() -> None:
        for path in (new, old):
            sink = FileEmitter(path, ProxyMetrics())
            await sink.start()
            sink.emit(_event(0))
            await sink.close()

    old_umask = os.umask(0o022)
    try:
        asyncio.run(go())
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(old).st_mode) == 0o600
    assert orjson.loads(old.read_bytes())["event_id"] == "e0"


def test_a_failed_write_is_logged_counted_and_not_repeated() -> None:
    metrics = ProxyMetrics()

    async def go() -> list[dict[str, object]]:
        sink = FileEmitter("/dev/full", metrics)  # every write: ENOSPC
        await sink.start()
        with capture_logs() as logs:
            sink.emit(_event(0))
            sink.emit(_event(1))
            await sink.close()  # nothing left buffered to fail again
        return logs

    logs = asyncio.run(go())
    lost = [e["tool_call"]["event_id"] for e in logs if e["event"] == "event_not_emitted"]
    assert lost == ["e0", "e1"]
    assert _sample(metrics, "mcpmon_proxy_events_lost_total", reason="write_failed") == 2
    assert _sample(metrics, "mcpmon_proxy_emit_failures_total", reason="write") == 2
    failed = [e for e in logs if e["event"] == "emit_failed"]
    assert [(e["error"], e["path"], e["log_level"]) for e in failed] == [
        ("OSError: [Errno 28] No space left on device", "/dev/full", "error")
    ] * 2


def test_emit_outside_start_and_close_is_a_programming_error_named_as_such(
    tmp_path: Path,
) -> None:
    sink = FileEmitter(tmp_path / "calls.jsonl", ProxyMetrics())
    with pytest.raises(RuntimeError, match=r"^FileEmitter\.emit called before start\(\)$"):
        sink.emit(_event(0))

    async def go() -> None:
        await sink.start()
        sink.emit(_event(0))
        await sink.close()
        await sink.close()  # twice: nothing left to close

    asyncio.run(go())
    with pytest.raises(RuntimeError, match=r"^FileEmitter\.emit called before start\(\)$"):
        sink.emit(_event(1))
    assert len((tmp_path / "calls.jsonl").read_bytes().splitlines()) == 1


def test_a_fifo_is_written_to_and_its_mode_left_alone(tmp_path: Path) -> None:
    fifo = tmp_path / "calls.fifo"
    os.mkfifo(fifo, 0o644)
    os.chmod(fifo, 0o644)  # whatever the umask: a reader of another user may need it
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the open for writing needs one
    keeper = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # and a wrong-mode open must not block
    try:

        async def go() -> None:
            sink = FileEmitter(fifo, ProxyMetrics())
            await sink.start()
            sink.emit(_event(0))
            await sink.close()

        asyncio.run(go())
        assert orjson.loads(os.read(reader, 65536))["event_id"] == "e0"
    finally:
        os.close(keeper)
        os.close(reader)
    assert stat.S_IMODE(os.stat(fifo).st_mode) == 0o644


def test_a_file_that_cannot_be_made_private_is_a_start_error_and_left_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_bytes(b"")
    os.chmod(path, 0o644)

    def refuse(_fd: int, _mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchmod", refuse)
    fds = set(os.listdir("/proc/self/fd"))
    with pytest.raises(ProxyError) as err:
        asyncio.run(FileEmitter(path, ProxyMetrics()).start())
    assert str(err.value) == (
        f"--to-file {path}: cannot make it private (0600): Operation not permitted"
    )
    assert set(os.listdir("/proc/self/fd")) <= fds  # the file it opened is closed again


class _Raw:
    """A raw file whose writes take at most ``most`` bytes at a time (0: none at all). It
    refuses a 1,000th write: a writer that never gives up on it is a loop, not a retry."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.data = b""
        self.writes = 0

    def write(self, b: memoryview) -> int:
        self.writes += 1
        if self.writes >= 1000:
            raise AssertionError("written to 1,000 times: a loop")
        part = bytes(b[: self.most])
        self.data += part
        return len(part)

    def close(self) -> None:
        pass


def test_partial_writes_are_written_on_until_the_line_is_whole(tmp_path: Path) -> None:
    metrics = ProxyMetrics()
    sink = FileEmitter(tmp_path / "calls.jsonl", metrics)
    raw = _Raw(7)
    sink._fh = raw  # type: ignore[assignment]
    sink.emit(_event(0))
    sink.emit(_event(1))
    lines = raw.data.splitlines()
    assert [orjson.loads(x)["event_id"] for x in lines] == ["e0", "e1"]
    assert raw.data.endswith(b"\n")
    assert _sample(metrics, "mcpmon_proxy_events_emitted_total") == 2


def test_a_write_that_takes_nothing_is_a_failed_write(tmp_path: Path) -> None:
    metrics = ProxyMetrics()
    sink = FileEmitter(tmp_path / "calls.jsonl", metrics)
    sink._fh = _Raw(0)  # type: ignore[assignment]
    with capture_logs() as logs:
        sink.emit(_event(0))
    (failed,) = [e for e in logs if e["event"] == "emit_failed"]
    assert failed["error"] == "OSError: write returned 0"
    assert sink._fh.writes == 1  # type: ignore[union-attr,attr-defined]
    assert _sample(metrics, "mcpmon_proxy_events_lost_total", reason="write_failed") == 1
