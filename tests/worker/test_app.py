"""The Faust shell's own logic, without a broker: when state is written and offsets committed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
from faust.streams import current_event

from monitor.charter import load_charter_dir
from monitor.core.policy import CharterSet
from monitor.settings import Settings
from monitor.worker.app import FETCH_MAX_WAIT_MS, WorkerApp, fetch_max_wait
from monitor.worker.processor import Processor
from monitor.worker.store import decode
from tests.worker.support import EXAMPLE_CHARTERS, EXAMPLE_EVENTS


class _Commits:
    """Records commits, and what had been written when each one came."""

    def __init__(self, written: dict[bytes, bytes]) -> None:
        self.written = written
        self.made: list[tuple[dict[int, int], int]] = []  # (partition -> offset, writes so far)

    async def __call__(self, offsets: dict[int, int]) -> bool:
        self.made.append((dict(offsets), len(self.written)))
        return True


class _Event:  # Faust keeps the current event by weak reference
    def __init__(self, partition: int, offset: int) -> None:
        self.message = SimpleNamespace(
            partition=partition, offset=offset, key=None, topic="mcp.events", acked=False
        )


def _event(partition: int, offset: int) -> Any:
    return _Event(partition, offset)


def _app(partitions: list[int]) -> tuple[WorkerApp, dict[bytes, bytes], list[int]]:
    proc = Processor(CharterSet(load_charter_dir(EXAMPLE_CHARTERS)))
    for p in partitions:
        proc.assign(p, {}, now=0.0)
    app = WorkerApp(Settings(), proc)
    written: dict[bytes, bytes] = {}
    contexts: list[int] = []

    def write(partition: int, key: bytes, value: bytes) -> Any:
        ev = current_event()
        contexts.append(-1 if ev is None else ev.message.partition)
        assert decode(value)[0] == partition
        written[key] = value
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)  # the broker has it
        return done

    app._write = write
    app._commit_offsets = commits = _Commits(written)
    app.commits = commits  # type: ignore[attr-defined]
    app.checkpoint.assignment = set(partitions)
    app._fetch_committed = _no_commits
    now = [0.0]
    app.clock = lambda: now[0]
    app.now = now  # type: ignore[attr-defined]
    return app, written, contexts


def _lines() -> list[bytes]:
    return [ln for ln in EXAMPLE_EVENTS.read_bytes().splitlines() if ln.strip()]


async def _no_commits() -> dict[int, int]:
    return {}  # a new group: nothing committed on the broker yet


def _commits(app: WorkerApp) -> list[tuple[dict[int, int], int]]:
    return app.commits.made  # type: ignore[attr-defined,no-any-return]


async def _handle(app: WorkerApp, event: Any, line: bytes) -> None:
    await app.on_message(event.message, line)
    app._last_event[event.message.partition] = event
    app._handled.append(event)


def test_offsets_are_committed_only_after_the_flush_that_writes_their_agents() -> None:
    app, written, contexts = _app([0, 1])
    lines = _lines()[:12]
    agent_of = [orjson.loads(ln)["agent_id"] for ln in lines]
    agents = sorted(set(agent_of))
    part = [agents.index(a) % 2 for a in agent_of]  # an agent's events in one partition

    offset = [part[: i + 1].count(part[i]) - 1 for i in range(len(lines))]  # per partition

    events = [_event(part[i], offset[i]) for i in range(len(lines))]

    async def go() -> None:
        for ev, line in zip(events, lines, strict=True):
            await _handle(app, ev, line)
        assert written == {} and _commits(app) == []  # handled, not yet flushed
        assert not any(ev.message.acked for ev in events)
        await app._flush()

    asyncio.run(go())
    # one commit per flush: per partition, the offset after its last event
    assert _commits(app) == [({0: part.count(0), 1: part.count(1)}, len(written))]
    assert all(ev.message.acked for ev in events)  # Faust's stop need not wait for them
    # each changed agent once, whatever its number of events, in its partition's context
    assert sorted(k.decode() for k in written) == agents
    assert len(contexts) == len(written)
    assert all(p == decode(written[k])[0] for k, p in zip(written, contexts, strict=False))
    assert app._handled == []


def test_events_of_partitions_given_away_are_never_committed() -> None:
    app, written, _ = _app([0, 1])
    lines = _lines()[:6]

    events = [_event(i % 2, i // 2) for i in range(len(lines))]

    async def go() -> None:
        for ev, line in zip(events, lines, strict=True):
            await _handle(app, ev, line)
        tp = SimpleNamespace(topic=app.settings.topic_events, partition=0)
        await app._on_assigned(None, [tp])  # partition 1 went to another worker
        await app._flush()

    asyncio.run(go())
    assert [c for c, _ in _commits(app)] == [{0: 3}]
    assert {decode(v)[0] for v in written.values()} == {0}
    assert all(ev.message.acked for ev in events)  # done with, for Faust's rebalance wait


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


def test_offsets_are_committed_only_once_the_broker_has_their_state_records() -> None:
    app, _, _ = _app([0])
    lines = _lines()[:4]
    pending: list[asyncio.Future[Any]] = []

    def write(partition: int, key: bytes, value: bytes) -> Any:
        fut = asyncio.get_running_loop().create_future()
        pending.append(fut)
        return fut

    app._write = write

    async def go() -> None:
        for i, line in enumerate(lines):
            await _handle(app, _event(0, i), line)
        flush = asyncio.ensure_future(app._flush())
        await asyncio.sleep(0.05)
        assert pending and not flush.done()
        assert _commits(app) == []  # handed to the producer is not enough
        for fut in pending[:-1]:
            fut.set_result(None)
        await asyncio.sleep(0.05)
        assert _commits(app) == []  # one record still in flight
        pending[-1].set_result(None)
        await flush

    asyncio.run(go())
    assert [c for c, _ in _commits(app)] == [{0: 4}]


def test_a_state_record_the_broker_refused_leaves_every_offset_uncommitted() -> None:
    app, _, _ = _app([0])
    lines = _lines()[:3]
    crashed: list[BaseException] = []

    def write(partition: int, key: bytes, value: bytes) -> Any:
        fut = asyncio.get_running_loop().create_future()
        fut.set_exception(RuntimeError("KafkaTimeoutError: batch expired"))
        return fut

    async def crash(exc: BaseException) -> None:
        crashed.append(exc)

    app._write = write
    app.app = SimpleNamespace(should_stop=False, crash=crash)  # type: ignore[assignment]

    async def go() -> None:
        for i, line in enumerate(lines):
            await _handle(app, _event(0, i), line)
        await app._flush()

    asyncio.run(go())
    assert _commits(app) == []
    assert [str(e) for e in crashed] == ["KafkaTimeoutError: batch expired"]


def test_events_of_partitions_not_assigned_are_skipped_and_never_committed() -> None:
    app, _, _ = _app([0])
    app.app = SimpleNamespace(  # type: ignore[assignment]
        assignor=SimpleNamespace(assigned_actives=lambda: [])
    )
    line = EXAMPLE_EVENTS.read_bytes().splitlines()[0]
    ev = _event(3, 7)
    assert asyncio.run(app.on_message(ev.message, line)) is False
    assert app.processor.counters["not_owned_skipped"] == 1
    assert app._handled == []


class _Consumer:
    """What the app uses of Faust's consumer: its record of skipped offsets, seek_wait."""

    def __init__(self, committed: dict[Any, int]) -> None:
        self._gap = {tp: "filled" for tp in committed}
        self.seeks: list[tuple[int, int]] = []

    async def seek_wait(self, offsets: dict[Any, int]) -> None:
        self.seeks.extend((tp.partition, offset) for tp, offset in offsets.items())


