"""Faust's drain loop hands records on without tasks, and a waiting one is still interrupted.

``faust_compat.EagerDrain`` runs the drain loop's per-record callback at once
instead of as one of four tasks; it must change nothing else: every record
handed on in order (the seek tests in test_seek_fence.py run through it too),
and a callback that has to wait (a full stream buffer) is abandoned when a
rebalance suspends the flow, as Faust's ``wait_first`` does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from monitor.settings import Settings
from monitor.worker import faust_compat
from monitor.worker.app import faust_app
from tests.worker.test_seek_fence import END, _drain


def test_records_that_need_no_wait_are_handed_on_without_a_task(tmp_path: Path) -> None:
    made: list[Any] = []
    real = asyncio.ensure_future

    def counting(*args: Any, **kwargs: Any) -> Any:
        made.append(args[0])
        return real(*args, **kwargs)

    asyncio.ensure_future = counting  # type: ignore[assignment]
    try:
        handed = _drain(tmp_path, position=0, committed=None, seek_at=-5)  # no seek
    finally:
        asyncio.ensure_future = real  # type: ignore[assignment]
    assert handed == list(range(END))
    assert made == []  # Faust alone: four per record


async def _blocked(tmp_path: Path) -> tuple[list[str], Any]:
    app = faust_app(Settings(data_dir=str(tmp_path), kafka_bootstrap="127.0.0.1:1"))
    consumer = app.consumer
    steps: list[str] = []
    never = asyncio.get_running_loop().create_future()

    async def callback() -> None:
        steps.append("start")
        try:
            await never  # a full stream buffer
            steps.append("put")
        except asyncio.CancelledError:
            steps.append("abandoned")
            raise

    async def rebalance() -> None:
        await asyncio.sleep(0.05)
        consumer.stop_flow()  # sets suspend_flow

    task = asyncio.ensure_future(rebalance())
    await asyncio.wait_for(consumer.wait_first(callback(), consumer.suspend_flow.wait()), timeout=5)
    await task
    await asyncio.sleep(0)  # let the cancellation reach the callback
    return steps, faust_compat.EagerDrain.install(consumer)


def test_a_callback_that_must_wait_is_abandoned_when_the_flow_is_suspended(
    tmp_path: Path,
) -> None:
    steps, drain = asyncio.run(_blocked(tmp_path))
    assert steps == ["start", "abandoned"]
    assert drain.waited == 1 and drain.eager == 0


def test_other_wait_first_calls_are_faust_s(tmp_path: Path) -> None:
    async def go() -> Any:
        app = faust_app(Settings(data_dir=str(tmp_path), kafka_bootstrap="127.0.0.1:1"))
        consumer = app.consumer

        async def one() -> int:
            return 1

        res = await consumer.wait_first(one(), timeout=1)
        return res, faust_compat.EagerDrain.install(consumer)

    res, drain = asyncio.run(go())
    assert res.results == [1] and drain.eager == drain.waited == 0
