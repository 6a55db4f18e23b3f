"""A liveness file for container health checks (revoker, sink, tap; the worker has its own).

``MCPMON_HEARTBEAT_FILE`` names a file that the service's consume loop rewrites at
most every :data:`HEARTBEAT_SECONDS` while it turns; a probe compares its age with a
limit (``mcpmon`` ships no probe command: ``python -c`` on the file's mtime, see
docker-compose.yml and deploy/helm). A loop that is stuck, or a process that is gone,
stops touching it, which "the container runs" and "the metrics port answers" (a
daemon thread) do not show. Empty: off.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

HEARTBEAT_SECONDS = 5.0


class Heartbeat:
    def __init__(
        self,
        path: str,
        every: float = HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path) if path else None
        self.every = every
        self.clock = clock
        self._last: float | None = None

    def beat(self) -> None:
        """Rewrite the file (0600) unless it was rewritten less than ``every`` s ago."""
        if self.path is None:
            return
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            return
        self._last = now
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, f"{time.time():.0f}\n".encode())
        finally:
            os.close(fd)
        os.utime(self.path)