def test_a_message_past_a_gap_is_skipped_and_the_partition_sought_back() -> None:
    from faust.types import TP

    app, _, _ = _app([0])
    tp = TP(app.settings.topic_events, 0)
    consumer = _Consumer({tp: 100})

    asked: list[int] = []

    async def committed() -> dict[int, int]:
        asked.append(1)
        return {0: 100}  # the group's commit on the broker

    app._fetch_committed = committed
    app.app = SimpleNamespace(  # type: ignore[assignment]
        _consumer=consumer,
        consumer=consumer,
        assignor=SimpleNamespace(assigned_actives=lambda: [tp]),
    )
    lines = _lines()
    now = [0.0]
    app.clock = lambda: now[0]

    async def go() -> list[bool]:
        handled = []
        for offset in (135, 136):  # the consumer skipped 100..134
            handled.append(await app.on_message(_event(0, offset).message, lines[0]))
        now[0] = 0.5
        await app._reseek_stalled()  # 0.5 s after the seek: not yet
        now[0] = 3.0
        await app._reseek_stalled()  # 3 s: nothing in sequence came, seek again
        for offset in (100, 101):
            handled.append(await app.on_message(_event(0, offset).message, lines[offset - 99]))
        await app._reseek_stalled()
        return handled

    assert asyncio.run(go()) == [False, False, True, True]
    assert consumer.seeks == [(0, 100), (0, 100)]  # at the gap, and when nothing came
    assert consumer._gap == {}  # Faust would count the skipped offsets as acked
    assert len(asked) == 2  # at the assignment, and once more at the gap (logged, a diagnosis)
    counters = app.processor.counters
    assert counters["offset_gaps"] == 1 and counters["offset_gap_skipped"] == 2
    assert counters["offset_gap_reseeks"] == 1 and counters["events"] == 2
    assert app.guard.next_offset[0] == 102 and app.guard.seeking == {}


