"""Where everything of an :class:`~.model.AgentBaseline` lives in its one state buffer.

State is one ``bytearray`` holding every numeric array (``float64`` ring of
call times, ``uint32`` ring of destinations and per-table totals, ``float32``
moments and running means, ``uint16`` count tables and score histogram),
viewed through numpy (:meth:`~.model.AgentBaseline.arrays`) for whole-array work,
plus a dozen scalars. Every array is read and written on every call, so a running
model keeps each in a typed vector (``librt.vecs.vec``: compiled, an item is one
load or store) and writes them back into the buffer (:data:`_REALS`,
:data:`_COUNTS`, :data:`_TABLES`, :data:`_RING_TIMES`, :data:`_RING_KEYS`) when it
is snapshotted or inspected: the bytes are the same (the reals are rounded to
``float32`` on every write, :func:`~.moments.f32`). :meth:`~.model.AgentBaseline.snapshot` is that buffer in base64 plus the
scalars: about 3.5 KiB of JSON whatever the agent does, and cheap (one base64 of
2.5 KB).

This module is that layout and nothing else: offsets in the ``float32`` reals
(``R_*``), byte offsets of each array in the buffer (``_B_*``), the absolute
offsets and index masks of the count tables the model reads on every call
(``_OFF_*``, ``_M_*``, from :mod:`.counts`), and the slots of the cached
episode-table surprises (``_EP_*``). Changing any of it changes the snapshot
format: bump :data:`LAYOUT`. (The underscored names are the model's internals,
shared within this package only.)

>>> BUFFER_BYTES
2800
"""

from __future__ import annotations

from struct import Struct
from typing import Any, Final

import numpy as np

from monitor.core.baseline import counts, features, window
from monitor.core.baseline.counts import (
    N_TABLES,
    OFFSET,
    SIZE,
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
    T_VOLUME_N,
    T_WEEKDAY,
)

LAYOUT: Final = 1  # version of the buffer layout below

# Every offset and mask below is arithmetic on literals *of this module*: mypy folds such
# a ``Final`` to a constant, and the compiled model carries it in its instructions. (It
# folds nothing that names a ``Final`` of another module: each use would load the value
# from that module, with a check that it is set. tests/core/baseline/test_layout.py holds
# every constant of the compiled modules to that.) So the sizes they are built from are
# repeated here, and checked at import against the modules that define them.
_S_TOOL: Final = 128
_S_SERVER: Final = 64
_S_TRANSITION: Final = 128
_S_DESTINATION: Final = 64
_S_RESOURCE: Final = 128
_S_SHAPE: Final = 128
_S_HOUR: Final = 32
_S_WEEKDAY: Final = 8
_S_RATE: Final = 16
_S_BURST: Final = 16
_S_FANOUT: Final = 16
_S_STREAK: Final = 8
_S_TASK: Final = 16
_S_CAL: Final = 64
_S_VOLUME_N: Final = 32
_N_TABLES: Final = 15
N_COUNTS: Final = 848  # slots of all tables
RING: Final = 32  # window.RING
N_FEATURES: Final = 16  # features.N_FEATURES
#: Data-volume moments are kept per tool in fewer slots than tool counts: two tools sharing
#: a slot only blur each other's usual volume, while two sharing a count slot hide novelty.
TOOL_SLOTS: Final = _S_VOLUME_N
_M_VOL: Final = TOOL_SLOTS - 1
# float32 "reals": per-tool moments of log bytes out/in, running mean surprise per feature, tail fit
R_OUT_MEAN: Final = 0
R_OUT_VAR: Final = R_OUT_MEAN + TOOL_SLOTS
R_IN_MEAN: Final = R_OUT_VAR + TOOL_SLOTS
R_IN_VAR: Final = R_IN_MEAN + TOOL_SLOTS
R_EW: Final = R_IN_VAR + TOOL_SLOTS
R_TAIL: Final = R_EW + N_FEATURES  # u, beta, q_u
R_CHAIN: Final = R_TAIL + 3  # transition contributions of the last CHAIN calls, oldest first
CHAIN: Final = 3
N_REALS: Final = R_CHAIN + CHAIN
# byte offsets: widest items first so every view is aligned
_B_TIMES: Final = 0
_B_REALS: Final = _B_TIMES + 8 * RING
_B_KEYS: Final = _B_REALS + 4 * N_REALS
_B_TOTALS: Final = _B_KEYS + 4 * RING
_B_SINGLES: Final = _B_TOTALS + 4 * _N_TABLES
_B_COUNTS: Final = _B_SINGLES + 4 * _N_TABLES
BUFFER_BYTES: Final = _B_COUNTS + 2 * N_COUNTS
# every array lives in a typed vector while the model runs; these read and write the buffer
_REALS: Final = Struct(f"{N_REALS}f")
_COUNTS: Final = Struct(f"{N_COUNTS}H")
_TABLES: Final = Struct(f"{N_TABLES}I")
_RING_TIMES: Final = Struct(f"{RING}d")
_RING_KEYS: Final = Struct(f"{RING}I")

