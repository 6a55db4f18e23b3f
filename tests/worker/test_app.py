"""The Faust shell's own logic, without a broker: when state is written and offsets committed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
from faust.streams import current_event

from monitor.charter import load_charter_dir
from monitor.core.policy import CharterSet
from monitor.settings import Settings, WorkerSettings, load_settings
from monitor.worker.app import FETCH_MAX_WAIT_MS, Ports, WorkerApp, faust_app
from monitor.worker.processor import Processor
from monitor.worker.store import decode
from tests.waiting import until
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
    def __init__(self, partition: int, offset: int, value: bytes | None = None) -> None:
        self.message = SimpleNamespace(
            partition=partition, offset=offset, key=None, topic="mcp.events", acked=False
        )
        self.value = value


def _event(partition: int, offset: int, value: bytes | None = None) -> Any:
    return _Event(partition, offset, value)


class Kafka:
    """The worker's :class:`Ports`, recorded: state writes (in which event context),
    commits, seeks, sends; what the broker has committed; the assigned partitions."""

    def __init__(self, assigned: set[int]) -> None:
        self.written: dict[bytes, bytes] = {}
        self.contexts: list[int] = []
        self.commits = _Commits(self.written)
        self.group: dict[int, int] = {}  # the group's commit on the broker
        self.asked = 0
        self.unreachable = False
        self.seeks: list[tuple[int, int]] = []
        self.sent: list[tuple[str, bytes | None]] = []
        self.values: list[bytes | None] = []  # what each of ``sent`` carried
        self.assigned = assigned
        self.crashed: list[BaseException] = []
        self.write: Any = self._write

    def ports(self) -> Ports:
        async def send(topic: str, key: Any, value: Any, callback: Any) -> None:
            self.sent.append((topic, key))
            self.values.append(value)

        async def seek(partition: int, offset: int) -> None:
            self.seeks.append((partition, offset))

        async def crash(exc: BaseException) -> None:
            self.crashed.append(exc)

        return Ports(
            write_state=lambda p, k, v: self.write(p, k, v),
            commit=self.commits,
            committed=self._committed,
            seek=seek,
            send=send,
            assigned=lambda: set(self.assigned),
            crash=crash,
        )

    def _write(self, partition: int, key: bytes, value: bytes) -> Any:
        ev = current_event()
        self.contexts.append(-1 if ev is None else ev.message.partition)
        assert decode(value)[0] == partition
        self.written[key] = value
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)  # the broker has it
        return done

    async def _committed(self) -> dict[int, int]:
        self.asked += 1
        if self.unreachable:
            raise OSError("broker unreachable")
        return dict(self.group)


def _app(
    partitions: list[int], clock: Any = None, **settings: Any
) -> tuple[WorkerApp, dict[bytes, bytes], list[int]]:
    proc = Processor(CharterSet(load_charter_dir(EXAMPLE_CHARTERS)))
    for p in partitions:
        proc.assign(p, {}, now=0.0)
    kafka = Kafka(set(partitions))
    now = [0.0]
    clock = clock or (lambda: now[0])
    app = WorkerApp(load_settings(settings, env={}), proc, clock=clock, ports=kafka.ports())
    app.checkpoint.reassigned(set(partitions))  # as the assignment would
    app.kafka = kafka  # type: ignore[attr-defined]
    app.now = now  # type: ignore[attr-defined]
    return app, kafka.written, kafka.contexts


def _kafka(app: WorkerApp) -> Kafka:
    return app.kafka  # type: ignore[attr-defined,no-any-return]


def _lines() -> list[bytes]:
    return [ln for ln in EXAMPLE_EVENTS.read_bytes().splitlines() if ln.strip()]


def _commits(app: WorkerApp) -> list[tuple[dict[int, int], int]]:
    return _kafka(app).commits.made


async def _handle(app: WorkerApp, event: Any, line: bytes) -> None:
    event.value = line
    await app.take(event)  # what the agent does with each event of its stream


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
        await app.flush()

    asyncio.run(go())
    # one commit per flush: per partition, the offset after its last event
    assert _commits(app) == [({0: part.count(0), 1: part.count(1)}, len(written))]
    assert all(ev.message.acked for ev in events)  # Faust's stop need not wait for them
    # each changed agent once, whatever its number of events, in its partition's context
    assert sorted(k.decode() for k in written) == agents
    assert len(contexts) == len(written)
    assert all(p == decode(written[k])[0] for k, p in zip(written, contexts, strict=False))
    assert app.unflushed == 0


def test_events_of_partitions_given_away_are_never_committed() -> None:
    app, written, _ = _app([0, 1])
    lines = _lines()[:6]

    events = [_event(i % 2, i // 2) for i in range(len(lines))]

    async def go() -> None:
        for ev, line in zip(events, lines, strict=True):
            await _handle(app, ev, line)
        tp = SimpleNamespace(topic=app.settings.topic_events, partition=0)
        await app.on_partitions_assigned(None, [tp])  # partition 1 went to another worker
        await app.flush()

    asyncio.run(go())
    assert [c for c, _ in _commits(app)] == [{0: 3}]
    assert {decode(v)[0] for v in written.values()} == {0}
    assert all(ev.message.acked for ev in events)  # done with, for Faust's rebalance wait


def test_the_fetch_wait_and_minimum_are_set_for_the_worker_s_consumer_only(tmp_path: Any) -> None:
    import aiokafka
    from aiokafka.consumer.fetcher import Fetcher

    def built(settings: Settings) -> tuple[int, int]:
        """(fetch_max_wait_ms, fetch_min_bytes) of the aiokafka consumer the app builds."""
        app = faust_app(settings)

        async def build() -> Any:
            return app.consumer._thread._create_consumer(loop=asyncio.get_running_loop())

        consumer = asyncio.run(build())
        return int(consumer._fetch_max_wait_ms), int(consumer._fetch_min_bytes)

    init = Fetcher.__init__
    base = {"data_dir": str(tmp_path), "kafka_bootstrap": "127.0.0.1:1"}
    # Faust builds it with 1,500 ms and 1 byte; MCPMON_WORKER_FETCH_MIN_BYTES is 16 KiB
    assert built(Settings(**base)) == (FETCH_MAX_WAIT_MS, 16_384)
    assert built(Settings(**base, worker=WorkerSettings(fetch_min_bytes=1))) == (
        FETCH_MAX_WAIT_MS,
        1,
    )
    assert Fetcher.__init__ is init  # nothing global patched: other consumers keep theirs

    async def other() -> tuple[int, int]:
        c = aiokafka.AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
        return int(c._fetch_max_wait_ms), int(c._fetch_min_bytes)

    assert asyncio.run(other()) == (500, 1)  # aiokafka's defaults, untouched


def test_offsets_are_committed_only_once_the_broker_has_their_state_records() -> None:
    app, _, _ = _app([0])
    lines = _lines()[:4]
    pending: list[asyncio.Future[Any]] = []

    def write(partition: int, key: bytes, value: bytes) -> Any:
        fut = asyncio.get_running_loop().create_future()
        pending.append(fut)
        return fut

    _kafka(app).write = write

    async def go() -> None:
        for i, line in enumerate(lines):
            await _handle(app, _event(0, i), line)
        flush = asyncio.ensure_future(app.flush())
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
    crashed = _kafka(app).crashed

    def write(partition: int, key: bytes, value: bytes) -> Any:
        fut = asyncio.get_running_loop().create_future()
        fut.set_exception(RuntimeError("KafkaTimeoutError: batch expired"))
        return fut

    _kafka(app).write = write

    async def go() -> None:
        for i, line in enumerate(lines):
            await _handle(app, _event(0, i), line)
        await app.flush()

    asyncio.run(go())
    assert _commits(app) == []
    assert [str(e) for e in crashed] == ["KafkaTimeoutError: batch expired"]


def test_events_of_partitions_not_assigned_are_skipped_and_never_committed() -> None:
    app, _, _ = _app([0])
    _kafka(app).assigned = set()
    line = EXAMPLE_EVENTS.read_bytes().splitlines()[0]
    ev = _event(3, 7)
    assert asyncio.run(app.on_message(ev.message, line)) is False
    assert app.processor.counters["not_owned_skipped"] == 1
    assert app.unflushed == 0


def test_a_message_past_a_gap_is_skipped_and_the_partition_sought_back() -> None:
    app, _, _ = _app([0])
    kafka = _kafka(app)
    kafka.group = {0: 100}  # the group's commit on the broker
    lines = _lines()
    now = app.now  # type: ignore[attr-defined]

    async def go() -> list[bool]:
        handled = []
        for offset in (135, 136):  # the consumer skipped 100..134
            handled.append(await app.on_message(_event(0, offset).message, lines[0]))
        now[0] = 0.5
        await app.reseek_stalled()  # 0.5 s after the seek: not yet
        now[0] = 3.0
        await app.reseek_stalled()  # 3 s: nothing in sequence came, seek again
        for offset in (100, 101):
            handled.append(await app.on_message(_event(0, offset).message, lines[offset - 99]))
        await app.reseek_stalled()
        return handled

    assert asyncio.run(go()) == [False, False, True, True]
    assert kafka.seeks == [(0, 100), (0, 100)]  # at the gap, and when nothing came
    assert kafka.asked == 2  # at the assignment, and once more at the gap (logged, a diagnosis)
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
        await app.flush()
        app.now[0] += 2.0  # type: ignore[attr-defined]
        await app.flush()  # nothing new: no commit
        # a rebalance kept partition 0: Faust redelivers from the group's commit (3)
        tp = SimpleNamespace(topic=app.settings.topic_events, partition=0)
        await app.on_partitions_assigned(None, [tp])
        for o in (3, 4):
            await _handle(app, _event(0, o), lines[o])
        await app.flush()  # within a second of the last commit: held back
        assert [c for c, _ in _commits(app)] == [{0: 3}]
        app.now[0] += 0.5  # type: ignore[attr-defined]
        await app.flush(force=True)  # the agent's last flush at a stop

    asyncio.run(go())
    assert [c for c, _ in _commits(app)] == [{0: 3}, {0: 5}]


def test_commits_come_at_most_every_commit_seconds_and_carry_every_flush() -> None:
    app, _, _ = _app([0, 1])
    lines = _lines()

    async def go() -> None:
        await _handle(app, _event(0, 0), lines[0])
        await app.flush()  # first: commits
        await _handle(app, _event(1, 0), lines[1])
        app.now[0] += 0.2  # type: ignore[attr-defined]
        await app.flush()  # held back
        await _handle(app, _event(0, 1), lines[2])
        app.now[0] += 0.9  # type: ignore[attr-defined]
        await app.flush()  # 1.1 s after the first: both flushes' offsets

    asyncio.run(go())
    assert [c for c, _ in _commits(app)] == [{0: 1}, {0: 2, 1: 1}]


def test_without_the_broker_s_commit_the_partition_goes_on_unchecked() -> None:
    app, _, _ = _app([0])
    lines = _lines()
    _kafka(app).unreachable = True

    async def go() -> list[bool]:
        return [await app.on_message(_event(0, o).message, lines[o - 40]) for o in (40, 41)]

    assert asyncio.run(go()) == [True, True]
    assert _kafka(app).asked == 1  # asked once per assignment, not per message
    assert app.guard.next_offset[0] == 42


# ------------------------------------------------------------------ the real agent
def _ticking() -> Any:
    """A clock that moves 10 s per reading: every flush's commit is due."""
    t = [0.0]

    def clock() -> float:
        t[0] += 10.0
        return t[0]

    return clock