def test_redelivered_older_offsets_are_in_sequence() -> None:
    app, _, _ = _app([0])
    lines = _lines()

    async def go() -> list[bool]:
        out = [await app.on_message(_event(0, o).message, lines[o]) for o in (5, 6, 7)]
        # a rebalance kept the partition: Faust seeks to the commit (5) and redelivers
        out += [await app.on_message(_event(0, o).message, lines[o]) for o in (5, 6, 7, 8)]
        return out

    assert asyncio.run(go()) == [True] * 7
    assert app.processor.counters["duplicates"] == 3


def test_a_commit_never_moves_back_and_a_new_assignment_starts_afresh() -> None:
    app, _, _ = _app([0])
    lines = _lines()

    async def go() -> None:
        for o in (0, 1, 2):
            await _handle(app, _event(0, o), lines[o])
        await app._flush()
        app.now[0] += 2.0  # type: ignore[attr-defined]
        await app._flush()  # nothing new: no commit
        # a rebalance kept partition 0: Faust redelivers from the group's commit (3)
        tp = SimpleNamespace(topic=app.settings.topic_events, partition=0)
        await app._on_assigned(None, [tp])
        for o in (3, 4):
            await _handle(app, _event(0, o), lines[o])
        await app._flush()  # within a second of the last commit: held back
        assert [c for c, _ in _commits(app)] == [{0: 3}]
        app.now[0] += 0.5  # type: ignore[attr-defined]
        await app._flush(force=True)  # the agent's last flush at a stop

    asyncio.run(go())
    assert [c for c, _ in _commits(app)] == [{0: 3}, {0: 5}]


def test_commits_come_at_most_every_commit_seconds_and_carry_every_flush() -> None:
    app, _, _ = _app([0, 1])
    lines = _lines()

    async def go() -> None:
        await _handle(app, _event(0, 0), lines[0])
        await app._flush()  # first: commits
        await _handle(app, _event(1, 0), lines[1])
        app.now[0] += 0.2  # type: ignore[attr-defined]
        await app._flush()  # held back
        await _handle(app, _event(0, 1), lines[2])
        app.now[0] += 0.9  # type: ignore[attr-defined]
        await app._flush()  # 1.1 s after the first: both flushes' offsets

    asyncio.run(go())
    assert [c for c, _ in _commits(app)] == [{0: 1}, {0: 2, 1: 1}]


def test_without_the_broker_s_commit_the_partition_goes_on_unchecked() -> None:
    app, _, _ = _app([0])
    lines = _lines()
    calls: list[int] = []

    async def unreachable() -> dict[int, int]:
        calls.append(1)
        raise OSError("broker unreachable")

    app._fetch_committed = unreachable

    async def go() -> list[bool]:
        return [await app.on_message(_event(0, o).message, lines[o - 40]) for o in (40, 41)]

    assert asyncio.run(go()) == [True, True]
    assert calls == [1]  # asked once per assignment, not per message
    assert app.guard.next_offset[0] == 42
