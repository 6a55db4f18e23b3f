"""Bounded exponential backoff, shared by the revoker's actuators and the sink's deliveries.

Attempt *n* (1-based) that failed retryably is followed by a wait of
``min(max_seconds, base_seconds * factor ** (n - 1))``; after ``attempts``
attempts the caller gives up (the revoker acks ``failed``; the sink logs and,
while it runs, keeps trying without committing). Deterministic: no jitter, so
tests and the revoker's worst-case bound (:func:`monitor.revoker.plan.worst_case_seconds`)
are exact.

>>> p = RetryPolicy(attempts=4, base_seconds=0.5, factor=2.0, max_seconds=1.5)
>>> p.schedule()
(0.5, 1.0, 1.5)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    base_seconds: float = 0.5
    factor: float = 2.0
    max_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_seconds < 0 or self.factor < 1 or self.max_seconds < 0:
            raise ValueError(f"invalid retry policy {self!r}")

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after attempt ``failed_attempt`` (1-based) failed retryably."""
        return min(self.max_seconds, self.base_seconds * self.factor ** (failed_attempt - 1))

    def schedule(self) -> tuple[float, ...]:
        """Every wait between attempts, in order (``attempts - 1`` of them)."""
        return tuple(self.delay(n) for n in range(1, self.attempts))

    def should_retry(self, failed_attempt: int, retryable: bool) -> bool:
        return retryable and failed_attempt < self.attempts
