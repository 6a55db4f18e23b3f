"""What every benchmark measures with: a timer and the decode-only baseline.

This machine is shared and noisy, so absolute numbers drift; the ratio to a
baseline doing the unavoidable part of the work (decoding the same bytes) is
what we track. Each round runs the baseline and the subject back to back; the
best round of each is reported (the least disturbed one).

>>> seconds, n = timed(decode_only([b'{"a": 1}', b"[]"]))
>>> n, seconds >= 0
(2, True)
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import orjson

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Wall seconds of one call of ``fn`` (after a collection), and what it returned."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def decode_only(lines: Sequence[bytes]) -> Callable[[], int]:
    """The baseline: ``orjson.loads`` over every line, nothing else; returns the count."""

    def run() -> int:
        loads = orjson.loads
        for raw in lines:
            loads(raw)
        return len(lines)

    return run
