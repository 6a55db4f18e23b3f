"""Every Faust and aiokafka private the worker relies on, and the only file that touches them.

Faust stays the worker's runtime, but its public API cannot do several things
the worker needs (see :mod:`monitor.worker.app` for why each is needed):

========================  ==========================================================
what                      private used
========================  ==========================================================
commit given offsets      ``faust.transport.consumer.Consumer._commit(offsets)``
forget a skipped range    ``Consumer._gap`` (Faust counts offsets it saw jumped as acked)
seek in Faust's thread    ``Consumer.seek_wait``
write a table record      ``Collection.data`` + ``Collection.send_changelog`` (its future)
  and keep its future
a partition's table ctx   ``faust.streams._current_event`` (RocksDB picks its store by it)
done without an ack       ``Message.acked`` set directly (``Stream.ack`` would commit)
short broker fetch wait,  ``AIOKafkaConsumerThread._create_consumer`` (this consumer's),
  fewer, fuller fetches   ``AIOKafkaConsumer._fetch_max_wait_ms``, ``._fetch_min_bytes``
nothing stale after a     ``Consumer.getmany``, ``.perform_seek``, ``.seek_wait`` wrapped
  seek (SeekFence)        on the instance; ``Consumer._read_offset``
no tasks per record       ``Consumer.wait_first`` wrapped on the instance (the drain
  (EagerDrain)            loop's per-record call); ``Consumer.suspend_flow``
events off the stream     the stream's channel queue, ``Message.generation_id``/``.tracked``,
  (batches, fresh)        ``App.consumer_generation_id``, ``Consumer.track_message``
a full buffer blocks,     ``Consumer.on_buffer_full`` replaced on the instance (the
  no 1 s fetch pause      conductor looks it up there when it builds a partition's handler)
  (keep_fetching_when_full)
========================  ==========================================================

faust-streaming and aiokafka are pinned exactly in ``pyproject.toml``;
:mod:`monitor.worker.faust_contract` checks every name above against the
installed packages and says which one moved. The worker runs that check at
start and ``tests/worker/test_faust_compat.py`` runs it against a real app, so
an upgrade that moves one fails loudly, naming it, instead of silently
committing the wrong offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import types
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import structlog

log = structlog.get_logger("monitor.worker")


# ------------------------------------------------------------------ the privates
def cap_fetch_max_wait(consumer: Any, ms: int, min_bytes: int = 1) -> None:
    """Cap the ``fetch_max_wait_ms`` of the aiokafka consumer ``consumer`` builds at ``ms``,
    and set its ``fetch_min_bytes`` to ``min_bytes``.

    Faust builds its aiokafka consumer with 1.5 s and 1 byte (in its consumer
    thread, at start) and exposes neither. Only this Faust consumer's thread is
    wrapped: nothing global is patched (aiokafka's ``Fetcher`` takes both
    values from the aiokafka consumer when that starts). Idempotent.
    """
    thread = consumer._thread
    thread._mcpmon_fetch_min_bytes = min_bytes
    if getattr(thread, "_mcpmon_fetch_max_wait_ms", None) is not None:
        thread._mcpmon_fetch_max_wait_ms = ms
        return
    create = thread._create_consumer

    @functools.wraps(create)
    def capped(*args: Any, **kwargs: Any) -> Any:
        built = create(*args, **kwargs)
        built._fetch_max_wait_ms = min(
            int(built._fetch_max_wait_ms), thread._mcpmon_fetch_max_wait_ms
        )
        built._fetch_min_bytes = thread._mcpmon_fetch_min_bytes
        return built

    thread._mcpmon_fetch_max_wait_ms = ms
    thread._create_consumer = capped


def mark_done(event: Any) -> None:
    """Tell Faust the worker is done with ``event``: its rebalance and stop wait for that.

    Not ``Stream.ack``: that also hands the offset to Faust's commit bookkeeping.
    """
    event.message.acked = True


async def commit(consumer: Any, offsets: dict[Any, int]) -> bool:
    """Commit ``TP -> offset`` as given, in the consumer's thread (False: a rebalance won)."""
    return bool(await consumer._commit(offsets))


