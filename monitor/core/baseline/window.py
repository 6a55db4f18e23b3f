"""The agent's recent past: what windowed features are measured against.

A ring of the last :data:`RING` calls (event time and destination hash) gives
the call rate over the last minute, the burst (calls in the last ten seconds)
and the fan-out (distinct destinations) over the last ten minutes; a few
scalars give the previous tool (for transitions), the current error/denied
streak and the current *episode*: the task (or session; with neither, a run
of calls without a 30-minute pause; at most :data:`EPISODE_MAX_CALLS` calls).

Rate, burst and task length are judged against the *peaks of past episodes*
(and the hour and weekday against the start times of past episodes),
learned when an episode ends — not call by call. Otherwise a burst would teach
the baseline as it climbs (each call a little above the last one learned) and
never look unusual; this way 40 calls a minute is compared with "its busiest
task so far peaked at 8". The calibration histogram is fed the same way: an
episode's raw scores (:attr:`Window.ep_bins`) are committed when it ends. An
episode that drew an alert or a revoke-worthy finding is held back from both
(:meth:`Window.hold`): an attack must not raise the bar it is measured against.

Observing a call updates the window whether or not the model later learns the
call: a revoked burst still happened, and the next call's rate must count it.
Time is event time only. Events that arrive out of order are counted where
they land (the ring is scanned newest-first and stops at the first call older
than the window), which can undercount a window by the late calls — never
overcount.
"""

from __future__ import annotations

from typing import Any, Final

from librt.vecs import vec
from mypy_extensions import i64

from monitor.core.baseline.counts import SIZE, T_CAL
from monitor.core.baseline.features import CallFeatures

RING: Final = 32  # calls remembered; rates and fan-outs saturate at this
RATE_SECONDS: Final = 60.0
BURST_SECONDS: Final = 10.0
FANOUT_SECONDS: Final = 600.0
EPISODE_GAP_SECONDS: Final = 1800.0  # with no task or session id, a pause this long ends an episode
EPISODE_MAX_CALLS: Final = 128
_MIX: Final = 0x01000193


def transition_hash(prev: int, cur: int) -> int:
    """``((prev * _MIX) ^ cur) & 0xFFFFFFFF``, for ``0 <= cur < 2**32`` and ``prev >= 0``.

    Computed from the 16-bit halves of ``prev``: compiled, a product of operands of 2**30
    or more takes mypyc's generic (boxed) multiplication, and a 32-bit hash mostly is one.

    >>> transition_hash(0xDEADBEEF, 0x12345678) == ((0xDEADBEEF * _MIX) ^ 0x12345678) & 0xFFFFFFFF
    True
    """
    low = (prev & 0xFFFF) * _MIX + ((prev >> 16) * _MIX & 0xFFFF) * 0x10000
    return (low & 0xFFFFFFFF) ^ cur


