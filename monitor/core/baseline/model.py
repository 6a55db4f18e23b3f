"""One agent's behaviour baseline: ``score_one`` / ``learn_one`` over :mod:`.features`.

The model, in one paragraph: every feature of a call gets a *surprise* in nats
(how unlikely the value is given this agent's own history — exact counts for
the categorical and ordinal features, :mod:`.counts`; running moments for data
volume, :mod:`.moments`; circular counts for the hour). A feature contributes
only its surprise *above its own running mean* (``max(0, s_f - m_f)``): an
agent whose every call touches a new file is not penalised on every call for
that, but a regular agent's first new host stands out. Evidence is counted
once (a new server implies a new tool, which implies a new argument shape),
what is merely rare within the agent's repertoire counts with weight
:data:`~.counts.RARE`, and ``chain`` adds up consecutive unusual transitions.
The raw score is the sum of the contributions (a naive-Bayes log-likelihood
ratio, clipped per feature); :mod:`.calibration` turns it into a per-agent
calibrated score.

What is learned when: tool, server, argument shape, transition, destination,
resource, fan-out and error streak on every call the caller chooses to learn
(:meth:`learn_one`); rate, burst, task length, hour and weekday, and the
calibration scores, once per *episode* when it ends, and only if nothing in
it alerted (:mod:`.window`). Deciding is not done here (the detector decides,
:mod:`monitor.core.detectors.behaviour`), and neither is the choice of what to
learn: the caller learns a call only after the decision step, and not if any
detector wanted access revoked.

State is one ``bytearray`` holding every numeric array plus a dozen scalars;
where each array lives in it is :mod:`.layout`. :meth:`AgentBaseline.snapshot` is
that buffer in base64 plus the scalars (about 3.5 KiB of JSON). Every array,
touched on every call, is kept in a typed vector while the model runs and written
back into the buffer for a snapshot.

>>> from monitor.events import ToolCall
>>> m = AgentBaseline()
>>> call = ToolCall.model_validate({"event_id": "e", "ts": "2026-03-02T10:00:00Z",
...     "agent_id": "a", "server": "fs", "tool": "read_file", "outcome": "ok"})
>>> f = m.observe(call, 1772445600.0)
>>> raw, s = m.score_one(f)
>>> m.learn_one(f, s, raw)
>>> m.n_learned
1
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from math import log
from typing import Any, Final

import numpy as np
from librt.vecs import vec
from mypy_extensions import i64

from monitor.core.baseline import calibration as cal
from monitor.core.baseline import feedback as fb
from monitor.core.baseline import moments
from monitor.core.baseline.counts import (
    BUCKET,
    COUNT_MAX,
    HALVE_AT,
    RARE,
    T_BURST,
    T_CAL,
    T_DESTINATION,
    T_FANOUT,
    T_HOUR,
    T_RATE,
    T_RESOURCE,
    T_SERVER,
    T_SHAPE,
    T_STREAK,
    T_TASK,
    T_TOOL,
    T_TRANSITION,
    T_WEEKDAY,
    add,
    halve,
    novelty,
    seen_surprise,
    tail_surprise,
)
from monitor.core.baseline.features import (
    F_BURST,
    F_BYTES_IN,
    F_BYTES_OUT,
    F_CHAIN,
    F_DESTINATION,
    F_ERRORS,
    F_FANOUT,
    F_HOUR,
    F_RATE,
    F_RESOURCE,
    F_SERVER,
    F_SHAPE,
    F_TASK,
    F_TOOL,
    F_TRANSITION,
    F_WEEKDAY,
    FEATURES,
    N_FEATURES,
    CallFeatures,
    extract_fields,
    h32,
)
from monitor.core.baseline.feedback import FEEDBACK_KEEP, FEEDBACK_WEIGHT
from monitor.core.baseline.layout import (
    _B_COUNTS,
    _B_KEYS,
    _B_REALS,
    _B_SINGLES,
    _B_TIMES,
    _B_TOTALS,
    _COUNTS,
    _EP_BURST,
    _EP_HOUR,
    _EP_RATE,
    _EP_SLOTS,
    _EP_TASK,
    _EP_WEEKDAY,
    _M_DEST,
    _M_RES,
    _M_SERVER,
    _M_SHAPE,
    _M_TOOL,
    _M_TRANS,
    _M_VOL,
    _OFF_BURST,
    _OFF_CAL,
    _OFF_DEST,
    _OFF_FANOUT,
    _OFF_HOUR,
    _OFF_RATE,
    _OFF_RES,
    _OFF_SERVER,
    _OFF_SHAPE,
    _OFF_STREAK,
    _OFF_TASK,
    _OFF_TOOL,
    _OFF_TRANS,
    _OFF_VOLUME_N,
    _OFF_WEEKDAY,
    _REALS,
    _RING_KEYS,
    _RING_TIMES,
    _TABLES,
    BUFFER_BYTES,
    LAYOUT,
    N_REALS,
    R_CHAIN,
    R_EW,
    R_IN_MEAN,
    R_IN_VAR,
    R_OUT_MEAN,
    R_OUT_VAR,
    R_TAIL,
    TOOL_SLOTS,
    check_snapshot,
    views,
)
from monitor.core.baseline.moments import f32
from monitor.core.baseline.window import Window
from monitor.events import ToolCall

#: Per-feature weights of the contributions (tuned on the tuning seeds, see evaluate.py).
WEIGHTS: Final[tuple[float, ...]] = tuple(
    0.5 if name == "error_streak" else 1.0 for name in FEATURES
)
_W: Final = vec[float](WEIGHTS)  # the same, unboxed: score_one's loop reads one per feature
EW_ALPHA: Final = 0.02  # weight floor of the running mean surprise per feature …
EW_CLIP: Final = 1.0  # … whose steps up are clipped: a burst must not make itself typical …
EW_ZERO: Final = 1e-3  # … and which snaps to zero below this
SURPRISE_CAP: Final = 30.0  # nats; one feature cannot dominate beyond this
HOUR_AFTER: Final = 86_400.0  # the hour of day is judged once an agent has a day of history …
WEEKDAY_AFTER: Final = 7 * 86_400.0  # … and the weekday once it has a week

#: per charter baseline (by identity): the baseline, its warm-up, p_alert, p_high
Settings = tuple[Any, int, float, float]


class AgentBaseline:
    """Per-agent online model. River's protocol: ``score_one`` reads, ``learn_one`` writes."""

    __slots__ = (
        "_ep",
        "_pf",
        "_praw",
        "_ps",
        "_task",
        "_task_h",
        "_thr",
        "buf",
        "counts",
        "feedback",
        "keys",
        "n_cal",
        "n_learned",
        "n_scored",
        "reals",
        "settings",
        "since_fit",
        "singles",
        "times",
        "top",
        "totals",
        "window",
    )

    def __init__(self, buf: bytearray | None = None) -> None:
        self.buf = buf if buf is not None else bytearray(BUFFER_BYTES)
        # every array is read and written on every call, so while the model runs each lives
        # in a typed vector (compiled, an item is one load or store: no boxing, no buffer
        # protocol, no list of scattered int and float objects); :meth:`_store` writes them
        # back into the buffer for a snapshot. The reals stay float32 values: every write
        # rounds (moments.f32), as a float32 array would.
        buf = self.buf
        self.reals: vec[float] = vec[float](_REALS.unpack_from(buf, _B_REALS))
        self.times: vec[float] = vec[float](_RING_TIMES.unpack_from(buf, _B_TIMES))
        self.keys: vec[i64] = vec[i64](_RING_KEYS.unpack_from(buf, _B_KEYS))
        self.totals: vec[i64] = vec[i64](_TABLES.unpack_from(buf, _B_TOTALS))
        self.singles: vec[i64] = vec[i64](_TABLES.unpack_from(buf, _B_SINGLES))
        self.counts: vec[i64] = vec[i64](_COUNTS.unpack_from(buf, _B_COUNTS))
        self.window = Window(self.times, self.keys)
        self.n_learned = 0  # calls learned
        self.n_scored = 0  # calls whose surprises fed the running means
        self.n_cal = 0  # scores in the calibration histogram (after halvings)
        self.since_fit = 0
        self.top = -1  # highest non-empty histogram bin
        self._thr: tuple[float, float] | None = None  # (p, raw threshold), until the next change
        # surprises read from the episode-level tables (rate, burst, task length, hour,
        # weekday), by slot (:data:`_EP_SLOTS`; negative: not computed yet): those tables
        # change only when an episode ends (:meth:`observe`), so most calls read them here
        # instead of summing a table. Derived state: never snapshotted, rebuilt on demand.
        self._ep: vec[float] | None = None
        # the call between :meth:`step` and :meth:`learn_pending`: features, surprises, raw
        self._pf: CallFeatures | None = None
        self._ps: vec[float] | None = None
        self._praw: float | None = None
        # the last call's task (or session) id and its h32: an agent's calls come in episodes
        # of one task, so most calls compare one string instead of hashing it anew
        self._task = ""
        self._task_h = 0
        # [alert_id, slots, score bin, volume slot, log bytes out, log bytes in, learned]
        self.feedback: list[list[Any]] = []
        # the detector's settings for this agent's charter baseline, kept by CallStep.on_call
        # until that baseline object changes: one identity test per call, where a look-up by
        # id(baseline) boxes an int and hashes it. Derived: never snapshotted.
        self.settings: Settings | None = None

    # ------------------------------------------------------------------ features
    def observe(self, call: ToolCall, t: float) -> CallFeatures:
        """The call's features, windowed ones included; the window remembers the call."""
        fields = call.__dict__  # the validated values, read once (see extract_fields)
        f = extract_fields(fields, t)
        task: str | None = fields["task_id"] or fields["session_id"]
        th = 0
        if task:
            if task != self._task:
                self._task = task
                # the window takes 0 for "no task": a task id hashing to 0 (an attacker can
                # pick one) would have its calls cut into episodes by gaps, not by its task
                self._task_h = h32(task) or 1
            th = self._task_h
        ended = self.window.observe(f, t, th)
        if ended is not None:  # learn the episode that just ended: peaks, start time, scores
            length, rate, burst, start, bins = ended
            c, tot, sg = self.counts, self.totals, self.singles
            add(c, tot, sg, _OFF_TASK + bucket_of(length), T_TASK)
            add(c, tot, sg, _OFF_RATE + bucket_of(rate), T_RATE)
            add(c, tot, sg, _OFF_BURST + bucket_of(burst), T_BURST)
            day, sec = divmod(int(start), 86_400)
            add(c, tot, sg, _OFF_HOUR + sec // 3600, T_HOUR)
            add(c, tot, sg, _OFF_WEEKDAY + (day + 3) % 7, T_WEEKDAY)
            self._ep = None  # the episode tables moved: their cached surprises are stale
            if bins:
                self.commit(bins)
        return f

    # ------------------------------------------------------------------ score
    def score_one(self, f: CallFeatures) -> tuple[float, vec[float]]:
        """``(raw score, per-feature surprises)``; reads state only.

        Evidence is counted once: a new server implies a new tool, and a new tool
        implies new transitions and argument shapes, so those count as zero then;
        shapes, transitions, destinations and resources are judged within the
        context of the tool (or previous tool) — see :func:`.counts.novelty`.
        (The count-table arithmetic of :mod:`.counts` is inlined here: this runs
        for every call.)
        """
        c, tot, re = self.counts, self.totals, self.reals
        s = vec[float]([0.0] * N_FEATURES)
        c_tool = c[_OFF_TOOL + (f.tool & _M_TOOL)]
        self._score_kind(f, s, c_tool, re[R_EW + F_TRANSITION])
        if f.destination_hashes or f.resource_hashes:
            self._score_targets(f, s, c_tool)
        got = self._ep
        if got is None:
            got = self._ep = vec[float]([-1.0] * _EP_SLOTS)
        ep: vec[float] = got  # narrowed once: an optional vec is unboxed at every index
        iv = f.rate
        k = _EP_RATE + (BUCKET[iv] if iv < 64 else 15)
        v = ep[k]
        if v < 0.0:
            v = ep[k] = tail_surprise(c, T_RATE, k - _EP_RATE, tot[T_RATE])
        s[F_RATE] = v
        iv = f.burst
        k = _EP_BURST + (BUCKET[iv] if iv < 64 else 15)
        v = ep[k]
        if v < 0.0:
            v = ep[k] = tail_surprise(c, T_BURST, k - _EP_BURST, tot[T_BURST])
        s[F_BURST] = v
        iv = f.task_length
        k = _EP_TASK + (BUCKET[iv] if iv < 64 else 15)
        v = ep[k]
        if v < 0.0:
            v = ep[k] = tail_surprise(c, T_TASK, k - _EP_TASK, tot[T_TASK])
        s[F_TASK] = v
        if f.error_streak:
            s[F_ERRORS] = tail_surprise(c, T_STREAK, min(f.error_streak, 7), tot[T_STREAK])
        vs = f.tool & _M_VOL
        if f.outcome == "ok" or f.outcome == "error":
            s[F_BYTES_OUT] = moments.upper_surprise(
                re[R_OUT_MEAN + vs], re[R_OUT_VAR + vs], c[_OFF_VOLUME_N + vs], f.bytes_out
            )
        s[F_BYTES_IN] = moments.upper_surprise(
            re[R_IN_MEAN + vs], re[R_IN_VAR + vs], c_tool, f.bytes_in
        )
        w = self.window
        first, last = w.first_t, w.last_t
        if first is not None and last is not None and last - first >= HOUR_AFTER:
            h = f.hour
            k = _EP_HOUR + h
            v = ep[k]
            if v < 0.0:
                near = float(c[_OFF_HOUR + h]) + 0.5 * float(
                    c[_OFF_HOUR + (h - 1) % 24] + c[_OFF_HOUR + (h + 1) % 24]
                )
                v = ep[k] = -log((near + 0.25) / float(2 * tot[T_HOUR] + 6))
            s[F_HOUR] = v
            if last - first >= WEEKDAY_AFTER:
                k = _EP_WEEKDAY + f.weekday
                v = ep[k]
                if v < 0.0:
                    v = ep[k] = -log(
                        (float(c[_OFF_WEEKDAY + f.weekday]) + 0.25) / (float(tot[T_WEEKDAY]) + 1.75)
                    )
                s[F_WEEKDAY] = v
        raw = 0.0
        weights = _W
        for i in range(N_FEATURES):  # indexed, typed: C doubles when compiled; capped in ``s``
            v = s[i]
            m: float = re[R_EW + i]
            if v > m:
                if v > SURPRISE_CAP:
                    v = s[i] = SURPRISE_CAP
                raw += weights[i] * (v - m)
        return raw, s

    def _score_kind(self, f: CallFeatures, s: vec[float], c_tool: i64, ew_trans: float) -> None:
        """Server, tool, transition (and chain) and argument shape surprises, into ``s``
        (``ew_trans``: the transition's running mean surprise)."""
        c, tot, sg, re = self.counts, self.totals, self.singles, self.reals
        if c[_OFF_SERVER + (f.server & _M_SERVER)]:
            # a known server: its rare tools are the tool feature's business
            n = tot[T_TOOL]
            p = (float(sg[T_TOOL]) + 0.5) / float(n + 1)
            new = -log(p) if p < 1.0 else 0.0
            if c_tool:
                v = RARE * -log(float(c_tool) / float(n + 1)) if c_tool <= n else 0.0
                s[F_TOOL] = v if v < new else new
            else:
                s[F_TOOL] = new
        else:  # a new server: its tool is new too, counted once, here
            s[F_SERVER] = novelty(tot[T_SERVER], sg[T_SERVER])
        if not c_tool:
            return
        if f.transition >= 0:  # judged within the less known of its two tools
            c_prev = c[_OFF_TOOL + (f.prev_hash & _M_TOOL)]
            ctx = c_prev if c_prev < c_tool else c_tool
            new = novelty(tot[T_TRANSITION], sg[T_TRANSITION], ctx)
            k = c[_OFF_TRANS + (f.transition & _M_TRANS)]
            if k:
                v = RARE * -log(float(k) / float(c_prev + 1)) if k <= c_prev else 0.0
                s[F_TRANSITION] = v if v < new else new
            else:
                s[F_TRANSITION] = new
            if s[F_TRANSITION] > ew_trans:  # unusual after unusual
                s[F_CHAIN] = re[R_CHAIN] + re[R_CHAIN + 1] + re[R_CHAIN + 2]
        k = c[_OFF_SHAPE + (f.shape & _M_SHAPE)]
        if k:
            v = RARE * -log(float(k) / float(c_tool + 1)) if k <= c_tool else 0.0
            if v > 0.3:  # only a rare shape can be above its novelty floor
                new = novelty(tot[T_SHAPE], sg[T_SHAPE], c_tool)
                v = v if v < new else new
            s[F_SHAPE] = v
        else:
            s[F_SHAPE] = novelty(tot[T_SHAPE], sg[T_SHAPE], c_tool)

    def _score_targets(self, f: CallFeatures, s: vec[float], c_tool: i64) -> None:
        """Destination, fan-out and resource surprises, into ``s``."""
        c, tot, sg = self.counts, self.totals, self.singles
        if f.destination_hashes:
            n = tot[T_DESTINATION]
            new = novelty(n, sg[T_DESTINATION], c_tool)
            worst = -1.0  # max over the destinations, as a loop: no list, no generator
            all_known = True
            for h in f.destination_hashes:
                k = c[_OFF_DEST + (h & _M_DEST)]
                if not k:
                    all_known = False
                v = _cat(k, n, new)
                if v > worst:
                    worst = v
            s[F_DESTINATION] = worst
            # fan-out among calls with a destination; a new destination is its own news
            if f.fanout > 1 and all_known:
                s[F_FANOUT] = tail_surprise(c, T_FANOUT, bucket_of(f.fanout), tot[T_FANOUT])
        if f.resource_hashes:
            n = tot[T_RESOURCE]
            new = novelty(n, sg[T_RESOURCE], c_tool)
            worst = -1.0
            for h in f.resource_hashes:
                v = _cat(c[_OFF_RES + (h & _M_RES)], n, new)
                if v > worst:
                    worst = v
            s[F_RESOURCE] = worst

    # ------------------------------------------------------------------ the detector's step
    def step(self, call: ToolCall, t: float, warmup: int, p_alert: float) -> bool:
        """The behaviour detector's per-call work in one compiled call: observe the call,
        score it and move the chain on once ``warmup // 2`` calls are learned, and tell
        whether it can alert: past warm-up, calibrated, and a raw score at or above the
        threshold of ``p_alert``. The call then waits in the model: the detector takes it
        (:meth:`take_pending`) when the decision step found something in it; otherwise it
        is learned first thing in the next step, or by :meth:`learn_pending` before anything
        reads the model (a snapshot, a verdict, a report).

        (Before, the detector made these five calls from interpreted code, with a tuple
        per call to carry them to ``after_call``. And the learning of a call with no
        finding ran from ``after_call``, between this agent's calls, where its code had gone
        cold: here it runs beside the step's, for the same result.)
        """
        self.learn_pending()  # the last call, if it was judged without a finding
        f = self.observe(call, t)
        n = self.n_learned
        self._pf = f
        if n < warmup // 2:  # too early to score: observe and learn only
            self._ps = None
            self._praw = None
            return False
        raw, s = self.score_one(f)
        self.push(s)
        self._ps = s
        self._praw = raw
        if n < warmup or self.n_cal < cal.MIN_SCORES:
            return False
        return raw >= self.threshold(p_alert)  # exact: see calibration.threshold

    def learn_pending(self) -> None:
        """Learn the call :meth:`step` left waiting, if any (one judged without a finding:
        the common case). Every reader of the learned state calls this first."""
        f = self._pf
        if f is not None:
            self.learn_one(f, self._ps, self._praw)
            self._pf = None
            self._ps = None
            self._praw = None

    def pending(self) -> tuple[CallFeatures | None, vec[float] | None, float | None]:
        """The call :meth:`step` left waiting: features, surprises, raw score."""
        return self._pf, self._ps, self._praw

    def take_pending(self) -> tuple[CallFeatures | None, vec[float] | None, float | None]:
        """:meth:`pending`, and forget it."""
        got = (self._pf, self._ps, self._praw)
        self._pf = None
        self._ps = None
        self._praw = None
        return got

    def push(self, surprises: vec[float]) -> None:
        """Move the sequence on: this call's transition contribution joins the chain."""
        re = self.reals
        d = surprises[F_TRANSITION] - re[R_EW + F_TRANSITION]
        # the chain shifts by one; a slot whose value does not change is not written (the
        # chain is mostly zeros), and only the new value needs rounding to float32
        c0, c1, c2 = re[R_CHAIN], re[R_CHAIN + 1], re[R_CHAIN + 2]
        c3 = d if d > 0.0 else 0.0
        if c1 != c0:
            re[R_CHAIN] = c1
        if c2 != c1:
            re[R_CHAIN + 1] = c2
        if c3 != c2:
            re[R_CHAIN + 2] = f32(c3)

    def contributions(self, surprises: vec[float]) -> list[float]:
        """What each feature added to the raw score (its surprise above its running mean)."""
        re = self.reals
        return [max(0.0, WEIGHTS[i] * (v - re[R_EW + i])) for i, v in enumerate(surprises)]

    # ------------------------------------------------------------------ learn
    def slots_of(self, f: CallFeatures) -> list[int]:
        """The count-table slots learning ``f`` increments (absolute indices).

        The episode-level tables (task length, rate, burst, hour, weekday) are
        learned when an episode ends, not here (:meth:`observe`).
        """
        out = [
            _OFF_TOOL + (f.tool & _M_TOOL),
            _OFF_SERVER + (f.server & _M_SERVER),
            _OFF_SHAPE + (f.shape & _M_SHAPE),
            _OFF_STREAK + (f.error_streak if f.error_streak < 7 else 7),
        ]
        if f.transition >= 0:
            out.append(_OFF_TRANS + (f.transition & _M_TRANS))
        if f.destination_hashes:
            out.append(_OFF_FANOUT + bucket_of(f.fanout))
            for h in f.destination_hashes:
                out.append(_OFF_DEST + (h & _M_DEST))
        for h in f.resource_hashes:
            out.append(_OFF_RES + (h & _M_RES))
        return out

    def learn_one(
        self,
        f: CallFeatures,
        surprises: vec[float] | None = None,
        raw: float | None = None,
    ) -> None:
        """Learn one call. ``surprises`` (from :meth:`score_one`) update the running means;
        ``raw`` goes to the calibration histogram when the episode ends without an
        alert (:mod:`.window`) — pass it only once calibration has started.
        """
        c, re = self.counts, self.reals
        vs = f.tool & _M_VOL
        n_tool = c[_OFF_TOOL + (f.tool & _M_TOOL)]
        if f.outcome == "ok" or f.outcome == "error":  # a denied call returned nothing
            i = _OFF_VOLUME_N + vs
            n_out = c[i]
            moments.update(re, R_OUT_MEAN + vs, R_OUT_VAR + vs, n_out, f.bytes_out)
            if n_out < COUNT_MAX:
                c[i] = n_out + 1
        moments.update(re, R_IN_MEAN + vs, R_IN_VAR + vs, n_tool, f.bytes_in)
        # the slots of slots_of(f), in its order, without building its list
        self._learn_slot(_OFF_TOOL + (f.tool & _M_TOOL), T_TOOL)
        self._learn_slot(_OFF_SERVER + (f.server & _M_SERVER), T_SERVER)
        self._learn_slot(_OFF_SHAPE + (f.shape & _M_SHAPE), T_SHAPE)
        self._learn_slot(_OFF_STREAK + (f.error_streak if f.error_streak < 7 else 7), T_STREAK)
        if f.transition >= 0:
            self._learn_slot(_OFF_TRANS + (f.transition & _M_TRANS), T_TRANSITION)
        if f.destination_hashes:
            self._learn_slot(_OFF_FANOUT + bucket_of(f.fanout), T_FANOUT)
            for h in f.destination_hashes:
                self._learn_slot(_OFF_DEST + (h & _M_DEST), T_DESTINATION)
        for h in f.resource_hashes:
            self._learn_slot(_OFF_RES + (h & _M_RES), T_RESOURCE)
        self.n_learned += 1
        if surprises is not None:
            sv: vec[float] = surprises  # narrowed once: an optional vec is unboxed at every index
            a = 1.0 / (self.n_scored + 1)
            if a < EW_ALPHA:
                a = EW_ALPHA
            # each mean that moves is rounded to float32, as the buffer stores it
            for i in range(N_FEATURES):  # indexed, typed: C doubles when compiled
                v = sv[i]
                m: float = re[R_EW + i]
                if v:
                    d = v - m
                    re[R_EW + i] = f32(m + a * (d if d < EW_CLIP else EW_CLIP))
                elif m > EW_ZERO:  # a feature that is quiet decays towards zero …
                    re[R_EW + i] = f32(m - a * m)
                elif m:  # … and stops costing anything once it gets there
                    re[R_EW + i] = 0.0
            self.n_scored += 1
        if raw is not None:
            self.window.ep_bins.append(cal.score_bin(raw))

    def _learn_slot(self, i: i64, table: i64) -> None:
        """Count slot ``i`` of ``table`` once (counts.add, inlined: this runs for every call)."""
        c = self.counts
        old = c[i]
        if old < COUNT_MAX:
            c[i] = old + 1
        if old < 2:
            self.singles[table] += 1 if old == 0 else -1
        tot = self.totals
        n = tot[table] + 1
        tot[table] = n
        if n >= HALVE_AT:
            halve(c, tot, self.singles, table)

    def commit(self, bins: list[int]) -> None:
        """Add raw scores (as histogram bins) to the calibration; refit the tail now and then."""
        c, tot, sg = self.counts, self.totals, self.singles
        for b in bins:
            before = tot[T_CAL]
            add(c, tot, sg, _OFF_CAL + b, T_CAL)
            if tot[T_CAL] < before:  # halved: recount the top
                self.top = self._top()
            elif b > self.top:
                self.top = b
        self.n_cal = tot[T_CAL]
        self._thr = None
        self.since_fit += len(bins)
        if self.since_fit >= cal.FIT_EVERY or self.n_cal <= 4 * cal.FIT_EVERY:
            self.refit()

    def refit(self) -> None:
        u, beta, q_u = cal.fit(self.counts, self.n_cal)
        re = self.reals
        re[R_TAIL], re[R_TAIL + 1], re[R_TAIL + 2] = f32(u), f32(beta), f32(q_u)
        self.since_fit = 0
        self._thr = None

    def _top(self) -> int:
        c = self.counts
        for b in range(cal.BINS - 1, -1, -1):
            if c[_OFF_CAL + b]:
                return b
        return -1

    # ------------------------------------------------------------------ calibrated score
    @property
    def calibrating(self) -> bool:
        """True until the histogram holds enough scores to alert on."""
        return self.n_cal < cal.MIN_SCORES

    def threshold(self, p: float) -> float:
        """The raw score at which the p-value reaches ``p`` (exact; see :mod:`.calibration`)."""
        got = self._thr
        if got is not None and got[0] == p:
            return got[1]
        re = self.reals
        r = cal.threshold(re[R_TAIL], re[R_TAIL + 1], re[R_TAIL + 2], self.top, p)
        self._thr = (p, r)
        return r

    def p_value(self, raw: float) -> float:
        re = self.reals
        return cal.p_value(self.counts, self.n_cal, re[R_TAIL], re[R_TAIL + 1], re[R_TAIL + 2], raw)

    # ------------------------------------------------------------------ feedback
    def remember(self, alert_id: str, f: CallFeatures, raw: float | None, learned: bool) -> None:
        """Keep an alerted call for an analyst's verdict (:func:`.feedback.remember`)."""
        fb.remember(self, alert_id, f, raw, learned)

    def apply_feedback(self, alert_id: str, verdict: str) -> bool:
        """Act on an analyst's verdict on a remembered alert (:func:`.feedback.apply`)."""
        self.learn_pending()
        return fb.apply(self, alert_id, verdict)

    # ------------------------------------------------------------------ state
    def _store(self) -> None:
        """Write every array (a typed vector while the model runs) into the buffer."""
        buf = self.buf
        _RING_TIMES.pack_into(buf, _B_TIMES, *self.times)
        _REALS.pack_into(buf, _B_REALS, *self.reals)
        _RING_KEYS.pack_into(buf, _B_KEYS, *self.keys)
        _COUNTS.pack_into(buf, _B_COUNTS, *self.counts)
        _TABLES.pack_into(buf, _B_TOTALS, *self.totals)
        _TABLES.pack_into(buf, _B_SINGLES, *self.singles)

    def arrays(self) -> dict[str, np.ndarray]:
        """Numpy views of the state buffer, brought up to date: for inspection, tests and
        notebooks, as of this call: the model keeps its arrays in typed vectors (see
        ``__init__``), so writing into a view does not change the model."""
        self.learn_pending()
        self._store()
        return views(self.buf)

    def snapshot(self) -> list[Any]:
        """A JSON-able list: the buffer in base64 and the scalars (a call left waiting
        learned first)."""
        self.learn_pending()
        self._store()
        return [
            LAYOUT,
            base64.b64encode(self.buf).decode("ascii"),
            self.n_learned,
            self.n_scored,
            self.n_cal,
            self.since_fit,
            self.top,
            self.window.dump(),
            self.feedback,
        ]

    @classmethod
    def restore(cls, data: Any) -> AgentBaseline:
        """The model :meth:`snapshot` wrote; ValueError for another layout. (``Any``: a
        ``list`` argument type is a TypeError for a dict or None in the compiled build.)"""
        if not isinstance(data, list) or not data or data[0] != LAYOUT:
            head = data[:1] if isinstance(data, list) else type(data).__name__
            raise ValueError(f"unsupported baseline snapshot layout {head!r}")
        _, b64, n_learned, n_scored, n_cal, since_fit, top, window, feedback = data
        check_snapshot(b64, (n_learned, n_scored, n_cal, since_fit, top), window, feedback)
        buf = bytearray(base64.b64decode(b64))
        if len(buf) != BUFFER_BYTES:
            raise ValueError(f"baseline buffer of {len(buf)} bytes, expected {BUFFER_BYTES}")
        m = cls(buf)
        m.n_learned, m.n_scored, m.n_cal, m.since_fit, m.top = (
            n_learned,
            n_scored,
            n_cal,
            since_fit,
            top,
        )
        m.window.load(window)
        m.feedback = feedback
        return m


SECTION: Final = "behaviour_anomaly"  # the agent-state section the model lives in


class CallStep:
    """The behaviour detector's ``on_call``, compiled: the detector hands the engine
    this object's :meth:`on_call`, so the common call (scored, nothing to report) runs
    no interpreted code at all.

    It finds the charter's baseline settings (``settings(cfg)`` computes them, once per
    baseline object) and the agent's model (made on the first call), keeps the call's
    context and model for ``after_call`` (:attr:`pending_ctx`, :attr:`pending_m`), and
    makes the model's :meth:`AgentBaseline.step`. A call that can alert goes on to
    ``alerting(ctx, model, cfg, p_high)``, the detector's own code, which makes the
    finding or not.
    """

    def __init__(
        self,
        default: Any,
        settings: Callable[[Any], tuple[int, float, float]],
        alerting: Callable[[Any, AgentBaseline, Any, float], Sequence[Any]],
    ) -> None:
        self.default = default  # the baseline of an agent no charter covers
        self.settings = settings
        self.alerting = alerting
        # the context and model of the call between on_call and after_call: the same context
        # object in the same engine, so one slot is enough. Held here, the context cannot be
        # freed and its id reused: ``is`` tells exactly whether after_call is about this call.
        self.pending_ctx: Any = None
        self.pending_m: AgentBaseline | None = None
        # Per charter baseline, by identity. An entry holds its baseline, so the id is not
        # reused while it is cached. (A single "last baseline" slot missed on every other
        # call where agents of several charters interleave.)
        self.by_cfg: dict[int, Settings] = {}

    def settings_of(self, cfg: Any) -> Settings:
        """``cfg``'s settings, computed and cached (at most 4,096 baselines: past that,
        charters were replaced many times over, and the cache starts again)."""
        by_cfg = self.by_cfg
        if len(by_cfg) >= 4096:
            by_cfg.clear()
        warmup, p_alert, p_high = self.settings(cfg)
        got: Settings = (cfg, warmup, p_alert, p_high)
        by_cfg[id(cfg)] = got
        return got

    def on_call(self, ctx: Any, st: Any) -> Sequence[Any]:
        charter = ctx.charter
        cfg = charter.baseline if charter is not None else self.default
        sections: dict[str, Any] = st.sections
        got = sections.get(SECTION)
        m: AgentBaseline
        if got is None:
            m = AgentBaseline()
            sections[SECTION] = m
        else:
            m = got
        last = m.settings
        if last is None or last[0] is not cfg:  # a new agent, or its charter changed
            last = self.by_cfg.get(id(cfg))
            if last is None or last[0] is not cfg:
                last = self.settings_of(cfg)
            m.settings = last
        self.pending_ctx = ctx
        self.pending_m = m
        if not m.step(ctx.call, ctx.t, last[1], last[2]):
            return ()  # the common case
        return self.alerting(ctx, m, cfg, last[3])


def _cat(c: i64, total: i64, new: float) -> float:
    """Surprise of a value with count ``c`` (novelty ``new`` if unseen; never above it)."""
    if c == 0:
        return new
    seen = seen_surprise(c, total)
    return seen if seen < new else new


def bucket_of(v: i64) -> i64:
    return BUCKET[v] if v < 64 else 15


#: re-exported: the layout and feedback names this module held before they got their own modules
__all__ = [
    "BUFFER_BYTES",
    "FEEDBACK_KEEP",
    "FEEDBACK_WEIGHT",
    "LAYOUT",
    "N_REALS",
    "R_IN_MEAN",
    "R_IN_VAR",
    "R_OUT_MEAN",
    "R_OUT_VAR",
    "TOOL_SLOTS",
    "AgentBaseline",
    "CallStep",
    "bucket_of",
]
