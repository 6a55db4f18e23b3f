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
