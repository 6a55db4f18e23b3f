"""``mcpmon worker --processes N``: N worker processes in one consumer group on one host.

A Python worker uses one core; N processes use N (N = the host's CPUs is the
recommended value; the default stays 1). Each child is an ordinary
``mcpmon worker`` with the same settings and charters, except:

- its own state directory, ``MCPMON_DATA_DIR/<i>`` (RocksDB files and
  ``worker.alive`` are per process: two processes never share a store);
- its own metrics port, ``MCPMON_WORKER_METRICS_PORT + i`` (when metrics are on).

They join the same consumer group (``MCPMON_APP_ID``), so Kafka spreads the
input partitions over them as over workers on different hosts: per-partition
order, state handover and the commit rule are unchanged. Have at least as many
partitions as processes, or some idle.

The parent holds no state. It forwards SIGTERM and SIGINT to every child and
waits for them (each stops gracefully: flush, commit, leave the group). If a
child exits on its own, the parent stops the others and exits non-zero (the
orchestrator restarts the whole set; the group rebalances meanwhile). While
all run, it keeps ``MCPMON_DATA_DIR/worker.alive`` as old as the *oldest*
child heartbeat, so the existing health checks stay right: the file goes stale
when any child stops turning.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from monitor.settings import Settings
from monitor.worker.stopping import die_with_parent

HEARTBEAT_FILE = "worker.alive"
POLL_SECONDS = 0.2
STOP_SECONDS = 60.0  # a child still running this long after SIGTERM is killed

log = structlog.get_logger("monitor.worker.supervisor")


def child_env(base: dict[str, str], settings: Settings, index: int) -> dict[str, str]:
    """The environment of child ``index``: its own state dir and metrics port."""
    env = dict(base)
    env["MCPMON_DATA_DIR"] = str(Path(settings.data_dir) / str(index))
    if settings.worker.metrics_port:
        env["MCPMON_WORKER_METRICS_PORT"] = str(settings.worker.metrics_port + index)
    return env


def child_argv(charters: str, loglevel: str, observe: bool) -> list[str]:
    argv = [sys.executable, "-m", "monitor.cli", "worker", "--charters", charters]
    argv += ["--loglevel", loglevel, "--processes", "1"]
    return argv + (["--observe"] if observe else [])


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        processes: int,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError(f"--processes must be at least 1, got {processes}")
        self.settings = settings
        self.n = processes
        self.argv = list(argv)
        self.env = dict(os.environ if env is None else env)
        self.children: list[subprocess.Popen[bytes]] = []
        self.stopping = False

    def start(self) -> None:
        base = self.settings.worker.metrics_port
        if base and base + self.n - 1 > 65535:
            raise ValueError(f"metrics ports {base}..{base + self.n - 1} exceed 65535")
        for i in range(self.n):
            Path(self.settings.data_dir, str(i)).mkdir(parents=True, exist_ok=True)
            # own process group: a terminal's Ctrl-C reaches the parent only, which forwards it once
            # and SIGTERM from the kernel if this supervisor dies, however: never an orphan
            child = subprocess.Popen(
                self.argv,
                env=child_env(self.env, self.settings, i),
                process_group=0,
                preexec_fn=functools.partial(die_with_parent, os.getpid()),
            )
            self.children.append(child)
            log.info("worker_process_started", index=i, pid=child.pid)

    def _forward(self, signum: int, _frame: FrameType | None = None) -> None:
        self.stopping = True
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signum)

    def _mirror_heartbeat(self) -> None:
        """``data_dir/worker.alive`` gets the oldest child heartbeat's time (none: untouched)."""
        times = []
        for i in range(self.n):
            try:
                times.append(Path(self.settings.data_dir, str(i), HEARTBEAT_FILE).stat().st_mtime)
            except FileNotFoundError:
                return  # a child not up yet: the set is not healthy
        path = Path(self.settings.data_dir, HEARTBEAT_FILE)
        path.write_text(f"{min(times):.0f}\n")
        os.utime(path, (min(times), min(times)))

    def wait(self) -> int:
        """Until every child has exited: 0 if they were asked to stop and all stopped cleanly."""
        failed: int | None = None
        stop_at: float | None = None
        while True:
            polled = [c.poll() for c in self.children]
            if all(code is not None for code in polled):
                break
            for i, code in enumerate(polled):
                if code is not None and not self.stopping:
                    log.error(
                        "worker_process_died",
                        index=i,
                        pid=self.children[i].pid,
                        returncode=code,
                        detail="stopping the other worker processes; exit non-zero",
                    )
                    failed = code or 1
                    self._forward(signal.SIGTERM)
            if self.stopping and stop_at is None:
                stop_at = time.monotonic() + STOP_SECONDS
            if stop_at is not None and time.monotonic() > stop_at:
                for c in self.children:
                    if c.poll() is None:
                        log.error("worker_process_killed", pid=c.pid, after_seconds=STOP_SECONDS)
                        c.kill()
            if not self.stopping:
                self._mirror_heartbeat()
            time.sleep(POLL_SECONDS)
        codes = [1 if c.returncode is None else c.returncode for c in self.children]
        log.info("worker_processes_stopped", returncodes=codes)
        if failed is not None:
            return failed
        clean = (0, -signal.SIGTERM, -signal.SIGINT)
        return next((c for c in codes if c not in clean), 0)

    def run(self) -> int:
        previous: dict[signal.Signals, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, self._forward)
        try:
            self.start()
            return self.wait()
        finally:
            self._forward(signal.SIGTERM)  # never leave a child behind
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_processes(
    settings: Settings, charters: str, processes: int, loglevel: str, observe: bool
) -> int:
    from monitor.runtime import configure_logging

    configure_logging(loglevel)
    log.info("worker_processes_starting", processes=processes, data_dir=settings.data_dir)
    return Supervisor(settings, processes, child_argv(charters, loglevel, observe)).run()
