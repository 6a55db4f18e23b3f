"""faust_compat.batches and fresh: the agent's events off the stream's queue a list at a
time, one event-loop turn per list, keeping what Faust's stream iterator guaranteed per event."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from monitor.worker import faust_compat, faust_contract


class _Stream:
    """The parts of a Faust stream ``events`` reads: app, channel (its queue), start/stop."""

    def __init__(self, generation: int = 3, active: bool = True) -> None:
        self.tracked: list[int] = []
        self.app = SimpleNamespace(
            consumer=SimpleNamespace(track_message=lambda m: self.tracked.append(m.offset)),
            topics=SimpleNamespace(acking_topics={"ev"}),
            flow_control=SimpleNamespace(is_active=lambda: self.active),
            consumer_generation_id=generation,
        )
        self.active = active
        flow = FlowControlEvent()
        flow.resume()
        self.queue: ThrowableQueue = ThrowableQueue(flow_control=flow)
        self.stopped_iteration = 0
        self.channel = SimpleNamespace(queue=self.queue, on_stop_iteration=self._stop_it)
        self.should_stop = False
        self.started = self.stopped = False

    def _stop_it(self) -> None:
        self.stopped_iteration += 1

    async def maybe_start(self) -> bool:
        self.started = True
        return True

    async def stop(self) -> None:
        self.stopped = True

    def service_reset(self) -> None:
        pass


def _ev(offset: int, generation: int = 3) -> Any:
    msg = SimpleNamespace(
        offset=offset, topic="ev", generation_id=generation, tracked=False, acked=False
    )
    return SimpleNamespace(message=msg)


async def _take(stream: _Stream, most: int, n: int) -> list[list[int]]:
    """The lists ``batches`` hands on until ``n`` events came, as offsets."""
    got: list[list[int]] = []
    it = faust_compat.batches(stream, most)
    async for batch in it:
        got.append([e.message.offset for e in batch])
        if sum(map(len, got)) >= n:
            break
    await it.aclose()
    return got


def test_what_the_queue_holds_comes_in_order_in_lists_of_at_most_most_each_tracked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = _Stream()
    for i in range(10):
        stream.queue.put_nowait(_ev(i))
    turns = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float, *a: Any) -> Any:
        turns.append(delay)
        return await real_sleep(delay, *a)

    monkeypatch.setattr(faust_compat.asyncio, "sleep", sleep)
    got = asyncio.run(_take(stream, 4, 10))
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert stream.tracked == list(range(10))  # Faust's stop waits until each is marked done
    assert turns == [0, 0, 0]  # one per list taken from a queue that held events; Faust: 10
    assert stream.started and stream.stopped and stream.stopped_iteration == 1


def test_with_the_queue_empty_the_next_event_to_arrive_comes_alone() -> None:
    stream = _Stream()

    async def go() -> list[list[int]]:
        it = faust_compat.batches(stream, 64)
        task = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0.05)
        assert not task.done()  # waiting for an event
        stream.queue.put_nowait(_ev(7))
        first = await asyncio.wait_for(task, 5)
        for i in (8, 9):
            stream.queue.put_nowait(_ev(i))
        second = await it.__anext__()
        await it.aclose()
        return [[e.message.offset for e in b] for b in (first, second)]

    assert asyncio.run(go()) == [[7], [8, 9]]


def test_fresh_refuses_an_event_of_a_previous_generation_or_with_the_flow_suspended() -> None:
    """Asked by the worker right before each event: a rebalance that starts while it
    handles one event stops the events of the same list behind it."""
    stream = _Stream(generation=3)
    fresh = faust_compat.fresh(stream)
    old, new = _ev(0, generation=2), _ev(1, generation=3)
    assert not fresh(old) and fresh(new)
    stream.active = False  # a rebalance began
    assert not fresh(new)
    stream.active = True
    stream.app.consumer_generation_id = 4  # ... and ended: a new generation
    assert not fresh(new) and fresh(_ev(2, generation=4))


def test_an_error_thrown_into_the_channel_is_raised() -> None:
    stream = _Stream()
    stream.queue.put_nowait(_ev(0))
    stream.queue._throw(RuntimeError("agent crashed"))
    with pytest.raises(RuntimeError, match="agent crashed"):
        asyncio.run(_take(stream, 10, 5))


def test_the_contract_names_a_moved_piece_of_the_stream_iterator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from faust.transport.consumer import Consumer

    assert faust_contract.contract_problems() == []
    monkeypatch.delattr(Consumer, "track_message")
    problems = faust_contract.contract_problems()
    assert any("Consumer.track_message" in p for p in problems), problems


def test_the_stop_faust_throws_into_the_channel_ends_the_lists_without_an_error() -> None:
    """Faust's actor stops an agent by throwing StopAsyncIteration into its channel; raised
    on from an async generator it became RuntimeError and the agent was logged "Crashed"."""
    stream = _Stream()
    stream.queue.put_nowait(_ev(0))

    async def go() -> list[list[int]]:
        got = []
        async for batch in faust_compat.batches(stream, 10):
            got.append([e.message.offset for e in batch])
            stream.queue._throw(StopAsyncIteration())
        return got

    assert asyncio.run(go()) == [[0]]
    assert stream.stopped and stream.stopped_iteration == 1
