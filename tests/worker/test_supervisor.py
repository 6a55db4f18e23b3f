"""The ``--processes`` parent without a broker: per-child dirs and ports, signals, a dead child."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from monitor.settings import Settings, WorkerSettings
from monitor.worker.supervisor import Supervisor, child_env

# A stand-in child: records its pid and env, exits 3 if its data dir ends in FAIL_INDEX,
# else runs until SIGTERM and exits 0 (as a worker's graceful stop does).
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    d = os.environ["MCPMON_DATA_DIR"]
    open(os.path.join(d, "child"), "w").write(
        f"{os.getpid()} {os.environ.get('MCPMON_WORKER_METRICS_PORT', '')}")
    if d.endswith(os.sep + os.environ.get("FAIL_INDEX", "-")):
        time.sleep(0.5); sys.exit(3)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    while True:
        open(os.path.join(d, "worker.alive"), "w").write("x"); time.sleep(0.1)
    """
)


def test_each_child_has_its_own_state_dir_and_metrics_port(tmp_path: Path) -> None:
    s = Settings(data_dir=str(tmp_path), worker=WorkerSettings(metrics_port=9464))
    envs = [child_env({"A": "1"}, s, i) for i in range(3)]
    assert [e["MCPMON_DATA_DIR"] for e in envs] == [str(tmp_path / str(i)) for i in range(3)]
    assert [e["MCPMON_WORKER_METRICS_PORT"] for e in envs] == ["9464", "9465", "9466"]
    assert all(e["A"] == "1" for e in envs)
    off = child_env({}, Settings(data_dir=str(tmp_path), worker=WorkerSettings(metrics_port=0)), 1)
    assert "MCPMON_WORKER_METRICS_PORT" not in off  # metrics stay off


def test_processes_must_be_at_least_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Supervisor(Settings(data_dir=str(tmp_path)), 0, ["true"])


def _parent(tmp_path: Path, fail: str) -> subprocess.Popen[bytes]:
    code = textwrap.dedent(
        f"""
        import sys
        from monitor.settings import Settings, WorkerSettings
        from monitor.worker.supervisor import Supervisor
        s = Settings(data_dir={str(tmp_path)!r}, worker=WorkerSettings(metrics_port=9500))
        sys.exit(Supervisor(s, 2, [sys.executable, "-c", {CHILD!r}],
                 env={{"FAIL_INDEX": {fail!r}, "PATH": ""}}).run())
        """
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[2])


def _wait(pred, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _pids(tmp_path: Path) -> list[int]:
    return [int((tmp_path / str(i) / "child").read_text().split()[0]) for i in range(2)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_sigterm_is_forwarded_and_a_clean_stop_exits_zero(tmp_path: Path) -> None:
    parent = _parent(tmp_path, fail="-")
    _wait(lambda: all((tmp_path / str(i) / "worker.alive").exists() for i in range(2)))
    _wait(lambda: (tmp_path / "worker.alive").exists())  # the parent mirrors the heartbeat
    pids = _pids(tmp_path)
    ports = [(tmp_path / str(i) / "child").read_text().split()[1] for i in range(2)]
    assert ports == ["9500", "9501"]
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(20) == 0
    assert not any(_alive(p) for p in pids)


def test_a_child_that_dies_stops_the_others_and_the_parent_exits_non_zero(
    tmp_path: Path,
) -> None:
    parent = _parent(tmp_path, fail="1")
    _wait(lambda: all((tmp_path / str(i) / "child").exists() for i in range(2)))
    pids = _pids(tmp_path)
    assert parent.wait(20) == 3  # the dead child's code
    assert not any(_alive(p) for p in pids)


def test_a_killed_supervisor_leaves_no_child_behind(tmp_path: Path) -> None:
    """SIGKILL gives the supervisor no chance to forward anything: the kernel's parent-death
    signal stops its children (seen before: a bench gave up on a supervisor whose child hung,
    and the child ran on, holding its partitions)."""
    parent = _parent(tmp_path, fail="-")
    _wait(lambda: all((tmp_path / str(i) / "child").exists() for i in range(2)))
    pids = _pids(tmp_path)
    parent.kill()
    parent.wait(10)
    _wait(lambda: not any(_alive(p) for p in pids))
