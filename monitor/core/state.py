"""Per-agent state: explicit, bounded, and round-tripping through bytes.

Everything the engine knows about one agent lives in one :class:`AgentState`:
the lifecycle ledger (tasks, credentials, sponsors), each detector's own
section, the alert/command dedup memory and pending event-time timers. Every
collection has a cap so state stays compact (target ≤ 16 KiB serialised) no
matter what an agent sends; the oldest, least useful entries go first.

Records are short lists, not objects: they serialise as they are. A detector's
section (:attr:`AgentState.sections`, by section name) is whatever the detector
keeps; how it goes to bytes and back is the detector's own business
(:attr:`monitor.core.detectors.base.Detector.section`), registered here in
:data:`CODECS`, so this module names no detector.
"""

from __future__ import annotations

import base64
from array import array
from collections.abc import Callable
from hashlib import blake2b
from typing import Any

import orjson

from monitor.errors import DecodeError
from monitor.events import decode_event

#: Snapshot format written: 6 = every detector's state as one mapping of sections, by
#: name (:attr:`AgentState.sections`), after the ledger, the dedup memories, the timers and
#: the events held for reordering (``null`` when none). Older ones still restore
#: (:func:`_upgrade`): 5 (the hijack sections in a trailing element), 4 (held events),
#: 3 (the event-id ring as base64 of packed uint64), 2 (ring as JSON), 1 (no behaviour
#: baseline); 1-5 kept the chain, rate and baseline sections in fixed slots.
SNAPSHOT_VERSION = 6
_OLD_VERSIONS = (1, 2, 3, 4, 5)

#: How each detector's section goes to JSON-able data and back: section name ->
#: ``(dump, load)``, filled by :func:`monitor.core.detectors.base.register`. ``dump`` is
#: ``None`` for a section that is plain JSON already (lists, dicts, str, numbers). A
#: section with no codec (of a detector this build does not have) is kept as the plain
#: data it was, and written back unchanged.
CODECS: dict[str, tuple[Callable[[Any], Any] | None, Callable[[Any], Any]]] = {}
#: The sections versions 1-5 kept in fixed slots, by the name they have now: the
#: forbidden-chain automata (less the key ``#footprint``: footprint_breadth's), the rate
#: buckets and the behaviour baseline.
_V5_SLOTS = {
    "chains": "forbidden_chain",
    "#footprint": "footprint_breadth",
    "rate": "rate_limit",
    "baseline": "behaviour_anomaly",
}

MAX_SEEN = 256  # event ids remembered for redelivery dedup
MAX_TASKS = 16
MAX_CREDS = 32
MAX_SPONSORS = 8
MAX_ALERTED = 32
MAX_COMMANDED = 32
MAX_TIMERS = 32
MAX_PENDING = 32  # events held for in-order application within the allowed lateness
MAX_PENDING_BYTES = 32 << 10  # and their estimated size (an event may carry 1 MiB of args)

_ID_FIELDS = (
    "event_id",
    "sponsor",
    "task_id",
    "session_id",
    "credential_id",
    "tenant",
    "data_domain",
    "server",
    "tool",
    "trace_id",
    "reason",
    "alert_id",
    "note",
)


def held_size(event: Any) -> int:
    """Estimated bytes of a held event in a snapshot (cheap: no full serialisation)."""
    n = 128
    for name in _ID_FIELDS:
        v = getattr(event, name, None)
        if isinstance(v, str):
            n += len(v)
    args = getattr(event, "args", None)
    if args:
        try:
            n += len(orjson.dumps(args))
        except orjson.JSONEncodeError:
            n += MAX_PENDING_BYTES  # cannot be held: applied at once
    for many in ("resources", "scopes"):
        v = getattr(event, many, None)
        if v:
            n += sum(map(len, v)) + 3 * len(v)
    return n


# Field positions in the ledger records.
T_STARTED, T_ENDED, T_SPONSOR, T_CREDS, T_END_EVENT = range(5)
C_TASK, C_ISSUED, C_EXPIRES, C_REVOKED = range(4)
S_ACTIVE, S_ENDED, S_END_EVENT = range(3)


def event_key(event_id: str) -> int:
    """A stable 64-bit key for an event id (not ``hash()``: that changes per process)."""
    return int.from_bytes(blake2b(event_id.encode(), digest_size=8).digest(), "little")


