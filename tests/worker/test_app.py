"""The Faust shell's own settings of aiokafka and the heap, without a broker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from monitor.worker.app import FETCH_MAX_WAIT_MS, fetch_max_wait


def test_fetchers_built_after_the_cap_wait_at_most_fetch_max_wait_ms() -> None:
    from aiokafka.consumer.fetcher import Fetcher

    fetch_max_wait()
    fetch_max_wait()  # idempotent: wraps the original once

    async def build(**kwargs: Any) -> int:
        client = SimpleNamespace(_loop=asyncio.get_running_loop(), _metadata_max_age_ms=300_000)
        subs = SimpleNamespace(register_fetch_waiters=lambda _w: None)
        f = Fetcher(client, subs, **kwargs)
        f._fetch_task.cancel()
        return int(f._fetch_max_wait_ms)

    assert asyncio.run(build(fetch_max_wait_ms=1500)) == FETCH_MAX_WAIT_MS  # Faust's value
    assert asyncio.run(build()) == FETCH_MAX_WAIT_MS
    assert asyncio.run(build(fetch_max_wait_ms=5)) == 5
