"""Wait for a condition with a deadline, never for a fixed time.

A test that sleeps a guessed time and then asserts passes or fails with the
machine's load; one that waits for the condition it needs is as fast as the
code and fails only when the condition never comes, saying which.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(pred: Callable[[], object], timeout: float, what: str, every: float = 0.02) -> None:
    """Return once ``pred()`` is true; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


async def until(pred: Callable[[], object], timeout: float, what: str, every: float = 0.02) -> None:
    """:func:`wait_until` for a coroutine: the event loop runs on while it waits."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(every)