def _evict(d: dict[str, Any], cap: int, prefer: int | None = None) -> None:
    """Drop entries (oldest first) until ``len(d) < cap``.

    With ``prefer``, records whose field ``prefer`` is set (e.g. ended tasks)
    go before the others.
    """
    while len(d) >= cap:
        victim = None
        if prefer is not None:
            victim = next((k for k, v in d.items() if v[prefer] is not None), None)
        if victim is None:
            victim = next(iter(d))
        del d[victim]


def _pack_keys(keys: list[int]) -> str:
    return base64.b64encode(array("Q", keys).tobytes()).decode("ascii")


def _unpack_keys(text: str) -> list[int]:
    return array("Q", base64.b64decode(text)).tolist()


class AgentState:
    __slots__ = (
        "agent_id",
        "alerted",
        "commanded",
        "creds",
        "kind",
        "last_ts",
        "n_calls",
        "pending",
        "sections",
        "seen",
        "seen_pos",
        "seen_ring",
        "sponsors",
        "tasks",
        "timers",
    )

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self.kind: str | None = None
        self.n_calls = 0
        self.last_ts = float("-inf")
        self.seen: set[int] = set()
        self.seen_ring: list[int] = []
        self.seen_pos = 0  # oldest slot once the ring is full
        self.tasks: dict[str, list[Any]] = {}
        self.creds: dict[str, list[Any]] = {}
        self.sponsors: dict[str, list[Any]] = {}
        self.alerted: dict[str, float] = {}
        self.commanded: dict[str, float] = {}
        # [due_ts, detector, key]
        self.timers: list[list[Any]] = []
        # [ts, event_id, event, held_size]: arrived within the allowed lateness, applied once
        # the watermark passes them (monitor.core.engine); empty unless lateness > 0
        self.pending: list[list[Any]] = []
        # each detector's own state, by its section name (Detector.section), bounded by the
        # detector; absent until the detector first keeps something for this agent
        self.sections: dict[str, Any] = {}

    # ------------------------------------------------------------ dedup of events
    def seen_before(self, event_id: str) -> bool:
        """True if this event id was processed already; remembers it otherwise."""
        k = event_key(event_id)
        seen = self.seen
        if k in seen:
            return True
        seen.add(k)
        ring = self.seen_ring
        if len(ring) < MAX_SEEN:
            ring.append(k)
        else:  # a full ring: overwrite the oldest slot, at the cursor
            pos = self.seen_pos
            seen.discard(ring[pos])
            ring[pos] = k
            self.seen_pos = (pos + 1) % MAX_SEEN
        return False

    # ------------------------------------------------------------ ledger
    def task(self, task_id: str) -> list[Any] | None:
        return self.tasks.get(task_id)

    def start_task(self, task_id: str, ts: float, sponsor: str | None) -> list[Any]:
        rec = self.tasks.get(task_id)
        if rec is None:
            _evict(self.tasks, MAX_TASKS, prefer=T_ENDED)
            rec = self.tasks[task_id] = [ts, None, sponsor, [], None]
        else:
            rec[T_STARTED] = min(rec[T_STARTED], ts)
            rec[T_SPONSOR] = rec[T_SPONSOR] or sponsor
        return rec

    def end_task(self, task_id: str, ts: float, event_id: str, sponsor: str | None) -> list[Any]:
        rec = self.tasks.get(task_id) or self.start_task(task_id, ts, sponsor)
        if rec[T_ENDED] is None or ts < rec[T_ENDED]:
            rec[T_ENDED] = ts
            rec[T_END_EVENT] = event_id
        return rec

    def issue_credential(
        self, cred_id: str, task_id: str | None, ts: float, expires: float
    ) -> None:
        if cred_id not in self.creds:
            _evict(self.creds, MAX_CREDS, prefer=C_REVOKED)
        self.creds[cred_id] = [task_id, ts, expires, None]
        if task_id is not None:
            # A credential issued for a task implies the task (its start may arrive later).
            task = self.tasks.get(task_id) or self.start_task(task_id, ts, None)
            ids = task[T_CREDS]
            if cred_id not in ids:
                ids.append(cred_id)
                if len(ids) > 16:  # forget only credentials the ledger itself forgot
                    ids[:] = [c for c in ids if c in self.creds]

    def revoke_credential(self, cred_id: str, ts: float) -> None:
        rec = self.creds.get(cred_id)
        if rec is None:
            _evict(self.creds, MAX_CREDS, prefer=C_REVOKED)
            rec = self.creds[cred_id] = [None, None, None, ts]
        elif rec[C_REVOKED] is None or ts < rec[C_REVOKED]:
            rec[C_REVOKED] = ts

    def live_credentials(self, task_id: str, ts: float) -> list[str]:
        """Credentials of a task neither revoked nor expired at ``ts``."""
        task = self.tasks.get(task_id)
        ids = task[T_CREDS] if task is not None else None
        if not ids:  # the task's record was evicted and made anew: look at every credential
            ids = [cid for cid, rec in self.creds.items() if rec[C_TASK] == task_id]
        out = []
        for cid in ids:
            rec = self.creds.get(cid)
            if rec is None or rec[C_REVOKED] is not None:
                continue
            if rec[C_EXPIRES] is not None and rec[C_EXPIRES] <= ts:
                continue
            out.append(cid)
        return out

    def sponsor(self, name: str) -> list[Any]:
        rec = self.sponsors.get(name)
        if rec is None:
            _evict(self.sponsors, MAX_SPONSORS)
            rec = self.sponsors[name] = [None, None, None]
        return rec

    def sponsor_seen(self, name: str, ts: float) -> None:
        rec = self.sponsor(name)
        if rec[S_ACTIVE] is None or ts > rec[S_ACTIVE]:
            rec[S_ACTIVE] = ts
        if rec[S_ENDED] is not None and ts > rec[S_ENDED]:
            rec[S_ENDED] = rec[S_END_EVENT] = None  # back again: a new session

    # ------------------------------------------------------------ alert / command memory
    def recently(
        self, memo: dict[str, float], key: str, ts: float, window: float, cap: int
    ) -> bool:
        """True if ``key`` was recorded within ``window`` seconds before ``ts``; records it otherwise.

        ``memo`` is kept in recording order (a re-recorded key moves to the end),
        so the entry to forget when it is full is simply the first.
        """
        last = memo.get(key)
        if last is not None:
            if ts - last < window:
                return True
            del memo[key]
        elif len(memo) >= cap:
            del memo[next(iter(memo))]
        memo[key] = ts
        return False

    # ------------------------------------------------------------ timers
    def set_timer(self, due: float, detector: str, key: str) -> None:
        """Set (or move) the timer ``(detector, key)`` to fire at event time ``due``."""
        for t in self.timers:
            if t[1] == detector and t[2] == key:
                t[0] = due
                return
        if len(self.timers) >= MAX_TIMERS:
            self.timers.sort()
            self.timers.pop()  # the one furthest away
        self.timers.append([due, detector, key])

    def pop_due(self, watermark: float) -> list[list[Any]]:
        due = [t for t in self.timers if t[0] <= watermark]
        if due:
            self.timers = [t for t in self.timers if t[0] > watermark]
            due.sort()
        return due

    def next_due(self) -> float | None:
        return min((t[0] for t in self.timers), default=None)

    # ------------------------------------------------------------ dry runs
    def scratch(self) -> AgentState:
        """A throw-away copy for judging a call before it happens (:meth:`Engine.judge`).

        Everything a call can change (tasks, credentials, sponsors, timers, every
        detector's section) is copied; the event and alert dedup memories are
        shared, read only: a dry run checks no event id and decides nothing.
        """
        st = AgentState.__new__(AgentState)
        for name in AgentState.__slots__:
            setattr(st, name, getattr(self, name))
        # plain JSON data (as in snapshot()): one orjson round trip copies it ~20x faster
        # than copy.deepcopy; a section is copied through its detector's dump and load
        st.tasks, st.creds, st.sponsors, st.timers, sections = orjson.loads(
            orjson.dumps([self.tasks, self.creds, self.sponsors, self.timers, self._dump()])
        )
        st.sections = _load(sections)
        st.pending = []
        return st

    # ------------------------------------------------------------ snapshot
    def _dump(self) -> dict[str, Any]:
        sections = self.sections
        if not sections:
            return sections
        out = {}
        for name, value in sections.items():
            codec = CODECS.get(name)
            out[name] = value if codec is None or codec[0] is None else codec[0](value)
        return out

    def snapshot(self) -> bytes:
        held = (
            [[p[0], p[1], p[2].model_dump(mode="json", exclude_none=True)] for p in self.pending]
            if self.pending
            else None
        )
        return orjson.dumps(
            [
                SNAPSHOT_VERSION,
                self.agent_id,
                self.last_ts if self.last_ts != float("-inf") else None,
                _pack_keys(self.seen_ring[self.seen_pos :] + self.seen_ring[: self.seen_pos]),
                held,
                self._dump(),
                *[getattr(self, name) for name in _PLAIN],
            ]
        )

    @classmethod
    def restore(cls, data: bytes) -> AgentState:
        """The state a :meth:`snapshot` wrote; :class:`ValueError` for anything else.

        A corrupt record (valid JSON of another shape, wrong types in a section) is
        one ``ValueError`` too, never a ``KeyError``/``TypeError`` that callers which
        catch ``ValueError`` would let through.
        """
        obj = orjson.loads(data)
        if not isinstance(obj, list) or not obj or obj[0] not in _VERSIONS:
            version = obj[0] if isinstance(obj, list) and obj else None
            raise ValueError(f"unsupported agent-state snapshot (version {version!r})")
        try:
            return cls._restore(obj if obj[0] == SNAPSHOT_VERSION else _upgrade(obj))
        except (KeyError, TypeError, IndexError, AttributeError, ValueError, DecodeError) as err:
            raise ValueError(f"corrupt agent-state snapshot: {type(err).__name__}: {err}") from None

    @classmethod
    def _restore(cls, obj: list[Any]) -> AgentState:
        _, agent_id, last_ts, ring, held, sections, *plain = obj
        st = cls(agent_id)
        for name, value in zip(_PLAIN, plain, strict=True):
            setattr(st, name, value)
        for name, kind in _PLAIN_TYPES:
            if not isinstance(getattr(st, name), kind):
                raise TypeError(f"{name} is not a {kind.__name__}")
        st.last_ts = float("-inf") if last_ts is None else last_ts
        st.seen_ring = _unpack_keys(ring) if isinstance(ring, str) else ring
        st.seen = set(st.seen_ring)
        if not isinstance(sections, dict):
            raise TypeError("sections is not an object")
        st.sections = _load(sections)
        if held:
            events = [(t, eid, decode_event(orjson.dumps(doc))) for t, eid, doc in held]
            st.pending = [[t, eid, ev, held_size(ev)] for t, eid, ev in events]
        return st


