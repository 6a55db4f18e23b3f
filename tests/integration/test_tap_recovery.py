"""Kill the tap (SIGKILL) mid-file and restart it: nothing lost, checkpoint never ahead.

The tap follows a growing file in a subprocess with small batches; while it
works through a large append it is killed without warning. The checkpoint it
left must not run ahead of what the broker has: every request before it has
its event in the topic (or its dead letter). A restart from that checkpoint
then delivers the rest, so every event arrives at least once; copies of an
event delivered twice (the re-read overlap) are identical, which is what
lets the monitor drop them by ``event_id``.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import orjson

from monitor.kafka_io import read_topics
from tests.integration.workers import Run
from tests.tap.support import ROOT, WRAPPED_MAPPING, wrapped_traffic
from tests.waiting import wait_until


def _tap(run: Run, tmp: Path, *args: str, log: str) -> subprocess.Popen[bytes]:
    env = run.env(MCPMON_TAP_BATCH_RECORDS="40", MCPMON_TAP_POLL_SECONDS="0.05")
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "tap", *args],
        env=env,
        cwd=ROOT,
        stdout=open(tmp / f"{log}.out", "wb"),
        stderr=subprocess.STDOUT,
    )


def _read_checkpoint(path: Path) -> dict | None:
    try:
        return orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


def _lines_before(path: Path) -> int:
    return int((_read_checkpoint(path) or {}).get("lines_before", 0))


def test_sigkill_mid_file_then_restart_loses_nothing(run: Run, tmp_path: Path) -> None:
    traffic = wrapped_traffic(9000)
    head = 1000  # lines there when the tap starts; the rest is appended while it runs
    src, ckp = tmp_path / "gw.jsonl", tmp_path / "ck.json"
    src.write_bytes(b"".join(x + b"\n" for x in traffic.lines[:head]))
    (tmp_path / "map.yaml").write_text(WRAPPED_MAPPING)
    args = [str(src), "--format", "jsonrpc", "--mapping", str(tmp_path / "map.yaml")]
    args += ["--checkpoint", str(ckp), "--source-name", "gw"]

    first = _tap(run, tmp_path, *args, "--follow", log="first")
    try:
        wait_until(lambda: _lines_before(ckp) > 0, 60, "a checkpoint")
        with open(src, "ab") as f:
            f.write(b"".join(x + b"\n" for x in traffic.lines[head:]))
        # at work on the appended lines: its checkpoint has moved past the first head
        wait_until(lambda: _lines_before(ckp) > head, 60, "a checkpoint in the appended part")
        assert first.poll() is None, (tmp_path / "first.out").read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    ck = _read_checkpoint(ckp)
    assert ck is not None
    assert ck["lines_before"] < len(traffic.lines), "killed too late to be mid-file"

    def read(want_lines: set[int]) -> tuple[dict[int, list[bytes]], set[int]]:
        recs = asyncio.run(
            read_topics(
                run.bootstrap,
                [run.topics["events"], run.topics["deadletter"]],
                until=lambda rs: (
                    want_lines
                    <= {
                        orjson.loads(r.value)["args"]["line"]
                        for r in rs
                        if r.topic == run.topics["events"]
                    }
                ),
                timeout=30,
                settle=0.5,
            )
        )
        events: dict[int, list[bytes]] = defaultdict(list)
        for r in recs:
            if r.topic == run.topics["events"]:
                events[orjson.loads(r.value)["args"]["line"]].append(r.value)
        dead = {orjson.loads(r.value)["line"] for r in recs if r.topic == run.topics["deadletter"]}
        return events, dead

    # the checkpoint never runs ahead of delivery: everything before it is in Kafka
    behind = {n for n in traffic.requests if n <= ck["lines_before"]}
    events, dead = read(behind)
    missing = behind - set(events)
    assert not missing, (
        f"checkpoint at line {ck['lines_before'] + 1} but {len(missing)} events lost"
    )
    assert {n for n in traffic.dead if n <= ck["lines_before"]} <= dead

    second = _tap(run, tmp_path, *args, log="second")
    assert second.wait(60) == 0, (tmp_path / "second.out").read_text()
    events, dead = read(set(traffic.requests))

    assert set(events) == set(traffic.requests)  # every event at least once
    assert dead == traffic.dead
    for n, copies in events.items():
        assert len(set(copies)) == 1, f"line {n} delivered with different contents"
        e = orjson.loads(copies[0])
        assert (e["agent_id"], e["outcome"]) == traffic.requests[n]
    final = _read_checkpoint(ckp)
    assert final is not None and final["offset"] == src.stat().st_size
