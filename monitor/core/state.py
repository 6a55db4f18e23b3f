"""Per-agent state: explicit, bounded, and round-tripping through bytes.

Everything the engine knows about one agent lives in one :class:`AgentState`:
the lifecycle ledger (tasks, credentials, sponsors), each detector's own
section, the alert/command dedup memory and pending event-time timers. Every
collection has a cap so state stays compact (target ≤ 16 KiB serialised) no
matter what an agent sends; the oldest, least useful entries go first.

Records are short lists, not objects: they serialise as they are.
"""

from __future__ import annotations

import base64
import copy
from array import array
from hashlib import blake2b
from typing import Any

import orjson

from monitor.core.baseline.model import AgentBaseline
from monitor.errors import DecodeError
from monitor.events import decode_event

#: Snapshot format written: 3 = the event-id ring as base64 of packed uint64 (half the bytes
#: of JSON). Older ones still restore: 2 (ring as JSON), 1 (no behaviour baseline).
SNAPSHOT_VERSION = 3
#: 4: version 3 plus events held for reordering (only written when some are held).
SNAPSHOT_VERSION_PENDING = 4
#: 5: version 4's layout (held events or ``null``) plus the hijack detectors' sections
#: (:attr:`AgentState.behav`); only written when some detector keeps such a section.
SNAPSHOT_VERSION_BEHAV = 5

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
        "baseline",
        "behav",
        "chains",
        "commanded",
        "creds",
        "kind",
        "last_ts",
        "n_calls",
        "pending",
        "rate",
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
        # chain name -> [signature, prefixes]; prefix j = [start_call, start_ts, ids, creds] | None
        self.chains: dict[str, list[Any]] = {}
        # [base_second, total, 60 per-second buckets]
        self.rate: list[Any] | None = None
        self.alerted: dict[str, float] = {}
        self.commanded: dict[str, float] = {}
        # [due_ts, detector, key]
        self.timers: list[list[Any]] = []
        # behaviour_anomaly's learned model (monitor.core.baseline); None before the first call
        self.baseline: AgentBaseline | None = None
        # [ts, event_id, event, held_size]: arrived within the allowed lateness, applied once
        # the watermark passes them (monitor.core.engine); empty unless lateness > 0
        self.pending: list[list[Any]] = []
        # the hijack detectors' own sections (monitor.core.detectors.hijack), by detector
        # name; each a short list of plain values, bounded by its detector
        self.behav: dict[str, Any] = {}

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

        Everything a call can change (tasks, credentials, sponsors, chains, rate
        buckets, timers, the baseline) is copied; the event and alert dedup memories
        are shared, read only: a dry run checks no event id and decides nothing.
        """
        st = AgentState.__new__(AgentState)
        for name in AgentState.__slots__:
            setattr(st, name, getattr(self, name))
        # plain JSON data (as in snapshot()): one orjson round trip copies it ~20x faster
        # than copy.deepcopy
        st.tasks, st.creds, st.sponsors, st.chains, st.rate, st.timers = orjson.loads(
            orjson.dumps(
                [self.tasks, self.creds, self.sponsors, self.chains, self.rate, self.timers]
            )
        )
        st.baseline = copy.deepcopy(self.baseline) if self.baseline is not None else None
        st.pending = []
        return st

    # ------------------------------------------------------------ snapshot
    def snapshot(self) -> bytes:
        held = (
            [[p[0], p[1], p[2].model_dump(mode="json", exclude_none=True)] for p in self.pending]
            if self.pending
            else None
        )
        behav = self.behav
        if behav:
            version = SNAPSHOT_VERSION_BEHAV
        else:
            version = SNAPSHOT_VERSION if held is None else SNAPSHOT_VERSION_PENDING
        return orjson.dumps(
            [
                version,
                self.agent_id,
                self.kind,
                self.n_calls,
                self.last_ts if self.last_ts != float("-inf") else None,
                _pack_keys(self.seen_ring[self.seen_pos :] + self.seen_ring[: self.seen_pos]),
                self.tasks,
                self.creds,
                self.sponsors,
                self.chains,
                self.rate,
                self.alerted,
                self.commanded,
                self.timers,
                self.baseline.snapshot() if self.baseline is not None else None,
                *([] if held is None and not behav else [held]),
                *([behav] if behav else []),
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
        if (
            not isinstance(obj, list)
            or not obj
            or obj[0]
            not in (1, 2, SNAPSHOT_VERSION, SNAPSHOT_VERSION_PENDING, SNAPSHOT_VERSION_BEHAV)
        ):
            version = obj[0] if isinstance(obj, list) and obj else None
            raise ValueError(f"unsupported agent-state snapshot (version {version!r})")
        try:
            return cls._restore(obj)
        except (KeyError, TypeError, IndexError, AttributeError, ValueError, DecodeError) as err:
            raise ValueError(f"corrupt agent-state snapshot: {type(err).__name__}: {err}") from None

    @classmethod
    def _restore(cls, obj: list[Any]) -> AgentState:
        behav = obj.pop() if obj[0] >= SNAPSHOT_VERSION_BEHAV else {}
        if not isinstance(behav, dict):
            raise TypeError("behav section is not an object")
        held = obj.pop() if obj[0] >= SNAPSHOT_VERSION_PENDING else None
        baseline = obj.pop() if obj[0] >= 2 else None
        (
            _,
            agent_id,
            kind,
            n_calls,
            last_ts,
            ring,
            tasks,
            creds,
            sponsors,
            chains,
            rate,
            alerted,
            commanded,
            timers,
        ) = obj
        st = cls(agent_id)
        st.kind = kind
        st.n_calls = n_calls
        st.last_ts = float("-inf") if last_ts is None else last_ts
        st.seen_ring = _unpack_keys(ring) if isinstance(ring, str) else ring
        st.seen = set(st.seen_ring)
        st.tasks = tasks
        st.creds = creds
        st.sponsors = sponsors
        st.chains = chains
        st.rate = rate
        st.alerted = alerted
        st.commanded = commanded
        st.timers = timers
        if baseline is not None:
            st.baseline = AgentBaseline.restore(baseline)
        st.behav = behav
        if held:
            events = [(t, eid, decode_event(orjson.dumps(doc))) for t, eid, doc in held]
            st.pending = [[t, eid, ev, held_size(ev)] for t, eid, ev in events]
        return st