#: The fields a snapshot holds as they are, in its order (after the sections).
_PLAIN = ("kind", "n_calls", "tasks", "creds", "sponsors", "alerted", "commanded", "timers")
_PLAIN_TYPES = (
    ("tasks", dict),
    ("creds", dict),
    ("sponsors", dict),
    ("alerted", dict),
    ("commanded", dict),
    ("timers", list),
)
_VERSIONS = (*_OLD_VERSIONS, SNAPSHOT_VERSION)


def load_section(name: str, data: Any) -> Any:
    """Section ``name`` from its snapshot data, by its detector's ``load``.

    :class:`ValueError` (naming the section) for data the detector cannot take back,
    whatever the detector raised; data of a section no registered detector has is kept.
    """
    codec = CODECS.get(name)
    if codec is None:
        return data
    try:
        return codec[1](data)
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as err:
        raise ValueError(f"section {name!r}: {type(err).__name__}: {err}") from None


def _load(sections: dict[str, Any]) -> dict[str, Any]:
    if not CODECS:
        import monitor.core.detectors  # noqa: F401  (registering them fills CODECS)
    return {name: load_section(name, data) for name, data in sections.items()}


def _upgrade(obj: list[Any]) -> list[Any]:
    """A version 1-5 snapshot in version 6's layout (its fixed slots become sections)."""
    version = obj[0]
    behav = obj.pop() if version >= 5 else {}
    if not isinstance(behav, dict):
        raise TypeError("behav section is not an object")
    held = obj.pop() if version >= 4 else None
    baseline = obj.pop() if version >= 2 else None
    (_, agent_id, kind, n_calls, last_ts, ring, tasks, creds, sponsors, chains, rate,
     alerted, commanded, timers) = obj  # fmt: skip
    if not isinstance(chains, dict):
        raise TypeError("chains is not an object")
    chains = dict(chains)
    sections: dict[str, Any] = {}
    footprint = chains.pop("#footprint", None)
    for name, value in (
        ("chains", chains or None),
        ("#footprint", footprint),
        ("rate", rate),
        ("baseline", baseline),
    ):
        if value is not None:
            sections[_V5_SLOTS[name]] = value
    sections.update(behav)
    plain = [kind, n_calls, tasks, creds, sponsors, alerted, commanded, timers]
    return [SNAPSHOT_VERSION, agent_id, last_ts, ring, held, sections, *plain]