class Window:
    """The rings are the model's (typed vectors it writes into its buffer for a snapshot); the
    scalars here go to the snapshot as they are."""

    __slots__ = (
        "ep_bins",
        "ep_burst",
        "ep_held",
        "ep_key",
        "ep_len",
        "ep_rate",
        "ep_start",
        "filled",
        "first_t",
        "keys",
        "last_t",
        "pos",
        "prev_tool",
        "prev_tool_name",
        "streak",
        "times",
    )

    def __init__(self, times: vec[float], keys: vec[i64]) -> None:
        self.times = times  # float64 × RING
        self.keys = keys  # uint32 × RING: destination hash of each call, 0 for none
        self.pos = 0
        self.filled = 0
        self.prev_tool = -1
        self.prev_tool_name = ""
        self.streak = 0
        self.ep_key = 0  # hash of the episode's task (or session) id; 0: none
        self.ep_len = 0  # calls so far, and peaks so far, in the current episode
        self.ep_rate = 0
        self.ep_burst = 0
        self.ep_start = 0.0  # event time of its first call
        self.ep_held = False
        self.ep_bins: list[int] = []  # calibration bins of its scored calls
        self.first_t: float | None = None
        self.last_t: float | None = None

    def observe(
        self, f: CallFeatures, t: float, task: int
    ) -> tuple[int, int, int, float, list[int]] | None:
        """Fill the windowed fields of ``f`` and remember the call.

        ``task``: a hash of the call's task id (or session id), 0 when it has neither.
        Returns ``(length, peak rate, peak burst, start time, score bins)`` of the
        episode this call ended, if it ended one that should be learned, else None.
        """
        pos, filled = self.pos, self.filled
        # the ring keeps 0 for "no destination": a destination whose key hashes to 0 (a host
        # name an attacker can pick, crc32 being affine) is kept as 1, not dropped from fan-out
        dest = (f.destination_hashes[0] or 1) if f.destination_hashes else 0
        self._measure(f, t, dest)
        # transition from the previous call
        if self.prev_tool >= 0:
            f.transition = transition_hash(self.prev_tool, f.tool)
            f.prev_hash = self.prev_tool
            f.prev_tool = self.prev_tool_name
        self.prev_tool = f.tool
        self.prev_tool_name = f.tool_name
        # error / denied streak
        if f.failed:
            self.streak += 1
            f.error_streak = self.streak
        elif f.outcome == "ok":
            self.streak = 0
        last = self.last_t
        ended = self._episode(f, t, task, last)
        # remember
        self.times[pos] = t
        self.keys[pos] = dest
        self.pos = (pos + 1) % RING
        if filled < RING:
            self.filled = filled + 1
        if self.first_t is None or t < self.first_t:
            self.first_t = t
        if last is None or t > last:
            self.last_t = t
        return ended

    def _measure(self, f: CallFeatures, t: float, dest: int) -> None:
        """Rate, burst and fan-out of ``f`` over the ring (the call itself not yet in it)."""
        times, keys = self.times, self.keys
        pos, filled = self.pos, self.filled
        # rate and burst: calls within the last minute and the last ten seconds, this one included
        rate = burst = 1
        i = pos
        cutoff = t - RATE_SECONDS
        short = t - BURST_SECONDS
        for _ in range(filled):
            i = (i - 1) % RING
            ti = times[i]
            if ti <= cutoff:
                break
            rate += 1
            if ti > short:
                burst += 1
        f.rate = rate
        f.burst = burst
        # fan-out: distinct destinations within the last ten minutes (only for calls with one)
        # A key counts at its newest call in the window: the calls between that one and
        # this (all in the window, walked already) do not hold it. No set: its boxed ints
        # cost more than these few comparisons (at most RING * (RING - 1) / 2).
        if dest:
            fanout = 1
            i = pos
            cutoff = t - FANOUT_SECONDS
            for _ in range(filled):
                i = (i - 1) % RING
                if times[i] <= cutoff:
                    break
                k = keys[i]
                if k and k != dest:
                    j = (i + 1) % RING
                    while j != pos and keys[j] != k:
                        j = (j + 1) % RING
                    if j == pos:
                        fanout += 1
            f.fanout = fanout

    def _episode(
        self, f: CallFeatures, t: float, task: int, last: float | None
    ) -> tuple[int, int, int, float, list[int]] | None:
        """Count ``f`` in its episode (starting a new one if it does); the ended one, if due."""
        if task:
            new = task != self.ep_key
        else:
            new = bool(self.ep_key) or last is None or t - last > EPISODE_GAP_SECONDS
        ended = None
        if new or self.ep_len >= EPISODE_MAX_CALLS:
            if self.ep_len and not self.ep_held:
                ended = (self.ep_len, self.ep_rate, self.ep_burst, self.ep_start, self.ep_bins)
            self.ep_key, self.ep_len, self.ep_rate, self.ep_burst = task, 0, 0, 0
            self.ep_start = t
            self.ep_held = False
            self.ep_bins = []
        self.ep_len += 1
        if f.rate > self.ep_rate:
            self.ep_rate = f.rate
        if f.burst > self.ep_burst:
            self.ep_burst = f.burst
        f.task_length = self.ep_len
        return ended

    def hold(self) -> None:
        """The current episode drew an alert or a revoke-worthy finding: do not learn its
        peaks or scores."""
        self.ep_held = True

    def span(self) -> float:
        """Seconds of event time this agent has been observed over."""
        if self.first_t is None or self.last_t is None:
            return 0.0
        return self.last_t - self.first_t

    def dump(self) -> list[Any]:
        return [getattr(self, name) for name in _STATE]

    def load(self, data: list[Any]) -> None:
        """The scalars :meth:`dump` wrote; ValueError naming the first field of the wrong
        type or range (a stored snapshot is input: it must not fail a later call)."""
        for name, value in zip(_STATE, data, strict=True):
            if not _fits(name, value):
                raise ValueError(f"baseline window field {name!r}: {type(value).__name__}")
            setattr(self, name, value)


#: The scalars a snapshot holds, in its order (the rings are in the model's buffer).
_STATE: Final = (
    "pos",
    "filled",
    "prev_tool",
    "prev_tool_name",
    "streak",
    "ep_key",
    "ep_len",
    "ep_rate",
    "ep_burst",
    "ep_start",
    "ep_held",
    "ep_bins",
    "first_t",
    "last_t",
)


_INTS: Final = frozenset({"prev_tool", "streak", "ep_key", "ep_len", "ep_rate", "ep_burst"})


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fits(name: str, v: Any) -> bool:
    """Whether ``v`` can be the window's field ``name`` (its type, and for ring indices its range)."""
    if name in ("pos", "filled"):
        return _int(v) and 0 <= v <= RING and (name == "filled" or v < RING)
    if name in _INTS:
        return _int(v)
    if name == "prev_tool_name":
        return isinstance(v, str)
    if name == "ep_held":
        return isinstance(v, bool)
    if name == "ep_bins":
        return isinstance(v, list) and all(_int(b) and 0 <= b < SIZE[T_CAL] for b in v)
    if name == "ep_start":
        return _number(v)
    return v is None or _number(v)  # first_t, last_t
