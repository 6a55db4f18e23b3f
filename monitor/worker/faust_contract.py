"""The contract of :mod:`monitor.worker.faust_compat`: is every Faust/aiokafka private it uses
still where it was?

faust-streaming and aiokafka are pinned exactly in ``pyproject.toml``
(:data:`PINNED`); :func:`contract_problems` checks every private listed in
:mod:`monitor.worker.faust_compat` against the installed packages and says
which one moved. The worker runs it at start (:func:`check_contract`) and
``tests/worker/test_faust_compat.py`` runs it against a real app. This module
only looks at names and sources; it calls nothing of them.
"""

from __future__ import annotations

import asyncio
import inspect
from contextvars import ContextVar
from importlib import metadata
from typing import Any

from monitor.worker.exceptions import WorkerError
from monitor.worker.faust_compat import MONITOR_HOOKS

__all__ = [
    "PINNED",
    "FaustContractError",
    "check_contract",
    "contract_problems",
    "version_problems",
]

#: The versions this module was checked against (kept equal to pyproject.toml's pins).
PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


class FaustContractError(WorkerError, RuntimeError):
    """A Faust or aiokafka private the worker relies on is missing or changed.

    Under the package's root (:class:`~monitor.errors.MonitorError`, via
    :class:`~monitor.worker.exceptions.WorkerError`: the worker cannot run so); still a
    ``RuntimeError``, as it was, for callers that catch that.
    """


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


def _source(fn: Any) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return ""


def contract_problems(consumer: Any = None) -> list[str]:
    """What no longer holds of the privates above, one line naming each; empty if all hold.

    ``consumer``: a Faust consumer instance, to check its instance attributes
    too (``_gap``); without one only the classes are looked at.
    """
    problems: list[str] = []
    for check in (_transport, _streams, _consumer_class, _sensors_and_tables, _events):
        problems += check()
    if consumer is not None:
        problems += _consumer_instance(consumer)
    return problems


def _need(problems: list[str], ok: bool, what: str) -> None:
    if not ok:
        problems.append(what)


def _transport() -> list[str]:
    """The fetch-wait cap and minimum: Faust's consumer factory, aiokafka's fetcher settings."""
    problems: list[str] = []
    try:
        from aiokafka import AIOKafkaConsumer
        from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
    except ImportError:
        return ["faust.transport.drivers.aiokafka.AIOKafkaConsumerThread"]
    _need(
        problems,
        callable(getattr(AIOKafkaConsumerThread, "_create_consumer", None)),
        "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._create_consumer",
    )
    _need(
        problems,
        "self._fetch_max_wait_ms" in _source(AIOKafkaConsumer.__init__)
        and "fetch_max_wait_ms=self._fetch_max_wait_ms" in _source(AIOKafkaConsumer.start),
        "aiokafka.AIOKafkaConsumer._fetch_max_wait_ms (read when it starts its fetcher)",
    )
    _need(
        problems,
        "self._fetch_min_bytes" in _source(AIOKafkaConsumer.__init__)
        and "fetch_min_bytes=self._fetch_min_bytes" in _source(AIOKafkaConsumer.start),
        "aiokafka.AIOKafkaConsumer._fetch_min_bytes (read when it starts its fetcher)",
    )
    return problems


def _streams() -> list[str]:
    """The current event (a ContextVar) and the message's ``acked`` slot."""
    problems: list[str] = []
    try:
        from faust import streams
    except ImportError:
        problems.append("faust.streams")
    else:
        _need(
            problems,
            isinstance(getattr(streams, "_current_event", None), ContextVar),
            "faust.streams._current_event (a ContextVar)",
        )
    try:
        from faust.types.tuples import Message
    except ImportError:
        problems.append("faust.types.tuples.Message")
    else:
        _need(
            problems,
            "acked" in getattr(Message, "__slots__", ()),
            "faust.types.tuples.Message.acked",
        )
    return problems


def _consumer_class() -> list[str]:
    """Commit, seek, the gap record, and the drain loop SeekFence and EagerDrain hook into."""
    problems: list[str] = []
    try:
        from faust.transport.consumer import Consumer
    except ImportError:
        return ["faust.transport.consumer.Consumer"]
    _need(
        problems,
        inspect.iscoroutinefunction(getattr(Consumer, "_commit", None))
        and "offsets" in _params(Consumer._commit),
        "faust.transport.consumer.Consumer._commit(offsets) (a coroutine)",
    )
    _need(
        problems,
        inspect.iscoroutinefunction(getattr(Consumer, "seek_wait", None)),
        "faust.transport.consumer.Consumer.seek_wait (a coroutine)",
    )
    _need(
        problems,
        "_gap" in getattr(Consumer, "__annotations__", {}),
        "faust.transport.consumer.Consumer._gap (declared)",
    )
    # SeekFence: the drain loop must read records through the instance's getmany
    _need(
        problems,
        inspect.isasyncgenfunction(getattr(Consumer, "getmany", None))
        and inspect.iscoroutinefunction(getattr(Consumer, "perform_seek", None))
        and "_read_offset" in getattr(Consumer, "__annotations__", {}),
        "faust.transport.consumer.Consumer.getmany (async generator), .perform_seek "
        "(a coroutine), ._read_offset (declared)",
    )
    drain = _source(getattr(Consumer, "_drain_messages", None))
    _need(
        problems,
        "self.getmany" in drain,
        "faust.transport.consumer.Consumer._drain_messages reads self.getmany",
    )
    # EagerDrain: the per-record wait goes through the instance's wait_first
    _need(
        problems,
        "self.wait_first(" in drain and "self.suspend_flow.wait()" in drain,
        "faust.transport.consumer.Consumer._drain_messages calls "
        "self.wait_first(callback(message), self.suspend_flow.wait())",
    )
    # keep_fetching_when_full: the conductor reads on_buffer_full off the consumer
    # instance when it builds a partition's handler, and waits at a full buffer
    try:
        from faust.transport.conductor import ConductorCompiler

        build = _source(ConductorCompiler.build)
    except ImportError:
        build = ""
    _need(
        problems,
        "app.consumer.on_buffer_full" in build and ".put(dest_event)" in build,
        "faust.transport.conductor.ConductorCompiler.build reads app.consumer.on_buffer_full "
        "and waits in the channel's put at a full buffer",
    )
    return problems


