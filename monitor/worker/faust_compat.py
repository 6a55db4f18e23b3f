"""Every Faust and aiokafka private the worker relies on, and the only file that touches them.

Faust stays the worker's runtime, but its public API cannot do six things the
worker needs (see :mod:`monitor.worker.app` for why each is needed):

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
short broker fetch wait   ``aiokafka.consumer.fetcher.Fetcher.__init__(fetch_max_wait_ms)``
========================  ==========================================================

faust-streaming and aiokafka are pinned exactly in ``pyproject.toml``
(:data:`PINNED`); :func:`contract_problems` checks every name above against
the installed packages and says which one moved. The worker runs it at start
(:func:`check_contract`) and ``tests/worker/test_faust_compat.py`` runs it
against a real app, so an upgrade that moves one fails loudly, naming it,
instead of silently committing the wrong offsets.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import weakref
from collections.abc import Awaitable, Iterator
from contextvars import ContextVar
from importlib import metadata
from typing import Any

#: The versions this module was checked against (kept equal to pyproject.toml's pins).
PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


class FaustContractError(RuntimeError):
    """A Faust or aiokafka private the worker relies on is missing or changed."""


# ------------------------------------------------------------------ the privates
def cap_fetch_max_wait(ms: int) -> None:
    """Cap the ``fetch_max_wait_ms`` of aiokafka fetchers built in this process at ``ms``.

    Faust builds its consumer with 1.5 s and does not expose it. Idempotent:
    the original ``__init__`` is wrapped once, whatever the number of calls.
    """
    from aiokafka.consumer import fetcher

    init = fetcher.Fetcher.__init__
    original = getattr(init, "__wrapped__", init)

    @functools.wraps(original)
    def capped(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["fetch_max_wait_ms"] = min(int(kwargs.get("fetch_max_wait_ms", 500)), ms)
        original(self, *args, **kwargs)

    fetcher.Fetcher.__init__ = capped


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


# ------------------------------------------------------------------ the contract
def version_problems() -> list[str]:
    """Installed versions that differ from :data:`PINNED` (the ones the contract was checked on)."""
    out = []
    for dist, pinned in PINNED.items():
        try:
            got = metadata.version(dist)
        except metadata.PackageNotFoundError:
            got = "not installed"
        if got != pinned:
            out.append(f"{dist}: installed {got}, checked against {pinned}")
    return out


def _params(fn: Any) -> set[str]:
    fn = getattr(fn, "__wrapped__", fn)
    return set(inspect.signature(fn).parameters)


def contract_problems(consumer: Any = None) -> list[str]:
    """What no longer holds of the privates above, one line naming each; empty if all hold.

    ``consumer``: a Faust consumer instance, to check its instance attributes
    too (``_gap``); without one only the class is looked at.
    """
    problems: list[str] = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    try:
        from aiokafka.consumer.fetcher import Fetcher

        need(
            "fetch_max_wait_ms" in _params(Fetcher.__init__),
            "aiokafka.consumer.fetcher.Fetcher.__init__(fetch_max_wait_ms=...)",
        )
    except ImportError:
        problems.append("aiokafka.consumer.fetcher.Fetcher")
    try:
        from faust import streams

        need(
            isinstance(getattr(streams, "_current_event", None), ContextVar),
            "faust.streams._current_event (a ContextVar)",
        )
    except ImportError:
        problems.append("faust.streams")
    try:
        from faust.types.tuples import Message

        need("acked" in getattr(Message, "__slots__", ()), "faust.types.tuples.Message.acked")
    except ImportError:
        problems.append("faust.types.tuples.Message")
    try:
        from faust.transport.consumer import Consumer

        need(
            inspect.iscoroutinefunction(getattr(Consumer, "_commit", None))
            and "offsets" in _params(Consumer._commit),
            "faust.transport.consumer.Consumer._commit(offsets) (a coroutine)",
        )
        need(
            inspect.iscoroutinefunction(getattr(Consumer, "seek_wait", None)),
            "faust.transport.consumer.Consumer.seek_wait (a coroutine)",
        )
        need(
            "_gap" in getattr(Consumer, "__annotations__", {}),
            "faust.transport.consumer.Consumer._gap (declared)",
        )
    except ImportError:
        problems.append("faust.transport.consumer.Consumer")
    if consumer is not None:
        need(
            hasattr(getattr(consumer, "_gap", None), "pop"),
            f"{type(consumer).__module__}.{type(consumer).__name__}._gap (a mapping)",
        )
    try:
        from faust.sensors import Monitor

        for hook in MONITOR_HOOKS:
            need(callable(getattr(Monitor, hook, None)), f"faust.sensors.Monitor.{hook}")
    except ImportError:
        problems.append("faust.sensors.Monitor")
    try:
        from faust.tables.base import Collection

        need(isinstance(getattr(Collection, "data", None), property), "Collection.data")
        need(
            {"partition", "key", "value"} <= _params(getattr(Collection, "send_changelog", None)),
            "faust.tables.base.Collection.send_changelog(partition, key, value)",
        )
    except (ImportError, TypeError, ValueError):
        problems.append("faust.tables.base.Collection.send_changelog")
    return problems


def check_contract(consumer: Any = None) -> None:
    """Raise :class:`FaustContractError` naming every private that moved."""
    problems = contract_problems(consumer)
    if problems:
        raise FaustContractError(
            "the installed faust-streaming/aiokafka no longer have what the worker relies on "
            "(monitor/worker/faust_compat.py): " + "; ".join(problems)
        )


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
