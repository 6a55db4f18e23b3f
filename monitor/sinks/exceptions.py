"""Errors of the SIEM sink, all under the package's one root exception.

An alert that cannot be delivered is not an error for the caller: it is
retried, or dead-lettered when it never can be (:class:`Undeliverable`).
"""

from __future__ import annotations

from monitor.errors import MonitorError


class SinkError(MonitorError):
    """Root of the sink's errors."""


class DeliveryError(SinkError):
    """A delivery that did not happen (or cannot be known to have happened).

    ``permanent``: this alert can never be delivered this way (e.g. too large
    for a datagram); trying again cannot help, so the sink dead-letters it.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Undeliverable(SinkError):
    """This alert cannot be delivered by this transport, however often it is tried."""
