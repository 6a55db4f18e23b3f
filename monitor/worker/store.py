"""Per-agent state between a Faust table of bytes and live :class:`AgentState` objects.

The engine works on live objects in a plain ``MutableMapping[str, AgentState]``
(one per input partition, :class:`PartitionStates`). The Faust table is the
durable copy: every write goes to its changelog topic, and a worker that is
assigned a partition (start, crash recovery, rebalance) rebuilds the live
objects from it with :func:`load_partitions`.

A table value is the agent's :meth:`AgentState.snapshot` bytes in an envelope::

    version (1 byte) | input partition (uint16) | snapshot length (uint32)
    | snapshot | outbox (JSON list, may be empty)

Why the partition: a worker must know which agents belong to which input
partition to rebuild that partition's timers, and Faust's stores do not say
(the in-memory store keeps no partition for keys written live; RocksDB keeps
one database per partition only behind private attributes). Stamping it into
the value keeps this module on Faust's public table API.

Why the outbox (a transactional outbox): the alerts and revocation commands an
agent's events produced and that the broker has not yet acknowledged are
stored *with* the state that records those events as seen. The state and its
pending outputs reach the changelog in one record, so a crash can never keep
the one and lose the other: a restored partition publishes its outbox again
(same ids: duplicates at most, never a loss), and a redelivered event that
the state has seen is safely dropped. Once delivered, an output leaves the
outbox with the agent's next write. No event waits for a delivery.

>>> from monitor.core.state import AgentState
>>> raw = encode(3, AgentState("a").snapshot(), [Record("mcp.alerts", b"a", b"{}")])
>>> p, snap, outbox = decode(raw)
>>> p, AgentState.restore(snap).agent_id, outbox
(3, 'a', [Record(topic='mcp.alerts', key=b'a', value=b'{}')])
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass

import orjson

from monitor.core.state import AgentState
from monitor.worker.exceptions import WorkerError

ENVELOPE_VERSION = 1
_HEADER = struct.Struct(">BHI")


@dataclass(slots=True, eq=False)
class Record:
    """One message to publish. Compared by identity: the outbox holds these objects."""

    topic: str
    key: bytes | None
    value: bytes

    def __repr__(self) -> str:
        return f"Record(topic={self.topic!r}, key={self.key!r}, value={self.value!r})"


def encode(partition: int, snapshot: bytes, outbox: Iterable[Record] = ()) -> bytes:
    pending = [
        [r.topic, None if r.key is None else r.key.decode(), r.value.decode()] for r in outbox
    ]
    tail = orjson.dumps(pending) if pending else b""
    return _HEADER.pack(ENVELOPE_VERSION, partition, len(snapshot)) + snapshot + tail


def decode(raw: bytes) -> tuple[int, bytes, list[Record]]:
    """``(input partition, snapshot bytes, outbox)`` of a table value."""
    if len(raw) < _HEADER.size:
        raise WorkerError(f"agent-state value of {len(raw)} bytes is too short")
    version, partition, n = _HEADER.unpack_from(raw)
    if version != ENVELOPE_VERSION:
        raise WorkerError(f"unsupported agent-state envelope version {version}")
    end = _HEADER.size + n
    snapshot, tail = raw[_HEADER.size : end], raw[end:]
    pending = orjson.loads(tail) if tail else []
    if not isinstance(pending, list) or not all(_is_entry(e) for e in pending):
        raise WorkerError("agent-state outbox is not a list of [topic, key, value] strings")
    outbox = [Record(t, None if k is None else k.encode(), v.encode()) for t, k, v in pending]
    return partition, snapshot, outbox


def _is_entry(e: object) -> bool:
    return (
        isinstance(e, list)
        and len(e) == 3
        and isinstance(e[0], str)
        and (e[1] is None or isinstance(e[1], str))
        and isinstance(e[2], str)
    )


class PartitionStates(MutableMapping[str, AgentState]):
    """The live agents of one input partition, as the engine sees them, and their outboxes.

    Reads never touch the table: at assignment every agent of the partition
    was loaded, so an id not here is a new agent. :meth:`flush` writes the
    agents the engine marked dirty back to the table.
    """

    __slots__ = ("_live", "outbox", "partition")

    def __init__(
        self,
        partition: int,
        states: Mapping[str, AgentState] | None = None,
        outbox: Mapping[str, list[Record]] | None = None,
    ) -> None:
        self.partition = partition
        self._live: dict[str, AgentState] = dict(states or {})
        self.outbox: dict[str, list[Record]] = {a: list(rs) for a, rs in (outbox or {}).items()}

    def __getitem__(self, agent_id: str) -> AgentState:
        return self._live[agent_id]

    def get(self, agent_id: str, default: AgentState | None = None) -> AgentState | None:  # type: ignore[override]
        return self._live.get(agent_id, default)

    def __setitem__(self, agent_id: str, st: AgentState) -> None:
        self._live[agent_id] = st

    def __delitem__(self, agent_id: str) -> None:
        del self._live[agent_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._live)

    def __len__(self) -> int:
        return len(self._live)

    def hold(self, agent_id: str, rec: Record) -> None:
        """Keep ``rec`` in the agent's outbox until :meth:`release`."""
        self.outbox.setdefault(agent_id, []).append(rec)

    def release(self, agent_id: str, rec: Record) -> bool:
        """Drop a delivered record; True if the agent's stored value should be rewritten."""
        held = self.outbox.get(agent_id)
        if not held:
            return False
        for i, r in enumerate(held):
            if r is rec:
                del held[i]
                break
        else:
            return False
        if not held:
            del self.outbox[agent_id]
        return True

    def flush(self, agent_ids: Iterable[str], write: Callable[[bytes, bytes], None]) -> int:
        """Write each agent's snapshot and outbox with ``write(key, value)``; returns bytes."""
        n = 0
        live, outbox = self._live, self.outbox
        for agent_id in agent_ids:
            st = live.get(agent_id)
            if st is None:
                continue
            value = encode(self.partition, st.snapshot(), outbox.get(agent_id, ()))
            write(agent_id.encode(), value)
            n += len(value)
        return n