def _agent_run(
    tmp_path: Any, puts: list[tuple[int, bytes]], flush_events: int
) -> tuple[WorkerApp, list[Any]]:
    """The worker's own agent (Faust's test context for its stream), fed ``puts``
    (partition, line); returns once it has taken them all and stopped."""
    app, _, _ = _app(
        [0], clock=_ticking(), worker_flush_events=flush_events, data_dir=str(tmp_path)
    )
    taken = ("events", "duplicates", "not_owned_skipped")
    events: list[Any] = []

    async def go() -> None:
        async with app.agent.test_context() as agent:
            for partition, line in puts:
                events.append(await agent.put(line, partition=partition, wait=False))
            await until(
                lambda: sum(app.processor.counters[k] for k in taken) == len(puts),
                10,
                "the agent took every event",
            )
            _kafka(app).seen_before_stop = list(_commits(app))  # type: ignore[attr-defined]

    asyncio.run(go())
    return app, events


def test_the_agent_flushes_every_flush_events_and_once_more_when_it_stops(
    tmp_path: Any,
) -> None:
    lines = _lines()[:7]
    app, events = _agent_run(tmp_path, [(0, ln) for ln in lines], flush_events=3)
    before_stop = _kafka(app).seen_before_stop  # type: ignore[attr-defined]
    # two flushes of 3 while running, each committing what it wrote
    assert [c for c, _ in before_stop] == [{0: 3}, {0: 6}]
    # the stop flushed the 7th event's state and committed it
    assert [c for c, _ in _commits(app)] == [{0: 3}, {0: 6}, {0: 7}]
    writes_at = [n for _, n in _commits(app)]
    assert 0 < writes_at[0] <= writes_at[1] <= writes_at[2] == len(_kafka(app).written)
    assert all(e.message.acked for e in events)  # Faust's stop does not wait on any
    assert app.unflushed == 0


