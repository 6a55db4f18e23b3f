"""faust_compat.batches: the agent's events off the stream's queue, a batch at a time,
keeping what Faust's stream iterator guaranteed per event."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from monitor.worker import faust_compat, faust_contract


class _Stream:
    """The parts of a Faust stream ``batches`` reads: app, channel (its queue), start/stop."""

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


async def _take(stream: _Stream, most: int, batches: int) -> list[list[int]]:
    got: list[list[int]] = []
    it = faust_compat.batches(stream, most)
    async for batch in it:
        got.append([e.message.offset for e in batch])
        if len(got) == batches:
            break
    await it.aclose()
    return got


def test_events_come_in_order_in_batches_of_at_most_most_and_are_tracked() -> None:
    stream = _Stream()
    for i in range(10):
        stream.queue.put_nowait(_ev(i))
    got = asyncio.run(_take(stream, 4, 3))
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert stream.tracked == list(range(10))  # Faust's stop waits until each is marked done
    assert stream.started and stream.stopped and stream.stopped_iteration == 1


def test_an_event_of_a_previous_generation_is_marked_done_and_not_handed_on() -> None:
    stream = _Stream(generation=3)
    old, new = _ev(0, generation=2), _ev(1, generation=3)
    stream.queue.put_nowait(old)
    stream.queue.put_nowait(new)
    assert asyncio.run(_take(stream, 10, 1)) == [[1]]
    assert old.message.acked and not new.message.acked  # done, never acked through Faust
    assert stream.tracked == [1]


def test_nothing_is_handed_on_while_flow_control_is_suspended() -> None:
    stream = _Stream(active=False)
    events = [_ev(0), _ev(1)]

    async def go() -> list[list[int]]:
        for e in events:
            stream.queue.put_nowait(e)
        it = faust_compat.batches(stream, 10)
        task = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0.05)
        assert not task.done()  # both skipped; waiting for the next event
        stream.active = True
        stream.queue.put_nowait(_ev(2))
        first = await asyncio.wait_for(task, 5)
        await it.aclose()
        return [[e.message.offset for e in first]]

    assert asyncio.run(go()) == [[2]]
    assert all(e.message.acked for e in events)


def test_an_error_thrown_into_the_channel_is_raised() -> None:
    stream = _Stream()
    stream.queue._throw(RuntimeError("agent crashed"))
    with pytest.raises(RuntimeError, match="agent crashed"):
        asyncio.run(_take(stream, 10, 1))


def test_the_contract_names_a_moved_piece_of_the_stream_iterator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from faust.transport.consumer import Consumer

    assert faust_contract.contract_problems() == []
    monkeypatch.delattr(Consumer, "track_message")
    problems = faust_contract.contract_problems()
    assert any("Consumer.track_message" in p for p in problems), problems
