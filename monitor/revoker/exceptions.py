"""Errors of the revoker, all under the package's one root exception.

A *command* that cannot be carried out is not an exception for the caller: it
is acked ``failed`` and raises an alert. :class:`ActuatorError` is what an
actuator raises for one attempt; ``retryable`` says whether another attempt
can help (timeouts, refused connections, 5xx, 429) or not (4xx: the request
itself is wrong, repeating it changes nothing).
"""

from __future__ import annotations

from monitor.errors import MonitorError


class RevokerError(MonitorError):
    """The revoker cannot run as configured (actuators, broker, ledger)."""


class ActuatorError(RevokerError):
    """One attempt of one actuator failed; ``retryable`` says if trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class LedgerUnavailable(RevokerError):
    """The applied-set store did not answer: idempotence cannot be decided, so nothing runs."""