async def seek_back(consumer: Any, tp: Any, offset: int) -> None:
    """Seek ``tp`` to ``offset`` in the consumer's own thread and loop, Faust's read offset
    with it (as its recovery does), after forgetting the offsets Faust saw skipped there
    (it would count them as acked)."""
    gaps = getattr(consumer, "_gap", None)
    if gaps is not None:
        gaps.pop(tp, None)
    await consumer.seek_wait({tp: offset})


def write_record(table: Any, partition: int, key: bytes, value: bytes) -> Awaitable[Any]:
    """``table[key] = value``, except that the changelog send's future is returned:
    it is done once the broker has the record."""
    table.data[key] = value
    return table.send_changelog(partition, key, value)


@contextlib.contextmanager
def event_context(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event (table writes pick their partition's store by it)."""
    from faust.streams import _current_event

    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


_SUSPEND_WAIT = asyncio.Event.wait.__code__


@types.coroutine
def _rest(coro: Any, waiting: Any) -> Any:
    """Go on with ``coro``, started outside a task and now waiting on ``waiting`` (what
    it yielded), as a task would: the task awaiting this waits for ``waiting``, then
    resumes ``coro``; a cancellation (or other throw) is passed into ``coro``."""
    while True:
        try:
            yield waiting
        except BaseException as exc:  # thrown in by the task: hand it to the coroutine
            try:
                waiting = coro.throw(exc)
            except StopIteration as done:
                return done.value
            continue
        return (yield from coro.__await__())


async def _continue(coro: Any, waiting: Any) -> Any:
    return await _rest(coro, waiting)


class EagerDrain:
    """Faust's drain loop hands each record on without making tasks when it need not.

    Per record, ``Consumer._drain_messages`` runs
    ``wait_first(callback(message), suspend_flow.wait())``: four tasks (the
    callback, the flow's suspension, the consumer's stop and crash) and an
    ``asyncio.wait``, so that a callback blocked on a full stream buffer is
    abandoned when a rebalance suspends the flow. Almost always the callback
    (the conductor putting the event in the stream's buffer) finishes without
    waiting at all. This runs it at once (``coroutine.send``); only if it has
    to wait is the rest of it made a task and waited for exactly as Faust does,
    so a rebalance still interrupts it. With the flow suspended, or for any
    other ``wait_first`` call, Faust's own runs. Installed on one consumer
    (its instance ``wait_first``, which the drain loop looks up per record).
    """

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self._wait_first = consumer.wait_first
        self.eager = 0  # records handed on without a task
        self.waited = 0  # ... that had to wait (as Faust does)

    @classmethod
    def install(cls, consumer: Any) -> EagerDrain:
        drain = getattr(consumer, "_mcpmon_drain", None)
        if isinstance(drain, cls):
            return drain
        drain = cls(consumer)
        consumer.wait_first = drain.wait_first
        consumer._mcpmon_drain = drain
        return drain

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        consumer = self.consumer
        if not (
            len(coros) == 2
            and timeout is None
            and inspect.iscoroutine(coros[0])
            and getattr(coros[1], "cr_code", None) is _SUSPEND_WAIT
            and not consumer.suspend_flow.is_set()
        ):
            return await self._wait_first(*coros, timeout=timeout)
        work, suspend = coros
        suspend.close()  # not needed unless the callback waits
        try:
            waiting = work.send(None)
        except StopIteration:
            self.eager += 1
            return None  # the drain loop does not look at the result
        self.waited += 1
        rest = asyncio.ensure_future(_continue(work, waiting))
        return await self._wait_first(rest, consumer.suspend_flow.wait())


class SeekFence:
    """No record fetched before a seek reaches the streams after it.

    The cause of the input the worker saw skipped after a rebalance or a
    restart (issue 15; every gap its offset guard caught). Faust's drain loop
    (``Consumer._drain_messages``) iterates a fetched batch record by record
    and remembers, per partition, the offset of the last record it handed on
    (``_read_offset``); it silently drops every later record *below* that
    ("DROPPED MESSAGE ROFF"). A seek — ``perform_seek`` to the group's commit
    after each rebalance, ``seek_wait`` — moves the fetch position and
    ``_read_offset`` back, but does not stop the batch already being
    iterated: its remaining records (fetched before the seek, past the sought
    offset) are still handed on, reach the stream past the offset it expects,
    and put ``_read_offset`` back past the seek, so the records the seek
    fetches again are dropped. Seen with ``mcpmon worker --processes 2`` on a
    30k backlog: after the rebalance a partition sought to 866 went on with a
    stale batch up to 2,800, and 866..2,799 came again only to be dropped,
    until the worker's own guard sought back once more. (The records a
    stale batch hands on between Faust's ``resume_partitions`` and its seek
    are also thrown away with the stream buffers when the flow resumes;
    harmless once the seek fetches them again.)

    Installed on one consumer (:meth:`install`); it wraps that instance's
    ``getmany`` (the iterator the drain loop reads), ``perform_seek`` and
    ``seek_wait``. A record of a partition sought after its batch arrived is
    not handed on, and the partition is sought again to the same offset from
    inside the drain loop (so no fetch is in flight: what comes next was
    fetched after it, whatever order Faust's two consumer-thread workers ran
    the seek and a fetch in). A record of a partition whose seek is under way
    waits for it. A partition ``perform_seek`` leaves where it is (aiokafka
    seeks only to a commit ``> 0``) is sought to its commit 0, or with no
    commit to the first record handed on since its last seek (or since it
    was assigned), so records handed on before the seek and thrown away with
    the stream buffers are fetched again.
    Changelog partitions are left alone (Faust's recovery reads them).
    """

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.epoch: dict[Any, int] = {}  # per partition: seeks done so far
        self.target: dict[Any, int] = {}  # per partition: where its last seek went
        self.first: dict[Any, int] = {}  # per partition: first offset handed on since a seek
        self.pending: set[Any] = set()  # partitions with a seek under way
        self.settled: asyncio.Event | None = None
        self.dropped = 0  # records fetched before a seek, not handed on
        self.resought = 0  # seeks made again from the drain loop
        self._getmany = consumer.getmany
        self._perform_seek = consumer.perform_seek
        self._seek_wait = consumer.seek_wait

    @classmethod
    def install(cls, consumer: Any) -> SeekFence:
        """Fence ``consumer`` (idempotent: a fenced consumer keeps its fence)."""
        fence = getattr(consumer, "_mcpmon_fence", None)
        if isinstance(fence, cls):
            return fence
        fence = cls(consumer)
        consumer.getmany = fence.getmany
        consumer.perform_seek = fence.perform_seek
        consumer.seek_wait = fence.seek_wait
        consumer._mcpmon_fence = fence
        return fence

    def _fenced(self, tp: Any) -> bool:
        return tp.topic not in self.consumer.app.tables.changelog_topics

    def _begin(self, tps: set[Any]) -> None:
        self.pending |= tps
        if self.settled is None:
            self.settled = asyncio.Event()
        self.settled.clear()

    def _end(self, tps: set[Any]) -> None:
        self.pending -= tps
        if not self.pending and self.settled is not None:
            self.settled.set()

    def _moved(self, tp: Any, offset: int) -> None:
        self.epoch[tp] = self.epoch.get(tp, 0) + 1
        self.target[tp] = offset
        self.first.pop(tp, None)

    async def perform_seek(self) -> None:
        """Faust's seek of every assigned partition to the group's commit, fenced."""
        consumer = self.consumer
        tps = {tp for tp in consumer.assignment() if self._fenced(tp)}
        self._begin(tps)
        try:
            await self._perform_seek()
            for tp in set(self.first) - tps:  # not ours any more
                del self.first[tp]
            read = consumer._read_offset  # the commit, or None: Faust set it just now
            unsought: dict[Any, int] = {}
            for tp in tps:
                offset = read.get(tp)
                if offset is not None and offset > 0:
                    self._moved(tp, offset)  # aiokafka sought it (it seeks a commit > 0 only)
                elif offset == 0:
                    unsought[tp] = 0
                elif tp in self.first:
                    unsought[tp] = self.first[tp]
            if unsought:  # no commit: back to the first record handed on since the last seek
                await self._seek_wait(unsought)
                for tp, offset in unsought.items():
                    self._moved(tp, offset)
        finally:
            self._end(tps)

    async def seek_wait(self, partitions: Mapping[Any, int]) -> None:
        """Faust's seek of ``partitions`` to the offsets given, fenced."""
        tps = {tp for tp in partitions if self._fenced(tp)}
        self._begin(tps)
        try:
            await self._seek_wait(partitions)
            for tp in tps:
                self._moved(tp, partitions[tp])
        finally:
            self._end(tps)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        """Faust's ``getmany`` without the records fetched before a seek of their partition."""
        seen: dict[Any, int] | None = None  # the seeks done when this batch arrived
        again: set[Any] = set()
        async for tp, message in self._getmany(timeout):
            if seen is None:  # no await between the batch's arrival and its first record
                seen = dict(self.epoch)
            while tp in self.pending and self.settled is not None:
                await self.settled.wait()
            if self.epoch.get(tp, 0) != seen.get(tp, 0):
                self.dropped += 1
                if tp not in again:
                    again.add(tp)
                    await self._seek_again(tp)
                continue
            if tp not in self.first and self._fenced(tp):
                self.first[tp] = message.offset
            yield tp, message

    async def _seek_again(self, tp: Any) -> None:
        """Seek ``tp`` again to its last target, with no fetch in flight (the drain
        loop is here): the batch just dropped may have been fetched after the seek."""
        offset = self.target[tp]
        self.resought += 1
        try:
            await self._seek_wait({tp: offset})
        except Exception as exc:  # e.g. revoked meanwhile: the worker's offset guard remains
            log.warning(
                "seek_again_failed",
                partition=getattr(tp, "partition", None),
                offset=offset,
                error=f"{type(exc).__name__}: {exc}",
            )


def keep_fetching_when_full(consumer: Any) -> None:
    """A full stream buffer makes Faust's drain loop wait for room, not pause the partition.

    Faust's conductor, once a stream's buffer holds ``stream_buffer_maxsize / 1.25``
    events, calls ``Consumer.on_buffer_full(tp)``, which takes the partition out
    of the fetch; it comes back when the buffer is down to 40 %. When every
    partition is out, the fetch loop sleeps a whole second
    (``Consumer._wait_next_records``), however soon the buffer drains: in a
    backlog the worker's one agent emptied its buffer in 0.3-0.5 s and then
    waited, idle, for the rest of that second, twice every 5 s (issue 15:
    ``mcpmon bench kafka``'s drain, 5.7 s against 4.8 s without it). The worker has
    one agent reading every partition, so there is no other stream to be fair
    to: here the conductor goes on and, at a truly full buffer, waits in its
    blocking ``put`` until the agent takes a list — Faust's own path for that
    case, which a rebalance interrupts (:class:`EagerDrain`). What the fetcher
    holds meanwhile is bounded by aiokafka: one fetch per partition
    (``consumer_max_fetch_size``) that is not handed on yet.
    """
    consumer.on_buffer_full = _stay_in_fetch


def _stay_in_fetch(tp: Any) -> None:
    """``on_buffer_full`` of a consumer the worker keeps fetching (:func:`keep_fetching_when_full`)."""


# ------------------------------------------------------------------ events off the stream
async def batches(stream: Any, most: int) -> AsyncIterator[list[Any]]:
    """The events of an agent's ``stream``, in order, a list at a time: every event its
    queue already holds (at most ``most``), or when it holds none, the next to arrive.

    In place of Faust's compiled stream iterator, which spends an event-loop turn
    (``sleep(0)``), a context-variable set and two sensor calls on every event and
    hands the agent one event per ``await`` (issue 15). The loop turns once per
    list (the fetch loop, producer and timers get their turn) and whenever the
    queue is empty (the wait for the next event). What the iterator does that
    matters is done here too, per event: every event handed on is tracked as
    pending (``Consumer.track_message``: Faust's stop waits until it is marked
    done); an error thrown into the channel is raised, except ``StopAsyncIteration``
    (Faust's actor ends the stream with it), which ends the lists; the stream is started and
    stopped as the iterator does. The other check it makes per event — an event
    fetched before the current rebalance is not handed on — is the caller's, per
    event, right before it handles one (:func:`fresh`): the caller may wait (a
    flush, a publish) between two events of a list, and a rebalance may begin
    then. The current event is *not* set: the worker sets it itself around its
    table writes (:func:`event_context`). Nothing is acked (the worker's stream
    is ``noack``).
    """
    app = stream.app
    channel = stream.channel
    queue = channel.queue
    track = app.consumer.track_message
    acking = app.topics.acking_topics
    started = await stream.maybe_start()
    try:
        while not stream.should_stop:
            if queue.empty():
                taken = [await queue.get()]
            else:
                await asyncio.sleep(0)  # events waiting: the fetch loop, producer, timers first
                taken = []
            get = queue.get_nowait
            while len(taken) < most and not queue.empty():
                taken.append(get())
            for event in taken:
                message = event.message
                if message.topic in acking and not message.tracked:
                    message.tracked = True
                    track(message)
            yield taken
    except StopAsyncIteration:  # how Faust's actor ends the stream (Actor.cancel): the end
        return  # (raised on from an async generator it would be a RuntimeError: "Crashed")
    finally:
        channel.on_stop_iteration()
        if started:
            await stream.stop()
            stream.service_reset()


def queued(stream: Any) -> int:
    """How many events wait in the buffer of an agent's ``stream`` (0 before it has one)."""
    return 0 if stream is None else stream.channel.queue.qsize()


def fresh(stream: Any) -> Callable[[Any], bool]:
    """``fresh(event)``: False when ``event`` must not be handled — it was fetched before
    the current rebalance (another consumer generation), or a rebalance has suspended
    the flow. Faust's stream iterator skips such an event (it comes again to its
    partition's owner); the worker marks it done, unhandled and uncommitted."""
    app = stream.app
    flow = app.flow_control

    def check(event: Any) -> bool:
        return flow.is_active() and event.message.generation_id == app.consumer_generation_id

    return check


# ------------------------------------------------------------------ the quiet monitor
#: The per-message and per-send hooks of Faust's ``Monitor`` sensor: statistics the
#: worker never reads (its own counters and Prometheus metrics are in monitor.metrics).
MONITOR_HOOKS = (
    "on_message_in",
    "on_stream_event_in",
    "on_stream_event_out",
    "on_message_out",
    "on_topic_buffer_full",
    "on_table_get",
    "on_table_set",
    "on_table_del",
    "on_send_initiated",
    "on_send_completed",
    "on_send_error",
)


def quiet_monitor() -> type:
    """A ``faust.sensors.Monitor`` whose per-event hooks do nothing (the ``Monitor`` setting)."""
    from faust.sensors import Monitor

    def nothing(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    return type("QuietMonitor", (Monitor,), dict.fromkeys(MONITOR_HOOKS, nothing))


# ------------------------------------------------------------------ the raw input schema
def raw_schema() -> Any:
    """A ``faust.Schema`` for the events topic: each message's key and value as the broker
    gave them (bytes or None), in one ``app.conf.Event`` per message.

    The schema Faust builds from ``key_serializer="raw", value_serializer="raw"`` gives the
    same key and value, but through the serializer registry: a codec lookup, ``want_bytes``
    and ``Model._maybe_reconstruct`` for each of them, then ``app.create_event`` with its
    settings lookup — about a tenth of the worker's own per-event time (profile, issue 15).
    Nothing is decoded here, so no key or value can fail: the processor decodes the value
    and dead-letters what does not parse. Public Faust API (``Schema.compile``, the
    ``Event`` setting); the contract check (:mod:`monitor.worker.faust_contract`) pins its signature.
    """
    import faust

    class RawSchema(faust.Schema):
        def compile(
            self,
            app: Any,
            *,
            on_key_decode_error: Any = None,
            on_value_decode_error: Any = None,
            default_propagate: bool = False,
        ) -> Any:
            event_cls = app.conf.Event

            async def decode(message: Any, *, propagate: bool = default_propagate) -> Any:
                return event_cls(app, message.key, message.value, message.headers, message)

            return decode

    return RawSchema(key_serializer="raw", value_serializer="raw")
