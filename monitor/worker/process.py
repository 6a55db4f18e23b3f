"""A ``mcpmon worker`` subprocess: start it, read its JSON log lines, kill or stop it.

Used by the broker integration tests and by ``mcpmon bench kafka``. Settings
go in through the environment (``MCPMON_*``), as in production.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(
        self,
        name: str,
        env: dict[str, str],
        charters: str | Path,
        log_path: Path,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in wait()
        if "--processes" not in extra_args:  # one process unless asked (not one per CPU)
            extra_args = [*extra_args, "--processes", "1"]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "monitor.cli", "worker", "--charters", str(charters)),
                *extra_args,
            ],
            env=env,
            cwd=ROOT if (ROOT / "monitor").is_dir() else None,  # a source checkout
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_bytes().splitlines():
            # every line the worker writes is one JSON object (tests/integration/
            # test_worker_processes.py); anything else (a library's stray print) is skipped
            with contextlib.suppress(orjson.JSONDecodeError):
                rec = orjson.loads(line)
                if isinstance(rec, dict):
                    out.append(rec)
        return out

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def wait_log(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rec in self.logs():
                if pred(rec):
                    return rec
            if not self.alive:
                raise AssertionError(
                    f"worker {self.name} exited ({self.proc.returncode}):\n" + self.tail()
                )
            time.sleep(0.1)
        raise AssertionError(
            f"worker {self.name}: no such log line in {timeout} s:\n" + self.tail()
        )

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        """Until the worker has restored its partitions (its first assignment)."""
        return self.wait_log(lambda r: r.get("event") == "partitions_restored", timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no commit — a crash."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM: graceful shutdown (leaves the group, commits); SIGKILL after ``timeout``."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.wait(10)

    def wait(self, timeout: float) -> None:
        try:
            self.proc.wait(timeout)
        finally:
            self._log.close()
