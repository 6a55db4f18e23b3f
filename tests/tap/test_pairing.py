from __future__ import annotations

import pytest

from monitor.tap.pairing import PairingWindow


def test_pairs_by_key_and_reports_the_oldest_position() -> None:
    w = PairingWindow[str, int](max_pending=10, max_age=60)
    assert w.add("a", "A", 100, now=0) == []
    assert w.add("b", "B", 200, now=1) == []
    assert w.oldest() == 100
    assert w.pop("a") == "A"
    assert w.oldest() == 200  # the checkpoint may move past a paired request
    assert w.pop("a") is None
    assert w.pop("b") == "B" and w.oldest() is None and len(w) == 0


def test_count_bound_evicts_the_oldest_first() -> None:
    w = PairingWindow[int, int](max_pending=3, max_age=60)
    evicted = [x for i in range(6) for x in w.add(i, i, i, now=i)]
    assert evicted == [0, 1, 2] and len(w) == 3 and w.oldest() == 3


def test_age_bound_evicts_what_waited_too_long() -> None:
    w = PairingWindow[str, int](max_pending=10, max_age=5)
    w.add("a", "A", 1, now=0.0)
    w.add("b", "B", 2, now=3.0)
    assert w.expire(now=5.0) == []  # exactly max_age: still waiting
    assert w.expire(now=5.5) == ["A"]
    assert w.expire(now=100) == ["B"] and len(w) == 0


def test_a_reused_key_pushes_the_earlier_one_out() -> None:
    w = PairingWindow[str, int](max_pending=10, max_age=60)
    w.add("k", "first", 1, now=0)
    assert w.add("k", "second", 2, now=1) == ["first"]
    assert w.pop("k") == "second"


def test_drain_returns_everything_in_arrival_order() -> None:
    w = PairingWindow[int, int](max_pending=10, max_age=60)
    for i in (3, 1, 2):
        w.add(i, i, i, now=0)
    assert w.drain() == [3, 1, 2] and len(w) == 0


@pytest.mark.parametrize(("n", "age"), [(0, 1.0), (1, 0.0)])
def test_bounds_must_be_positive(n: int, age: float) -> None:
    with pytest.raises(ValueError):
        PairingWindow[int, int](max_pending=n, max_age=age)