@dataclass(slots=True)
class Restored:
    """What the table holds for one partition."""

    states: dict[str, AgentState]
    outbox: dict[str, list[Record]]


@dataclass(frozen=True, slots=True)
class Corrupt:
    """A stored agent record that could not be read back (see :func:`load_partitions`).

    ``partition`` is None when not even the envelope's header could be read;
    ``field`` names the part that failed (``envelope``, ``outbox``, ``snapshot``,
    ``snapshot.<field>``, ``snapshot.sections.<name>``); ``reason`` is the error.
    """

    agent_id: str
    raw: bytes
    partition: int | None
    field: str
    reason: str


_SECTION = re.compile(r"section '([^']{1,64})'")
_PLAIN_FIELD = re.compile(r"\b(\w{1,32}) is not a(?:n)? ")


def _snapshot_field(reason: str) -> str:
    """Which part of a snapshot a :meth:`AgentState.restore` error names."""
    m = _SECTION.search(reason)
    if m is not None:
        return f"snapshot.sections.{m.group(1)}"
    m = _PLAIN_FIELD.search(reason)
    return "snapshot" if m is None else f"snapshot.{m.group(1)}"


def load_partitions(
    items: Iterable[tuple[bytes | str, bytes]],
    partitions: Iterable[int],
    on_corrupt: Callable[[Corrupt], None] | None = None,
    outputs: Container[str] | None = None,
) -> dict[int, Restored]:
    """Group a table's ``(key, value)`` pairs into live agents, for the given partitions only.

    Values stamped with another partition (agents of partitions this worker no
    longer owns, still in a memory store) are skipped.

    A value that cannot be read back is skipped and handed to ``on_corrupt``
    (the worker dead-letters it): one corrupt record must not keep a partition
    from being assigned. Its agent starts from an empty state. If only the
    snapshot is corrupt, the record's outbox (outputs perhaps never delivered)
    is still restored and published again. A value whose header cannot be
    read (its partition unknown) is reported whichever partitions are asked for.
    ``outputs``: the topics an outbox may name (None: any); a record whose outbox
    names another is corrupt.
    """
    out: dict[int, Restored] = {p: Restored({}, {}) for p in partitions}
    for key, raw in items:
        if raw is None:
            continue
        part = _partition_of(raw)
        if part is not None and part not in out:
            continue
        try:
            agent_id = key.decode() if isinstance(key, bytes) else key
        except UnicodeDecodeError as err:
            bad = Corrupt(err.object.decode(errors="replace"), raw, part, "key", _why(err))
            _report(on_corrupt, bad)
            continue
        try:
            partition, snapshot, outbox = decode(raw)
        except (WorkerError, ValueError, TypeError, AttributeError) as err:
            field = "envelope" if part is None else "outbox"
            _report(on_corrupt, Corrupt(agent_id, raw, part, field, _why(err)))
            continue
        if outputs is not None and any(r.topic not in outputs for r in outbox):
            why = "agent-state outbox names a topic the worker does not publish to"
            _report(on_corrupt, Corrupt(agent_id, raw, part, "outbox", why))
            continue
        bucket = out[partition]
        if outbox:
            bucket.outbox[agent_id] = outbox
        try:
            bucket.states[agent_id] = AgentState.restore(snapshot)
        except (ValueError, TypeError) as err:  # restore promises ValueError; be sure
            reason = _why(err)
            _report(on_corrupt, Corrupt(agent_id, raw, part, _snapshot_field(reason), reason))
    return out


def _partition_of(raw: bytes) -> int | None:
    """The input partition in a value's header; None if the header is unreadable."""
    if len(raw) < _HEADER.size:
        return None
    version, partition, _ = _HEADER.unpack_from(raw)
    return partition if version == ENVELOPE_VERSION else None


def _why(err: BaseException) -> str:
    return str(err) if isinstance(err, WorkerError) else f"{type(err).__name__}: {err}"


def _report(on_corrupt: Callable[[Corrupt], None] | None, bad: Corrupt) -> None:
    if on_corrupt is not None:
        on_corrupt(bad)
