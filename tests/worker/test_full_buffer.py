"""A full stream buffer makes the drain loop wait for room; the partition stays in the fetch.

Faust alone takes a partition out of the fetch once its stream's buffer is
under pressure, and with every partition out its fetch loop sleeps a whole
second however soon the buffer drains: the worker sat idle with a backlog on
the broker (issue 15). ``faust_compat.keep_fetching_when_full`` keeps the
partition in; the conductor's own blocking ``put`` is the back-pressure.
Both through Faust's real conductor handler.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from monitor.settings import Settings
from monitor.worker.app import faust_app

BUFFER = 5


def _message(offset: int) -> Any:
    from faust.types.tuples import Message

    return Message("events", 0, offset, 0.0, 0, [], b"k", b"v", None)


async def _fill(tmp_path: Path) -> tuple[set[Any], list[str]]:
    from faust.transport.conductor import ConductorCompiler
    from faust.types import TP

    app = faust_app(Settings(data_dir=str(tmp_path), kafka_bootstrap="127.0.0.1:1"))
    app.conf.stream_buffer_maxsize = BUFFER
    consumer: Any = app.consumer
    tp = TP("events", 0)
    channel = app.topic("events", key_type=bytes, value_type=bytes).__aiter__()
    consumer._active_partitions = {tp}
    app.flow_control.resume()
    on_message = ConductorCompiler().build(app.topics, tp, {channel})
    steps: list[str] = []
    for offset in range(BUFFER):  # past the pressure mark, up to full: none waits
        await asyncio.wait_for(on_message(_message(offset)), timeout=5)
    active = set(consumer._get_active_partitions())
    one_more = asyncio.ensure_future(on_message(_message(BUFFER)))
    await asyncio.sleep(0.05)
    steps.append("handed on" if one_more.done() else "waiting")
    taken = channel.queue.get_nowait()  # the agent takes one
    steps.append(f"agent took {taken.message.offset}")
    await asyncio.wait_for(one_more, timeout=5)
    steps.append("handed on")
    last = [channel.queue.get_nowait().message.offset for _ in range(channel.queue.qsize())][-1]
    steps.append(f"last in buffer {last}")
    return active, steps


def test_a_full_buffer_keeps_the_partition_in_the_fetch_and_waits_for_room(
    tmp_path: Path,
) -> None:
    from faust.types import TP

    active, steps = asyncio.run(_fill(tmp_path))
    assert active == {TP("events", 0)}  # Faust alone: set(), and a 1 s sleep when all are out
    assert steps == ["waiting", "agent took 0", "handed on", f"last in buffer {BUFFER}"]