# Offsets and masks of the tables the model indexes on every call. They must be the OFFSET
# and SIZE the tables define: checked below, at import.
_OFF_TOOL: Final = 0
_OFF_SERVER: Final = _OFF_TOOL + _S_TOOL
_OFF_TRANS: Final = _OFF_SERVER + _S_SERVER
_OFF_DEST: Final = _OFF_TRANS + _S_TRANSITION
_OFF_RES: Final = _OFF_DEST + _S_DESTINATION
_OFF_SHAPE: Final = _OFF_RES + _S_RESOURCE
_OFF_HOUR: Final = _OFF_SHAPE + _S_SHAPE
_OFF_WEEKDAY: Final = _OFF_HOUR + _S_HOUR
_OFF_RATE: Final = _OFF_WEEKDAY + _S_WEEKDAY
_OFF_BURST: Final = _OFF_RATE + _S_RATE
_OFF_FANOUT: Final = _OFF_BURST + _S_BURST
_OFF_STREAK: Final = _OFF_FANOUT + _S_FANOUT
_OFF_TASK: Final = _OFF_STREAK + _S_STREAK
_OFF_CAL: Final = _OFF_TASK + _S_TASK
_OFF_VOLUME_N: Final = _OFF_CAL + _S_CAL
_M_TOOL: Final = _S_TOOL - 1
_M_SERVER: Final = _S_SERVER - 1
_M_TRANS: Final = _S_TRANSITION - 1
_M_DEST: Final = _S_DESTINATION - 1
_M_RES: Final = _S_RESOURCE - 1
_M_SHAPE: Final = _S_SHAPE - 1
_FOLDED: Final = (
    (_OFF_TOOL, T_TOOL),
    (_OFF_SERVER, T_SERVER),
    (_OFF_TRANS, T_TRANSITION),
    (_OFF_DEST, T_DESTINATION),
    (_OFF_RES, T_RESOURCE),
    (_OFF_SHAPE, T_SHAPE),
    (_OFF_HOUR, T_HOUR),
    (_OFF_WEEKDAY, T_WEEKDAY),
    (_OFF_RATE, T_RATE),
    (_OFF_BURST, T_BURST),
    (_OFF_FANOUT, T_FANOUT),
    (_OFF_STREAK, T_STREAK),
    (_OFF_TASK, T_TASK),
    (_OFF_CAL, T_CAL),
    (_OFF_VOLUME_N, T_VOLUME_N),
)
_SIZES: Final = (
    _S_TOOL,
    _S_SERVER,
    _S_TRANSITION,
    _S_DESTINATION,
    _S_RESOURCE,
    _S_SHAPE,
    _S_HOUR,
    _S_WEEKDAY,
    _S_RATE,
    _S_BURST,
    _S_FANOUT,
    _S_STREAK,
    _S_TASK,
    _S_CAL,
    _S_VOLUME_N,
)
_FOLDS_AGREE: Final = (
    [off for off, _ in _FOLDED] == [OFFSET[t] for _, t in _FOLDED]
    and _SIZES == SIZE
    and (_N_TABLES, N_COUNTS) == (N_TABLES, counts.N_COUNTS)
    and (RING, N_FEATURES) == (window.RING, features.N_FEATURES)
)
if not _FOLDS_AGREE:
    raise ImportError(
        "baseline layout: the sizes and offsets folded here disagree with counts.TABLES, "
        "window.RING or features.N_FEATURES"
    )
# slots of the cached episode-table surprises (AgentBaseline._ep): 16 buckets of rate, burst
# and task length, 24 hours, 7 weekdays
_EP_RATE: Final = 0
_EP_BURST: Final = 16
_EP_TASK: Final = 32
_EP_HOUR: Final = 48
_EP_WEEKDAY: Final = 72
_EP_SLOTS: Final = 79


def views(buf: bytearray) -> dict[str, np.ndarray]:
    """Numpy views (no copies) of every array in a state buffer, by name."""
    return {
        "times": np.frombuffer(buf, np.float64, RING, _B_TIMES),
        "reals": np.frombuffer(buf, np.float32, N_REALS, _B_REALS),
        "keys": np.frombuffer(buf, np.uint32, RING, _B_KEYS),
        "totals": np.frombuffer(buf, np.uint32, N_TABLES, _B_TOTALS),
        "singles": np.frombuffer(buf, np.uint32, N_TABLES, _B_SINGLES),
        "counts": np.frombuffer(buf, np.uint16, N_COUNTS, _B_COUNTS),
    }


def check_snapshot(b64: Any, counts: tuple[Any, ...], window: Any, feedback: Any) -> None:
    """ValueError unless a baseline snapshot's parts have the types :meth:`snapshot` writes:
    base64 text, whole-number counters (``top`` last, -1 for none), a window list and a list
    of feedback entries (a stored snapshot is input: it must not fail a later call)."""
    if not all(type(c) is int and c >= 0 for c in counts[:-1]):
        raise ValueError("baseline counters must be whole numbers")
    if type(counts[-1]) is not int or counts[-1] < -1:
        raise ValueError("baseline top bin must be a whole number from -1")
    if not isinstance(b64, str) or not isinstance(window, list):
        raise ValueError("baseline buffer must be base64 text and its window a list")
    if not isinstance(feedback, list) or not all(map(_feedback_entry, feedback)):
        raise ValueError("baseline feedback entries must be as feedback.remember writes them")


def _feedback_entry(e: Any) -> bool:
    """``[alert_id, slots, score bin, volume slot, log bytes out, log bytes in, learned]``."""
    if not isinstance(e, list) or len(e) != 7:
        return False
    alert_id, slots, cal_bin, vs, b_out, b_in, learned = e
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (b_out, b_in))
    return (
        isinstance(alert_id, str)
        and isinstance(slots, list)
        and all(type(i) is int and 0 <= i < N_COUNTS for i in slots)
        and type(cal_bin) is int
        and -1 <= cal_bin < SIZE[T_CAL]
        and type(vs) is int
        and 0 <= vs <= _M_VOL
        and numbers
        and isinstance(learned, bool)
    )
