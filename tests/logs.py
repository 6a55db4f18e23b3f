"""Leaving no logging configuration behind a test (``tests/conftest.py`` calls this after each).

Why a reset of structlog's defaults is not enough: a service command run
in-process (``main(["sink", ...])``, ``main(["revoker", ...])``) calls
:func:`monitor.runtime.configure_logging`, which caches every module-level
logger on its first use (``cache_logger_on_first_use``), pinning that logger
to the processor list and level filter configured *then*. A later
:func:`structlog.testing.capture_logs` edits the processor list configured
*now*, which a logger pinned under an earlier configuration never reads: its
line goes to a stale stream, uncaptured (under xdist, whichever tests shared
the worker decided whether ``policy_would_refuse`` was seen). So besides the
defaults, every module logger of the package is un-pinned: its next use builds
a logger from the configuration in force.
"""

from __future__ import annotations

import sys

import structlog
from structlog._config import BoundLoggerLazyProxy


def reset_structlog() -> None:
    """structlog's defaults, and no ``monitor.*`` module logger cached."""
    structlog.reset_defaults()
    for name, module in list(sys.modules.items()):
        if name != "monitor" and not name.startswith("monitor."):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, BoundLoggerLazyProxy):
                vars(value).pop("bind", None)  # the cached ``finalized_bind``, if any


__all__ = ["reset_structlog"]
