"""Errors of the streaming worker, all under the package's one root exception.

Broker and topic problems are not the worker's own: every service meets them,
so they live in :mod:`monitor.errors` (:class:`~monitor.errors.BrokerError`).
"""

from __future__ import annotations

from monitor.errors import MonitorError


class WorkerError(MonitorError):
    """The worker cannot run as configured (agent-state store)."""
