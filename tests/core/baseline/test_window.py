"""The recent past on a fixed clock: rate, burst, fan-out, transitions, streaks, episodes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor import testing as tb
from monitor.core.baseline.counts import SIZE, T_CAL
from monitor.core.baseline.features import extract, h32
from monitor.core.baseline.model import AgentBaseline
from monitor.core.baseline.window import (
    _STATE,
    EPISODE_MAX_CALLS,
    RING,
    Window,
    transition_hash,
)
from monitor.events import EARLIEST


def _window() -> Window:
    return AgentBaseline().window


def _observe(w: Window, sec: float, tool: str = "t", task: int = 7, **kw: object):  # type: ignore[no-untyped-def]
    c = tb.call(sec, "a", "s", tool, **kw)
    f = extract(c, c.ts.timestamp())
    ended = w.observe(f, c.ts.timestamp(), task)
    return f, ended


def test_rate_and_burst_count_the_last_minute_and_ten_seconds() -> None:
    w = _window()
    for sec in (0, 30, 55, 58):
        f, _ = _observe(w, sec)
    assert (f.rate, f.burst) == (4, 2)  # 58: itself, 55 (burst); 30 and 0 in the minute
    f, _ = _observe(w, 61)
    assert (f.rate, f.burst) == (4, 3)  # 0 has left the minute
    f, _ = _observe(w, 200)
    assert (f.rate, f.burst) == (1, 1)


def test_fanout_counts_distinct_destinations_in_ten_minutes() -> None:
    w = _window()
    hosts = ["a", "b", "a", "c"]
    for i, h in enumerate(hosts):
        f, _ = _observe(w, i * 60, resources=[f"https://{h}.example/"])
    assert f.fanout == 3
    f, _ = _observe(w, 1000, resources=["https://a.example/"])
    assert f.fanout == 1  # the others are older than ten minutes
    f, _ = _observe(w, 1001)
    assert f.fanout == 0  # no destination: not judged


@given(
    st.lists(
        st.tuples(st.integers(-120, 400), st.sampled_from(["", "a", "b", "c", "d", "e"])),
        max_size=3 * RING,
    )
)
def test_fanout_is_the_distinct_destinations_of_the_calls_in_ten_minutes(
    steps: list[tuple[int, str]],
) -> None:
    """The fan-out counts each destination once, against a set over the same ring walk
    (newest first, at most RING calls, stopping at the first call ten minutes old or more):
    with repeats, calls without a destination, a ring that wraps, late events."""
    w = _window()
    seen: list[tuple[float, int]] = []  # (event time, destination hash) of each call
    sec = 1000
    for step, host in steps:
        sec += step
        f, _ = _observe(w, sec, resources=[f"https://{host}.example/"] if host else [])
        t = float(tb.call(sec, "a", "s", "t").ts.timestamp())
        dest = (f.destination_hashes[0] or 1) if f.destination_hashes else 0  # as the ring keys it
        if dest:
            want = {dest}
            for ti, k in reversed(seen[-RING:]):
                if ti <= t - 600:
                    break
                if k:
                    want.add(k)
            assert f.fanout == len(want)
        seen.append((t, dest))


def test_transitions_and_error_streaks() -> None:
    w = _window()
    f1, _ = _observe(w, 0, "read")
    assert f1.transition == -1
    f2, _ = _observe(w, 1, "post", outcome="error")
    assert f2.transition == transition_hash(f1.tool, f2.tool) and f2.prev_tool == "s/read"
    f3, _ = _observe(w, 2, "post", outcome="denied")
    assert (f2.error_streak, f3.error_streak) == (1, 2)
    f4, _ = _observe(w, 3, "post", outcome="unknown")
    assert f4.error_streak == 0 and w.streak == 2  # unknown neither breaks nor extends it
    _observe(w, 4, "post", outcome="ok")
    assert w.streak == 0


def test_an_episode_ends_with_its_task_and_reports_its_peaks() -> None:
    w = _window()
    for sec in (0, 1, 2, 3):
        f, ended = _observe(w, sec, task=1)
        assert ended is None
    assert f.task_length == 4
    w.ep_bins.append(5)
    f, ended = _observe(w, 100, task=2)
    assert ended == (4, 4, 4, tb.at(0).timestamp(), [5])
    assert f.task_length == 1


def test_a_held_episode_is_not_reported() -> None:
    w = _window()
    _observe(w, 0, task=1)
    w.hold()
    _, ended = _observe(w, 1, task=2)
    assert ended is None
    _, ended = _observe(w, 2, task=3)
    assert ended is not None  # holding lasts one episode


def test_without_task_ids_a_long_pause_or_length_ends_an_episode() -> None:
    w = _window()
    _observe(w, 0, task=0)
    f, ended = _observe(w, 60, task=0)
    assert ended is None and f.task_length == 2
    f, ended = _observe(w, 60 + 1801, task=0)
    assert ended is not None and f.task_length == 1
    for i in range(EPISODE_MAX_CALLS + 1):  # the pause ends one; the cap ends the next
        f, ended = _observe(w, 5000 + i, task=0)
    assert ended is not None and ended[0] == EPISODE_MAX_CALLS and f.task_length == 1


def test_late_events_never_inflate_the_rate() -> None:
    w = _window()
    for sec in (100, 101, 102):
        _observe(w, sec)
    f, _ = _observe(w, 50)  # out of order: the ring is newest-first, it stops at once
    assert f.rate <= 4
    assert w.last_t == tb.at(102).timestamp() and w.span() == 52.0


def test_window_edges_are_exclusive_a_call_exactly_a_window_ago_has_left_it() -> None:
    w = _window()
    for sec in (0, 50):
        _observe(w, sec)
    f, _ = _observe(w, 60)
    assert (f.rate, f.burst) == (2, 1)  # 0 is exactly a minute old, 50 exactly ten seconds
    w = _window()
    _observe(w, 0, resources=["https://a.example/"])
    _observe(w, 1, resources=["https://b.example/"])
    f, _ = _observe(w, 600, resources=["https://c.example/"])
    assert f.fanout == 2  # a is exactly ten minutes old: gone; b is not


def test_in_the_first_minute_of_event_time_only_calls_made_are_counted() -> None:
    # events are accepted from 1970-01-01T00:00:00Z; the ring's unwritten slots hold time 0.0,
    # which is inside the minute of a call at 00:00:30 and must not count as a call
    w = _window()
    epoch = (EARLIEST - tb.T0).total_seconds()
    got = [(f.rate, f.burst) for f, _ in (_observe(w, epoch + s) for s in (30, 31, 32))]
    assert got == [(1, 1), (2, 2), (3, 3)]


def test_rates_saturate_at_the_ring_and_the_ring_wraps() -> None:
    w = _window()
    for sec in range(3 * RING):
        f, _ = _observe(w, sec * 0.5)
    # the ring holds RING calls before this one, 19 of them (0.5 s apart) in the last ten seconds
    assert (f.rate, f.burst) == (RING + 1, 20)
    assert w.filled == RING and w.pos == 0


def test_calls_without_a_destination_are_not_a_destination() -> None:
    w = _window()
    _observe(w, 0, resources=["https://a.example/"])
    _observe(w, 1)
    f, _ = _observe(w, 2, resources=["https://b.example/"])
    assert f.fanout == 2


def test_a_pause_of_exactly_the_gap_keeps_the_episode_and_a_task_id_ends_it() -> None:
    w = _window()
    _observe(w, 0, task=0)
    f, ended = _observe(w, 1800, task=0)
    assert ended is None and f.task_length == 2
    f, ended = _observe(w, 1801, task=9)  # a task starts: the task-less run ended
    assert ended is not None and ended[0] == 2 and f.task_length == 1
    f, ended = _observe(w, 1802, task=0)  # and back to no task: the task ended
    assert ended is not None and ended[0] == 1 and f.task_length == 1


def test_a_task_episode_is_cut_after_the_cap_and_keeps_its_peaks() -> None:
    w = _window()
    for i in range(EPISODE_MAX_CALLS):
        f, ended = _observe(w, i * 100.0, task=4)
        assert ended is None
    assert f.task_length == EPISODE_MAX_CALLS
    f, ended = _observe(w, EPISODE_MAX_CALLS * 100.0, task=4)
    assert ended is not None and ended[0] == EPISODE_MAX_CALLS and f.task_length == 1
    w = _window()
    for sec in (0, 1, 2, 500):  # the peak (3 calls) is not lowered by the quiet call after it
        _observe(w, sec, task=1)
    _, ended = _observe(w, 501, task=2)
    assert ended is not None and ended[:3] == (4, 3, 3)


def test_dump_and_load_continue_where_the_window_stopped() -> None:
    a, b = _window(), _window()
    for sec in (0, 5, 7):
        _observe(a, sec, "read", outcome="error", resources=["https://a.example/"])
    for i in range(RING):  # the rings are the model's (its buffer holds them), not the dump's
        b.times[i], b.keys[i] = a.times[i], a.keys[i]
    b.load(a.dump())
    fa, ea = _observe(a, 9, "post", outcome="denied", resources=["https://b.example/"])
    fb, eb = _observe(b, 9, "post", outcome="denied", resources=["https://b.example/"])
    assert ea == eb and fa.__getstate__() == fb.__getstate__()
    assert (fb.rate, fb.fanout, fb.error_streak, fb.task_length) == (4, 2, 4, 4)
    assert fb.prev_tool == "s/read" and a.dump() == b.dump()
    assert _window().span() == 0.0


@given(st.integers(0, 2**40), st.integers(0, 2**32 - 1))
def test_transition_hash_is_the_32_bit_product_hash(prev: int, cur: int) -> None:
    """Computed from 16-bit halves (no boxed multiplication when compiled), the same as the
    one-line definition it replaced, for every tool hash and any non-negative previous one."""
    assert transition_hash(prev, cur) == ((prev * 0x01000193) ^ cur) & 0xFFFFFFFF


def test_a_dump_of_another_length_is_refused() -> None:
    """A stored window with a field missing or one too many is not taken in part."""
    dump = _window().dump()
    for data in (dump[:-1], [*dump, None], []):
        with pytest.raises(ValueError):
            _window().load(data)
    _window().load(dump)


def test_a_refused_field_is_named_with_the_type_it_got() -> None:
    dump = _window().dump()
    dump[_STATE.index("prev_tool_name")] = 7
    with pytest.raises(ValueError, match=r"^baseline window field 'prev_tool_name': int$"):
        _window().load(dump)


def test_ring_indices_and_score_bins_are_taken_up_to_their_exact_edges() -> None:
    def load(**fields: object) -> None:
        dump = _window().dump()
        for name, value in fields.items():
            dump[_STATE.index(name)] = value
        _window().load(dump)

    load(pos=RING - 1, filled=RING, ep_bins=[0, SIZE[T_CAL] - 1])
    for bad in ({"pos": RING}, {"filled": RING + 1}, {"ep_bins": [SIZE[T_CAL]]}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            load(**bad)


def test_a_tool_whose_hash_is_zero_is_still_a_previous_tool() -> None:
    zero = "zero-211-8CCe"  # found by solving crc32's four last bytes: crc32 is affine in them
    assert h32(f"s/{zero}") == 0
    w = _window()
    f1, _ = _observe(w, 0, zero)
    assert f1.tool == 0
    f2, _ = _observe(w, 1, "post")
    assert f2.transition == transition_hash(0, f2.tool) and f2.prev_tool == f"s/{zero}"


def test_a_destination_whose_hash_is_zero_still_counts_in_the_fan_out() -> None:
    # the ring keeps 0 for "no destination": a host whose key hashes to 0 (an attacker can
    # pick one) must not leave its calls unmeasured and uncounted by later calls
    zero = "niknojlnmjhh"  # found by solving crc32, affine over GF(2), in 3 bits of each letter
    assert h32(f"net:{zero}") == 0
    w = _window()
    f, _ = _observe(w, 0, resources=[f"https://{zero}/"])
    assert f.destination_hashes == [0]
    assert f.fanout == 1
    f, _ = _observe(w, 1, resources=["https://b.example/"])
    assert f.fanout == 2
    f, _ = _observe(w, 2, resources=[f"https://{zero}/"])
    assert f.fanout == 2
    f, _ = _observe(w, 3)
    assert f.fanout == 0  # a call without a destination is still not judged


def test_a_window_that_knows_only_one_end_of_its_span_spans_nothing() -> None:
    for first_t, last_t in ((None, 5.0), (5.0, None)):
        dump = _window().dump()
        dump[_STATE.index("first_t")] = first_t
        dump[_STATE.index("last_t")] = last_t
        w = _window()
        w.load(dump)  # each end is checked on its own: a stored snapshot may hold one
        assert w.span() == 0.0