def _events() -> list[str]:
    """What :func:`~monitor.worker.faust_compat.batches` and :func:`~monitor.worker.faust_compat.fresh`
    do in place of Faust's stream iterator."""
    problems: list[str] = []
    try:
        from faust.streams import Stream
        from faust.transport.consumer import Consumer
        from faust.types.app import AppT
        from faust.types.tuples import Message
    except ImportError:
        return ["faust.streams.Stream / faust.types.tuples.Message"]
    slots = set(getattr(Message, "__slots__", ()))
    _need(
        problems,
        {"generation_id", "tracked", "topic"} <= slots,
        "faust.types.tuples.Message.generation_id, .tracked",
    )
    _need(
        problems,
        callable(vars(Consumer).get("track_message")),  # not the abstract ConsumerT's
        "faust.transport.consumer.Consumer.track_message",
    )
    _need(
        problems,
        "consumer_generation_id" in getattr(AppT, "__annotations__", {}),
        "faust.types.app.AppT.consumer_generation_id",
    )
    it = _source(getattr(Stream, "_py_aiter", None))
    _need(
        problems,
        all(
            s in it
            for s in (
                "message.generation_id != self.app.consumer_generation_id",
                "self.app.flow_control.is_active()",
                "add_unacked(message)",
            )
        ),
        "faust.streams.Stream._py_aiter (skips other generations, tracks what it hands on)",
    )
    return problems


def _consumer_instance(consumer: Any) -> list[str]:
    """The instance attributes a running consumer must have."""
    problems: list[str] = []
    name = f"{type(consumer).__module__}.{type(consumer).__name__}"
    _need(problems, hasattr(getattr(consumer, "_gap", None), "pop"), f"{name}._gap (a mapping)")
    _need(
        problems,
        isinstance(getattr(consumer, "suspend_flow", None), asyncio.Event),
        f"{name}.suspend_flow (an asyncio.Event)",
    )
    _need(
        problems,
        hasattr(getattr(consumer, "_read_offset", None), "get"),
        f"{name}._read_offset (a mapping)",
    )
    return problems


def _sensors_and_tables() -> list[str]:
    """The Monitor hooks the worker silences, and the table's data and changelog write."""
    problems: list[str] = []
    try:
        from faust.sensors import Monitor
    except ImportError:
        problems.append("faust.sensors.Monitor")
    else:
        for hook in MONITOR_HOOKS:
            _need(problems, callable(getattr(Monitor, hook, None)), f"faust.sensors.Monitor.{hook}")
    try:
        from faust.tables.base import Collection

        _need(problems, isinstance(getattr(Collection, "data", None), property), "Collection.data")
        _need(
            problems,
            {"partition", "key", "value"} <= _params(getattr(Collection, "send_changelog", None)),
            "faust.tables.base.Collection.send_changelog(partition, key, value)",
        )
    except (ImportError, TypeError, ValueError):
        problems.append("faust.tables.base.Collection.send_changelog")
    # raw_schema: the topic compiles its decoder once through Schema.compile
    try:
        from faust import Schema
        from faust.topics import Topic

        _need(
            problems,
            {"app", "on_key_decode_error", "on_value_decode_error", "default_propagate"}
            <= _params(Schema.compile)
            and "self.schema.compile(" in _source(Topic._compile_decode),
            "faust.Schema.compile(app, on_key_decode_error, on_value_decode_error, "
            "default_propagate), called by Topic._compile_decode",
        )
    except (ImportError, AttributeError, TypeError, ValueError):
        problems.append("faust.Schema.compile / faust.topics.Topic._compile_decode")
    return problems


def check_contract(consumer: Any = None) -> None:
    """Raise :class:`FaustContractError` naming every private that moved."""
    problems = contract_problems(consumer)
    if problems:
        raise FaustContractError(
            "the installed faust-streaming/aiokafka no longer have what the worker relies on "
            "(monitor/worker/faust_compat.py, checked by faust_contract.py): " + "; ".join(problems)
        )
