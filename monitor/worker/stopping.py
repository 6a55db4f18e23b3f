"""A worker process that was told to stop ends, even when Faust's stop hangs.

Seen (``mcpmon bench kafka --processes 2``): after SIGTERM, one of two worker
processes never exited. Its main thread sat in mode's ``WorkerThread.stop``,
a blocking ``threading.Event.wait()`` inside the event loop, waiting for
Faust's consumer thread; that thread, still stopping aiokafka while the other
process left the group, waited in turn for a call the blocked loop never
ran. Its supervisor killed it 60 s later; a bench or an operator that gave up
on the supervisor first left it running for good, holding its partitions.

The worker's data never depends on a stop finishing: offsets are committed
only after the state they led to is on the broker, so ending the process at
any instant is a crash, which restarts from the last commit (the SIGKILL soak
shows nothing lost or doubled). So:

* :class:`StopWatchdog` ends the process (``os._exit``, exit code
  :data:`EXIT_STOP_TIMED_OUT`) if it is still running ``seconds`` after the stop
  began, with a log line naming what happened. Below the supervisor's and
  Helm's 60 s grace, so the process ends on its own, named, rather than killed.
* :func:`die_with_parent` (a ``preexec_fn``) makes the kernel send a
  supervised worker process SIGTERM when its supervisor dies, however it
  dies: a killed supervisor no longer leaves children behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import structlog

__all__ = ["EXIT_STOP_TIMED_OUT", "STOP_WATCHDOG_SECONDS", "StopWatchdog", "die_with_parent"]

log = structlog.get_logger("monitor.worker")

#: How long a stop may take before the watchdog ends the process. A clean stop
#: (last flush, commit, leave the group) takes about a second.
STOP_WATCHDOG_SECONDS = 30.0
#: The exit code of a process the watchdog ended (EX_SOFTWARE: not a clean stop).
EXIT_STOP_TIMED_OUT = 70

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# the C library's symbols, resolved here: nothing is looked up in a freshly forked child
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class StopWatchdog:
    """Once :meth:`start` is called, ``exit(EXIT_STOP_TIMED_OUT)`` after ``seconds`` unless
    :meth:`cancel` came first. Its timer thread is a daemon: it never holds the process."""

    def __init__(
        self,
        seconds: float = STOP_WATCHDOG_SECONDS,
        exit: Callable[[int], Any] = os._exit,
    ) -> None:
        self.seconds = seconds
        self._exit = exit
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        """Start counting (idempotent)."""
        if self._timer is not None:
            return
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    async def on_stop(self, *_args: Any, **_kwargs: Any) -> None:
        """:meth:`start` as a Faust signal receiver (``app.on_before_shutdown``)."""
        self.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        log.error(
            "worker_stop_timed_out",
            after_seconds=self.seconds,
            detail="the stop did not finish; ending the process. Offsets are committed only "
            "after their state is on the broker: the events since the last commit are "
            "processed again after a restart, as after a crash",
        )
        sys.stdout.flush()
        sys.stderr.flush()
        self._exit(EXIT_STOP_TIMED_OUT)


def die_with_parent(parent: int) -> None:
    """In a child about to exec (``subprocess.Popen(preexec_fn=partial(die_with_parent,
    os.getpid()))``): the kernel sends it SIGTERM when ``parent``, the process that started
    it, dies — also if that happened before this call. Linux only; elsewhere nothing."""
    if _LIBC is None:
        return
    _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # gone between the fork and the prctl
        os.kill(os.getpid(), signal.SIGTERM)
