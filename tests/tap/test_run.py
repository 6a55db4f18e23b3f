"""The tap loop: accounting, batches, checkpoints only after delivery, follow, stop, resume."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Sequence
from pathlib import Path

import orjson
import pytest

from monitor.settings import load_settings
from monitor.tap.build import build_tap
from monitor.tap.checkpoint import Checkpoint, CheckpointFile
from monitor.tap.exceptions import CheckpointError, DeliveryError
from monitor.tap.formats import FormatContext, make_format
from monitor.tap.mapping import parse_mapping
from monitor.tap.reader import FileSource
from monitor.tap.run import Tap, TapOptions
from monitor.tap.writers import FileWriter, Record
from tests.tap.support import dumps, err, ok, req

MAPPING = "defaults: {agent_id: agent-1, server: fleet}"


def call(n: int) -> dict:
    """A tools/call whose arguments carry its own line number, to trace events to lines."""
    return {
        "jsonrpc": "2.0",
        "id": n,
        "method": "tools/call",
        "params": {"name": "t", "arguments": {"line": n}},
    }


def interleaved(pairs: int, lag: int = 3) -> tuple[list[bytes], dict[int, int]]:
    """Requests with responses ``lag`` calls late; returns lines and id -> request line."""
    lines: list[bytes] = []
    waiting: list[int] = []
    where: dict[int, int] = {}
    for i in range(pairs):
        where[i] = len(lines) + 1
        doc = call(i)
        doc["params"]["arguments"]["line"] = where[i]
        lines.append(orjson.dumps(doc))
        waiting.append(i)
        if len(waiting) > lag:
            lines.append(orjson.dumps(ok(waiting.pop(0))))
    lines += [orjson.dumps(ok(i)) for i in waiting]
    return lines, where


def jsonrpc_format(**kw: object) -> object:
    return make_format("jsonrpc", FormatContext(source="t", mapping=parse_mapping(MAPPING), **kw))  # type: ignore[arg-type]


def write(path: Path, lines: Sequence[bytes]) -> Path:
    path.write_bytes(b"".join(x + b"\n" for x in lines))
    return path


class SlowSink:
    """Confirms each batch after a random delay; remembers what is confirmed."""

    target = "test://slow"

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.confirmed: list[Record] = []
        self.batches = 0

    async def start(self) -> None:
        pass

    async def send(self, records: Sequence[Record]) -> Awaitable[None]:
        self.batches += 1
        batch = list(records)

        async def confirm() -> None:
            await asyncio.sleep(self.rng.uniform(0, 0.004))
            self.confirmed.extend(batch)

        return asyncio.ensure_future(confirm())

    async def stop(self) -> None:
        pass


class WatchedCheckpoints(CheckpointFile):
    """Checks, at every save, that all lines before the checkpoint are delivered."""

    def __init__(self, path: Path, sink: SlowSink, request_lines: set[int]) -> None:
        super().__init__(path)
        self.sink, self.request_lines, self.saves = sink, request_lines, 0

    def save(self, ck: Checkpoint) -> None:
        delivered = {
            orjson.loads(r.value)["args"]["line"] for r in self.sink.confirmed if r.kind == "event"
        }
        behind = {n for n in self.request_lines if n <= ck.lines_before}
        assert behind <= delivered, f"checkpoint at line {ck.lines_before + 1} runs ahead"
        self.saves += 1
        super().save(ck)


def test_checkpoint_never_runs_ahead_of_delivery(tmp_path: Path) -> None:
    lines, where = interleaved(400, lag=5)
    src = write(tmp_path / "gw.jsonl", lines)
    sink = SlowSink()
    ck = WatchedCheckpoints(tmp_path / "ck.json", sink, set(where.values()))
    tap = Tap(
        FileSource(str(src)),
        jsonrpc_format(),  # type: ignore[arg-type]
        sink,
        TapOptions(source="t", format="jsonrpc", batch_records=7),
        checkpoints=ck,
    )
    summary = asyncio.run(tap.run())
    assert summary.events == 400 == summary.delivered_events
    assert sink.batches > 50 and ck.saves > 50
    final = ck.load()
    assert final is not None and final.offset == src.stat().st_size


def test_every_line_is_accounted_for_in_the_summary_and_the_files(tmp_path: Path) -> None:
    lines = [
        *dumps(
            req(1),
            {"jsonrpc": "2.0", "id": 0, "method": "initialize"},
            ok(0),
            ok(1),
            req(2),
            err(2),
            req(3),  # never answered
            ok(99),  # orphan
        ),
        b"",
        b"not json",
    ]
    src = write(tmp_path / "gw.jsonl", lines)
    out = tmp_path / "out.jsonl"
    tap = Tap(
        FileSource(str(src)),
        jsonrpc_format(),  # type: ignore[arg-type]
        FileWriter(out),
        TapOptions(source="gw", format="jsonrpc"),
    )
    s = asyncio.run(tap.run())
    assert s.lines == 10 and s.events == 3
    assert s.unpaired == {"no response before the end of the input": 1}
    assert s.deadletters == {"response without a request in the pairing window": 1, "not JSON": 1}
    assert s.skipped == {"method initialize": 1, "response to initialize": 1, "blank line": 1}
    events = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    dead = [orjson.loads(x) for x in (tmp_path / "out.deadletter.jsonl").read_bytes().splitlines()]
    assert [e["outcome"] for e in events] == ["ok", "error", "unknown"]
    assert [(d["line"], d["raw"], d["source"], d["format"]) for d in dead] == [
        (8, lines[7].decode(), "gw", "jsonrpc"),
        (10, "not json", "gw", "jsonrpc"),
    ]
    doc = s.to_dict()
    assert doc["deadletters"] == 2 and doc["delivered"] == {"events": 3, "deadletters": 2}
    assert "outcome unknown: 1 × no response before the end of the input" in s.render()


def test_oversize_lines_are_dead_letters_with_size_and_head(tmp_path: Path) -> None:
    from monitor.deadletter import HEAD_BYTES
    from monitor.events import MAX_MESSAGE_BYTES

    huge = orjson.dumps({"type": "tool_call", "blob": "x" * (MAX_MESSAGE_BYTES + 10)})
    src = write(tmp_path / "gw.jsonl", [huge])
    out = tmp_path / "out.jsonl"
    tap = Tap(
        FileSource(str(src)),
        make_format("ours", FormatContext()),
        FileWriter(out),
        TapOptions("gw", "ours"),
    )
    s = asyncio.run(tap.run())
    (d,) = [orjson.loads(x) for x in (tmp_path / "out.deadletter.jsonl").read_bytes().splitlines()]
    assert s.deadletters == {
        f"line of {len(huge)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}": 1
    }
    assert d["size"] == d["length"] == len(huge) and d["truncated"]
    assert len(d["raw"]) == HEAD_BYTES and huge.startswith(d["raw"].encode())  # a bounded head


async def _wait_for(pred, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def _events(path: Path) -> list[dict]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines()] if path.exists() else []


def test_follow_mode_reads_appends_and_rotation_then_stops_cleanly(tmp_path: Path) -> None:
    src = tmp_path / "gw.jsonl"
    write(src, [orjson.dumps(call(1)), orjson.dumps(ok(1))])
    out = tmp_path / "out.jsonl"
    ck = CheckpointFile(tmp_path / "ck.json")
    tap = Tap(
        FileSource(str(src), follow=True),
        jsonrpc_format(),  # type: ignore[arg-type]
        FileWriter(out),
        TapOptions("gw", "jsonrpc", follow=True, poll_seconds=0.02, linger_seconds=0.01),
        checkpoints=ck,
    )

    async def scenario() -> None:
        run = asyncio.ensure_future(tap.run())
        await _wait_for(lambda: len(_events(out)) == 1)
        with open(src, "ab") as f:  # append: a request now, its response after rotation
            f.write(orjson.dumps(call(2)) + b"\n" + orjson.dumps(call(3)) + b"\n")
        await _wait_for(lambda: tap.summary.lines == 4)
        os.rename(src, tmp_path / "gw.jsonl.1")
        write(src, [orjson.dumps(ok(3)), orjson.dumps(err(2)), orjson.dumps(call(4))])
        await _wait_for(lambda: len(_events(out)) == 3)
        tap.stop()
        await asyncio.wait_for(run, 5)

    asyncio.run(asyncio.wait_for(scenario(), 15))
    got = {e["args"]["line"]: e["outcome"] for e in _events(out)}
    assert got == {1: "ok", 2: "error", 3: "ok"}  # request 4 still waits: not emitted
    saved = ck.load()
    assert saved is not None and saved.lines_before == 2  # before request 4, in the new file
    assert tap.summary.checkpoints >= 1


def test_stop_keeps_waiting_requests_and_a_restart_resumes_before_them(tmp_path: Path) -> None:
    """A stopped (or crashed) run leaves the checkpoint at the oldest unanswered request."""
    src = write(tmp_path / "gw.jsonl", dumps(call(1), call(2), ok(2)))
    out, ckp = tmp_path / "out.jsonl", tmp_path / "ck.json"
    mapping = tmp_path / "map.yaml"
    mapping.write_text(MAPPING)
    settings = load_settings({"tap_poll_seconds": 0.02}, env={})

    def tap(follow: bool) -> Tap:
        return build_tap(
            settings,
            str(src),
            fmt="jsonrpc",
            mapping=str(mapping),
            follow=follow,
            to_file=str(out),
            checkpoint=str(ckp),
            source_name="gw",
        )

    first = tap(follow=True)

    async def run_then_stop() -> None:
        task = asyncio.ensure_future(first.run())
        await _wait_for(lambda: first.summary.delivered_events == 1)
        first.stop()
        await asyncio.wait_for(task, 5)

    asyncio.run(run_then_stop())
    ck = CheckpointFile(ckp).load()
    assert ck is not None and (ck.offset, ck.lines_before) == (0, 0)  # request 1 still waits
    assert ck.delivered == src.stat().st_size
    with open(src, "ab") as f:
        f.write(orjson.dumps(ok(1)) + b"\n")

    second = tap(follow=False)
    s = asyncio.run(second.run())
    assert s.resumed_at_line == 1
    ids = [(e["args"]["line"], e["outcome"], e["event_id"]) for e in _events(out)]
    # request 2 was delivered before and is re-emitted after the restart: same id, same content
    by_line: dict[int, set[str]] = {}
    for line, outcome, eid in ids:
        by_line.setdefault(line, set()).add(f"{outcome}:{eid}")
    assert set(by_line) == {1, 2} and all(len(v) == 1 for v in by_line.values())
    assert sorted(line for line, _, _ in ids) == [1, 2, 2]  # the re-read overlap: 2 twice
    assert CheckpointFile(ckp).load().offset == src.stat().st_size  # type: ignore[union-attr]


def test_a_checkpoint_for_another_target_is_refused(tmp_path: Path) -> None:
    src = write(tmp_path / "gw.jsonl", dumps(call(1)))
    ckp = tmp_path / "ck.json"
    settings = load_settings(env={})
    kw = dict(fmt="ours", checkpoint=str(ckp))
    asyncio.run(build_tap(settings, str(src), to_file=str(tmp_path / "a.jsonl"), **kw).run())  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="is for file://"):
        build_tap(settings, str(src), to_file=str(tmp_path / "b.jsonl"), **kw)  # type: ignore[arg-type]
    build_tap(settings, str(src), to_file=str(tmp_path / "b.jsonl"), from_start=True, **kw)  # type: ignore[arg-type]


def test_a_stale_checkpoint_restarts_at_the_beginning_of_the_new_file(tmp_path: Path) -> None:
    src = write(tmp_path / "gw.jsonl", dumps(*[call(i) for i in range(5)]))
    ckp, out = tmp_path / "ck.json", tmp_path / "out.jsonl"
    settings = load_settings(env={})
    run = lambda: build_tap(settings, str(src), fmt="ours", to_file=str(out), checkpoint=str(ckp))  # noqa: E731
    asyncio.run(run().run())
    src.unlink()
    write(src, dumps(call(9)))  # rotated while the tap was down
    tap = run()
    assert tap.summary.resumed_at_line is None
    assert asyncio.run(tap.run()).lines == 1


def test_a_corrupt_checkpoint_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    ckp = tmp_path / "ck.json"
    ckp.write_text("{not json")
    with pytest.raises(CheckpointError, match="--from-start"):
        CheckpointFile(ckp).load()


class FailingSink(SlowSink):
    """Confirms two batches, then the broker refuses."""

    async def send(self, records: Sequence[Record]) -> Awaitable[None]:
        if self.batches == 2:
            self.batches += 1

            async def refuse() -> None:
                raise DeliveryError("Kafka did not confirm delivery: broker gone")

            return asyncio.ensure_future(refuse())
        return await super().send(records)


def test_a_refused_batch_stops_the_tap_and_the_checkpoint_stays_behind_it(tmp_path: Path) -> None:
    lines, where = interleaved(100, lag=2)
    src = write(tmp_path / "gw.jsonl", lines)
    sink = FailingSink()
    ck = WatchedCheckpoints(tmp_path / "ck.json", sink, set(where.values()))
    tap = Tap(
        FileSource(str(src)),
        jsonrpc_format(),  # type: ignore[arg-type]
        sink,
        TapOptions(source="t", format="jsonrpc", batch_records=10),
        checkpoints=ck,
    )
    with pytest.raises(DeliveryError, match=r"broker gone; the checkpoint stays before line \d+"):
        asyncio.run(tap.run())
    saved = ck.load()
    assert saved is not None and ck.saves >= 1
    assert saved.lines_before < 2 * 20  # two batches of 10 events cover ~40 lines at most


def test_a_read_only_log_directory_puts_the_checkpoint_in_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logs under /var/log are often read-only to the tap: it must still checkpoint."""
    from monitor.tap import checkpoint as ck

    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "gateway.jsonl"
    log.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert ck.default_path(log) == logs / ".gateway.jsonl.mcpmon-tap.json"  # writable: beside
    real_access = os.access
    monkeypatch.setattr(
        ck.os, "access", lambda p, mode: False if Path(p) == logs else real_access(p, mode)
    )
    moved = ck.default_path(log)
    assert moved.parent == tmp_path / "state" / "mcpmon" / "tap"
    assert moved.name.endswith("-gateway.jsonl.mcpmon-tap.json")
    assert ck.default_path(logs.parent / "other" / "gateway.jsonl") != moved  # keyed by path
    store = ck.CheckpointFile(moved)
    ident = ck.FileIdentity(dev=1, ino=2, head_len=0, head_sha="")
    saved = ck.Checkpoint(str(log), "file://x", ident, offset=0, lines_before=0, delivered=0)
    store.save(saved)  # creates the state dir
    assert store.load() == saved