def test_the_agent_skips_a_partition_it_does_not_own_and_never_commits_it(
    tmp_path: Any,
) -> None:
    lines = _lines()[:3]
    # Faust's test context numbers offsets across partitions: 0 and 1 on partition 0, 2 on 2
    app, events = _agent_run(
        tmp_path, [(0, lines[0]), (0, lines[1]), (2, lines[2])], flush_events=100
    )
    assert app.processor.counters["not_owned_skipped"] == 1
    assert _kafka(app).seen_before_stop == []  # type: ignore[attr-defined]  # below the threshold
    assert [c for c, _ in _commits(app)] == [{0: 2}]  # the stop's flush: partition 0 only
    assert all(e.message.acked for e in events)


def test_the_events_topic_hands_on_key_and_value_as_the_broker_gave_them(
    tmp_path: Any, monkeypatch: Any
) -> None:
    """Each message becomes one event with the message's own key and value objects (bytes,
    None stays None for the processor to dead-letter), without Faust's serializer
    registry: a codec lookup per key and value was a tenth of the shell's per-event time."""
    from faust.serializers.registry import Registry
    from faust.types.tuples import Message

    def no_codec(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the events topic went through the serializer registry")

    monkeypatch.setattr(Registry, "loads_key", no_codec)
    monkeypatch.setattr(Registry, "loads_value", no_codec)
    app, _, _ = _app([0], data_dir=str(tmp_path))
    key, value = b"spiffe://corp/agents/a", b'{"type":"tool_call"}'

    async def go() -> list[Any]:
        got = []
        for k, v in ((key, value), (None, None), (b"k", b"")):
            msg = Message(app.settings.topic_events, 0, 7, 0.0, 0, [], k, v, None)
            event = await app.events.decode(msg, propagate=True)
            assert event.message is msg
            got.append((event.key, event.value))
        return got

    got = asyncio.run(go())
    assert got[0][0] is key and got[0][1] is value
    assert got[1:] == [(None, None), (b"k", b"")]


# ------------------------------------------------------------------ events a list at a time
def _outputs(app: WorkerApp) -> list[tuple[str, bytes | None, bytes | None]]:
    kafka = _kafka(app)
    return [(t, k, v) for (t, k), v in zip(kafka.sent, kafka.values, strict=True)]


def test_a_list_of_events_gives_what_the_same_events_one_at_a_time_give() -> None:
    lines = _lines()
    one, _, _ = _app([0])
    many, _, _ = _app([0])
    _kafka(one).group = _kafka(many).group = {0: 0}

    async def go() -> None:
        for o, line in enumerate(lines):
            await _handle(one, _event(0, o), line)
        await one.flush(force=True)
        batch = [_event(0, o, line) for o, line in enumerate(lines)]
        for i in range(0, len(batch), 5):  # lists of 5, as the queue hands them on
            await many.take_batch(batch[i : i + 5])
        await many.flush(force=True)

    asyncio.run(go())
    assert _outputs(many) == _outputs(one) and _outputs(one)  # same records, same order
    assert _kafka(many).written == _kafka(one).written  # same states
    assert [c for c, _ in _commits(many)] == [c for c, _ in _commits(one)] == [{0: len(lines)}]
    assert many.processor.counters == one.processor.counters


def test_in_a_list_an_event_past_a_gap_is_skipped_and_sought_back_as_alone() -> None:
    app, _, _ = _app([0])
    kafka = _kafka(app)
    kafka.group = {0: 0}
    lines = _lines()
    events = [_event(0, o, lines[o]) for o in (0, 1, 5, 6, 2)]  # 2..4 skipped, then 2 comes

    asyncio.run(app.take_batch(events))
    assert kafka.seeks == [(0, 2)]  # once, at the first message past the gap
    counters = app.processor.counters
    assert counters["offset_gaps"] == 1 and counters["offset_gap_skipped"] == 2
    assert counters["events"] + counters["duplicates"] == 3  # 0, 1 and 2
    assert app.guard.next_offset[0] == 3
    assert [e.message.offset for e in app._handled] == [0, 1, 2]
    assert all(e.message.acked for e in events if e.message.offset in (5, 6))  # done, unhandled


def test_an_event_no_longer_fresh_when_its_turn_comes_is_done_not_handled() -> None:
    """A rebalance may begin while the worker awaits inside a list (here: publishing the
    outputs of the first event); the events behind it are then not handled."""
    app, _, _ = _app([0])
    kafka = _kafka(app)
    kafka.group = {0: 0}
    probe = orjson.dumps(
        {
            "type": "tool_call",
            "event_id": "probe",
            "ts": orjson.loads(_lines()[0])["ts"],
            "agent_id": "spiffe://corp/agents/unknown-probe",
            "server": "shell",
            "tool": "exec",
            "credential_id": "c1",
            "outcome": "ok",
        }
    )
    events = [_event(0, 0, probe)] + [_event(0, o, ln) for o, ln in enumerate(_lines()[1:4], 1)]

    def fresh(event: Any) -> bool:
        return not kafka.sent  # suspended once the first event's outputs were handed on

    async def go() -> None:
        await app.take_batch(events, fresh)
        await app.flush(force=True)

    asyncio.run(go())
    assert kafka.sent  # the first event was handled and published
    assert [e.message.offset for e in events if e.message.acked] == [0, 1, 2, 3]
    assert app.processor.counters["events"] == 1
    assert [c for c, _ in _commits(app)] == [{0: 1}]  # only what was handled


def test_the_agent_logs_its_stats_when_it_stops(tmp_path: Any) -> None:
    """The last stats line (GC pauses, counters) comes at the stop: a run shorter than the
    stats timer still reports them (mcpmon bench kafka reads its longest GC pause there)."""
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        _agent_run(tmp_path, [(0, ln) for ln in _lines()[:3]], flush_events=100)
    stats = [r for r in logs if r["event"] == "stats"]
    assert len(stats) == 1 and stats[0]["events"] == 3
    assert {f"gc{g}_max_ms" for g in range(3)} <= set(stats[0])


def test_each_flush_offers_the_freezer_a_freeze_after_its_commit() -> None:
    app, _, _ = _app([0])
    asked: list[int] = []  # commits made when the freezer was asked

    class Freezer:
        def maybe_freeze(self) -> bool:
            asked.append(len(_commits(app)))
            return False

    app.freezer = Freezer()  # type: ignore[assignment]

    async def go() -> None:
        await _handle(app, _event(0, 0), _lines()[0])
        await app.flush()
        await app.flush()

    asyncio.run(go())
    assert asked == [1, 1]


def _probe(agent: str, event_id: str) -> bytes:
    return orjson.dumps(
        {
            "type": "tool_call",
            "event_id": event_id,
            "ts": orjson.loads(_lines()[0])["ts"],
            "agent_id": agent,
            "server": "fleet",
            "tool": "list_hosts",
            "outcome": "ok",
        }
    )


def test_a_flush_writes_in_chunks_and_what_is_handled_meanwhile_waits_for_the_next() -> None:
    from monitor.worker.app import FLUSH_CHUNK_AGENTS

    app, written, _ = _app([0])
    _kafka(app).group = {0: 0}
    n = 2 * FLUSH_CHUNK_AGENTS + 5
    agents = [f"spiffe://corp/agents/a{i}" for i in range(n + 1)]

    async def go() -> tuple[int, int]:
        for o in range(n):
            await _handle(app, _event(0, o), _probe(agents[o], f"e{o}"))
        flush = asyncio.ensure_future(app.flush())
        await asyncio.sleep(0)  # the flush runs to its first turn of the loop
        first_chunk = len(written)
        await _handle(app, _event(0, n), _probe(agents[n], f"e{n}"))  # meanwhile
        await flush
        return first_chunk, len(written)

    first_chunk, after = asyncio.run(go())
    assert first_chunk == FLUSH_CHUNK_AGENTS  # not all n at once
    assert after == n and agents[n].encode() not in written  # its agent: the next flush's
    assert [c for c, _ in _commits(app)] == [{0: n}]  # the event handled meanwhile: not yet
    assert app.unflushed == 1
    app.now[0] += 2.0  # type: ignore[attr-defined]
    asyncio.run(app.flush())
    assert agents[n].encode() in written and [c for c, _ in _commits(app)][-1] == {0: n + 1}


def test_every_task_and_timer_of_the_app_takes_nothing_faust_would_pass_the_app_to(
    tmp_path: Any,
) -> None:
    """Faust calls a task or timer with the app when its function has any parameter (even
    ``**kwargs``): a stats timer that took ``**extra`` crashed the worker after 30 s."""
    import inspect

    app, _, _ = _app([0], data_dir=str(tmp_path), watermark_idle_seconds=2.0)
    tasks = app.app._app_tasks
    assert len(tasks) >= 4  # flush loop, idle ticks, stats, heartbeat
    assert all(not inspect.signature(t).parameters for t in tasks), [
        (t.__name__, inspect.signature(t)) for t in tasks if inspect.signature(t).parameters
    ]


def _timed_flushes(queued: int) -> tuple[int, int]:
    """Flushes the timer loop makes in 12 ticks (clock frozen, 0.01 s each) with ``queued``
    events waiting in the agent's buffer, and the freezes it offers outside a flush."""
    app, _, _ = _app([0], worker_flush_seconds=0.01, worker_backlog_flush_seconds=60)
    app._stream = SimpleNamespace(
        channel=SimpleNamespace(queue=SimpleNamespace(qsize=lambda: queued))
    )
    real, made, offered = app.flush, [], []

    async def counting(force: bool = False) -> None:
        made.append(force)
        app.freezer = None  # type: ignore[assignment]  # the flush's own offer is not counted
        try:
            await real(force)
        finally:
            app.freezer = freezer  # type: ignore[assignment]

    class Freezer:
        def maybe_freeze(self) -> bool:
            offered.append(len(made))
            return False

    freezer = Freezer()
    app.freezer = freezer  # type: ignore[assignment]
    app.flush = counting  # type: ignore[method-assign]

    async def go() -> None:
        loop = asyncio.ensure_future(app._flush_loop())
        await asyncio.sleep(0.12)
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)

    asyncio.run(go())
    return len(made), len(offered)


def test_the_timer_flushes_every_tick_while_the_worker_keeps_up_and_rarely_while_behind() -> None:
    flushes, freezes = _timed_flushes(queued=3)
    assert flushes >= 5 and freezes == 0  # one list's worth at most: every tick
    # a backlog: the first flush, then none until worker_backlog_flush_seconds (60 s) pass;
    # each tick in between still offers the freezer a freeze (a collection must not walk
    # everything allocated since the last flush)
    flushes, freezes = _timed_flushes(queued=5000)
    assert flushes == 1 and freezes >= 4
