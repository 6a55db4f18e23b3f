"""monitor/heartbeat.py: rewritten at most every ``every`` seconds, 0600, off when empty."""

from __future__ import annotations

import stat
from pathlib import Path

from monitor.heartbeat import Heartbeat


def test_rewrites_at_most_every_interval_and_privately(tmp_path: Path) -> None:
    now = [100.0]
    path = tmp_path / "sub" / "x.alive"
    hb = Heartbeat(str(path), every=5.0, clock=lambda: now[0])
    hb.beat()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.unlink()
    now[0] = 104.9
    hb.beat()
    assert not path.exists()  # within the interval: no write
    now[0] = 105.0
    hb.beat()
    assert path.exists()


def test_empty_path_is_off() -> None:
    hb = Heartbeat("")
    assert hb.path is None
    hb.beat()  # Path("") would be the working directory: os.open would raise


def test_following_tap_keeps_its_heartbeat_file_fresh(tmp_path: Path) -> None:
    """The tap's loop (idle, following a quiet log) rewrites MCPMON_HEARTBEAT_FILE."""
    import asyncio
    import os

    from monitor.settings import load_settings
    from monitor.tap.build import build_tap
    from tests.waiting import until

    log = tmp_path / "gateway.jsonl"
    log.write_text("")
    beat = tmp_path / "tap.alive"
    settings = load_settings(env={"MCPMON_HEARTBEAT_FILE": str(beat)})
    tap = build_tap(
        settings,
        str(log),
        follow=True,
        to_file=str(tmp_path / "out.jsonl"),
        checkpoint=str(tmp_path / "ck"),
    )

    async def go() -> None:
        task = asyncio.create_task(tap.run())
        try:
            await until(lambda: beat.exists() or task.done(), 30, "heartbeat written")
            assert not task.done()
            assert stat.S_IMODE(beat.stat().st_mode) == 0o600
            first = beat.stat().st_mtime_ns
            os.utime(beat, ns=(first - 10**10, first - 10**10))
            await until(lambda: beat.stat().st_mtime_ns >= first or task.done(), 30, "again")
            assert not task.done()
        finally:
            tap.stop()
            await asyncio.wait_for(task, 30)

    asyncio.run(go())
