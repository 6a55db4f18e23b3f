"""faust_compat.events: the agent's events off the stream's queue with one event-loop
turn per ``turn_every`` events, keeping what Faust's stream iterator guaranteed per event."""

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


async def _take(stream: _Stream, turn_every: int, n: int) -> list[int]:
    got: list[int] = []
    it = faust_compat.events(stream, turn_every)
    async for event in it:
        got.append(event.message.offset)
        if len(got) == n:
            break
    await it.aclose()
    return got


def test_events_come_in_order_each_tracked_with_a_loop_turn_per_turn_every(
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
    assert got == list(range(10))
    assert stream.tracked == list(range(10))  # Faust's stop waits until each is marked done
    assert turns == [0, 0]  # after 4 and after 8 handed on without waiting; Faust: 10
    assert stream.started and stream.stopped and stream.stopped_iteration == 1


def test_an_event_of_a_previous_generation_is_marked_done_and_not_handed_on() -> None:
    stream = _Stream(generation=3)
    old, new = _ev(0, generation=2), _ev(1, generation=3)
    stream.queue.put_nowait(old)
    stream.queue.put_nowait(new)
    assert asyncio.run(_take(stream, 10, 1)) == [1]
    assert old.message.acked and not new.message.acked  # done, never acked through Faust
    assert stream.tracked == [1]


def test_once_the_flow_is_suspended_no_queued_event_is_handed_on() -> None:
    """Checked per event: a rebalance that starts while the worker handles one event
    stops the events queued behind it."""
    stream = _Stream()
    events = [_ev(i) for i in range(4)]

    async def go() -> list[int]:
        for e in events:
            stream.queue.put_nowait(e)
        got = []
        it = faust_compat.events(stream, 100)
        got.append((await it.__anext__()).message.offset)
        stream.active = False  # the rebalance begins while event 0 is handled
        task = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0.05)
        assert not task.done()  # 1..3 skipped; waiting for the next event
        stream.active = True
        stream.queue.put_nowait(_ev(4))
        got.append((await asyncio.wait_for(task, 5)).message.offset)
        await it.aclose()
        return got

    assert asyncio.run(go()) == [0, 4]
    assert [e.message.acked for e in events] == [False, True, True, True]
    assert stream.tracked == [0, 4]


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
