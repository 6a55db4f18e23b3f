"""A stop that hangs ends the process anyway; a supervised child dies with its supervisor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from monitor.worker.stopping import EXIT_STOP_TIMED_OUT, StopWatchdog


def test_the_watchdog_ends_the_process_once_the_stop_took_too_long() -> None:
    ended = threading.Event()
    codes: list[int] = []
    dog = StopWatchdog(0.05, exit=lambda code: (codes.append(code), ended.set()))
    dog.start()
    dog.start()  # a second signal changes nothing
    assert ended.wait(5)
    time.sleep(0.1)
    assert codes == [EXIT_STOP_TIMED_OUT]


def test_a_cancelled_or_unstarted_watchdog_does_nothing() -> None:
    codes: list[int] = []
    dog = StopWatchdog(0.05, exit=codes.append)
    dog.cancel()  # not started: fine
    dog.start()
    dog.cancel()
    time.sleep(0.2)
    assert codes == []


def test_a_real_process_whose_stop_hangs_exits_with_the_watchdog_code() -> None:
    """In a process: the timer is a daemon and ``os._exit`` ends it although a non-daemon
    thread (as mode's consumer thread is) still runs."""
    code = textwrap.dedent(
        """
        import asyncio, threading
        from monitor.worker.stopping import StopWatchdog
        threading.Thread(target=threading.Event().wait, daemon=False).start()  # never ends
        asyncio.run(StopWatchdog(0.2).on_stop(object()))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == EXIT_STOP_TIMED_OUT
    assert b"worker_stop_timed_out" in proc.stdout + proc.stderr


def test_die_with_parent_sends_sigterm_when_the_parent_dies(tmp_path: Path) -> None:
    """A parent starts a child with the preexec hook and is SIGKILLed: the child's SIGTERM
    handler runs (it writes a file) and it exits."""
    mark = tmp_path / "got-sigterm"
    child = (
        "import signal, sys, time; "
        f"signal.signal(signal.SIGTERM, lambda *a: (open({str(mark)!r}, 'w').close(), "
        "sys.exit(0))); time.sleep(60)"
    )
    code = textwrap.dedent(
        f"""
        import functools, os, subprocess, sys, time
        from monitor.worker.stopping import die_with_parent
        c = subprocess.Popen([sys.executable, "-c", {child!r}],
                             preexec_fn=functools.partial(die_with_parent, os.getpid()))
        print(c.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], cwd=Path(__file__).parents[2], stdout=subprocess.PIPE
    )
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    time.sleep(0.5)  # the child's handler installed
    assert not mark.exists()
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 10
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mark.exists()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split()[2] == "Z":
                break
        time.sleep(0.05)
