"""The state layout's check of a stored snapshot: each part's exact range, and a refusal that
says which part was wrong (the worker's ``corrupt_state`` dead letter quotes it). Found by the
layout.py mutation run at cf631a6: the edges and the messages had no test that could fail."""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from monitor.core.baseline.counts import N_COUNTS, SIZE, T_CAL
from monitor.core.baseline.layout import _M_VOL, check_snapshot
from monitor.core.baseline.model import AgentBaseline
from monitor.core.baseline.native import HERE, MODULES

COUNTERS = (5, 4, 3, 2, -1)  # n_learned, n_scored, n_cal, since_fit, top (-1: no score yet)


def _entry(slots: list[int], cal_bin: int = -1, vs: int = 0) -> list[Any]:
    """A remembered alert as feedback.remember writes it."""
    return ["alert-1", slots, cal_bin, vs, 6.9, 0.0, True]


def _refused(message: str, *parts: Any) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_snapshot(*parts)


def test_each_refused_part_of_a_snapshot_is_named() -> None:
    check_snapshot("", COUNTERS, [], [_entry([0])])  # the parts a snapshot writes: taken
    _refused("baseline counters must be whole numbers", "", (5, -4, 3, 2, -1), [], [])
    _refused("baseline top bin must be a whole number from -1", "", (5, 4, 3, 2, 1.0), [], [])
    _refused("baseline buffer must be base64 text and its window a list", b"", COUNTERS, [], [])
    _refused(
        "baseline feedback entries must be as feedback.remember writes them",
        "",
        COUNTERS,
        [],
        [_entry([0])[:6]],
    )


def test_the_top_bin_is_minus_one_or_a_bin() -> None:
    for top in (-1, 0, SIZE[T_CAL] - 1):
        check_snapshot("", (*COUNTERS[:-1], top), [], [])
    _refused("baseline top bin must be a whole number from -1", "", (5, 4, 3, 2, -2), [], [])


def test_a_remembered_alert_holds_count_slots_a_score_bin_or_none_and_a_volume_slot() -> None:
    top_bin = SIZE[T_CAL] - 1
    taken = [
        _entry([0, N_COUNTS - 1]),
        _entry([], cal_bin=-1),  # not scored (during the first half of warm-up)
        _entry([], cal_bin=0),
        _entry([], cal_bin=top_bin),
        _entry([], vs=0),
        _entry([], vs=_M_VOL),
    ]
    check_snapshot("", COUNTERS, [], taken)
    for bad in (
        _entry([-1]),
        _entry([N_COUNTS]),
        _entry([], cal_bin=-2),
        _entry([], cal_bin=top_bin + 1),
        _entry([], vs=-1),
        _entry([], vs=_M_VOL + 1),
    ):
        with pytest.raises(ValueError, match="feedback entries"):
            check_snapshot("", COUNTERS, [], [bad])


def test_a_restored_snapshot_is_refused_with_the_part_it_got_wrong() -> None:
    snap = AgentBaseline().snapshot()
    snap[6] = -2  # the top bin
    with pytest.raises(ValueError, match=r"^baseline top bin "):
        AgentBaseline.restore(snap)


def _final_constants(tree: ast.Module) -> dict[str, ast.expr]:
    return {
        node.target.id: node.value
        for node in tree.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.value is not None
        and ast.unparse(node.annotation) == "Final"
    }


def _folds(e: ast.expr, local: dict[str, ast.expr], seen: frozenset[str]) -> bool | None:
    """True if mypy folds ``e`` to a constant in its module, False if it does not; None if
    ``e`` is not arithmetic on numbers (a tuple, a call: never meant to fold)."""
    if isinstance(e, ast.Constant):
        return isinstance(e.value, (int, float, str)) and not isinstance(e.value, bool)
    if isinstance(e, ast.UnaryOp):
        return _folds(e.operand, local, seen)
    if isinstance(e, ast.BinOp):
        left, right = _folds(e.left, local, seen), _folds(e.right, local, seen)
        if left is None or right is None:  # a call in it (``0.5 * log(2π)``): computed once
            return None
        return left and right
    if isinstance(e, ast.Name):  # only a Final of this very module folds
        v = local.get(e.id)
        return v is not None and e.id not in seen and bool(_folds(v, local, seen | {e.id}))
    return None


def test_every_arithmetic_constant_of_the_compiled_modules_folds() -> None:
    """An offset like ``_OFF_SERVER = _OFF_TOOL + S_TOOL`` is a constant in the compiled
    model's instructions only if every name in it is a ``Final`` of its own module: mypy
    folds nothing that names another module's, and mypyc then loads the value from that
    module at every use, with a check that it is set (as layout.py's offsets were, built on
    counts.py's sizes, until 2026-12-05)."""
    unfolded = []
    for name in MODULES:
        tree = ast.parse((HERE / f"{name}.py").read_text())
        local = _final_constants(tree)
        unfolded += [
            f"{name}.{k} = {ast.unparse(v)}"
            for k, v in local.items()
            if _folds(v, local, frozenset({k})) is False
        ]
    assert unfolded == []


def test_the_checker_sees_a_constant_built_on_another_modules_name() -> None:
    tree = ast.parse("from typing import Final\nfrom x import S\nA: Final = 1\nB: Final = A + S\n")
    local = _final_constants(tree)
    assert _folds(local["A"], local, frozenset({"A"})) is True
    assert _folds(local["B"], local, frozenset({"B"})) is False
    assert _folds(ast.parse("(1, 2)", mode="eval").body, local, frozenset()) is None
    assert _folds(ast.parse("0.5 * log(2.0)", mode="eval").body, local, frozenset()) is None
    assert _folds(ast.parse("-A * 2 - 1", mode="eval").body, local, frozenset()) is True


@pytest.mark.parametrize(
    ("literal", "changed"),
    [
        ("_S_TOOL: Final = 128", "_S_TOOL: Final = 64"),  # an offset and the sizes
        ("_S_VOLUME_N: Final = 32", "_S_VOLUME_N: Final = 16"),  # the last size only
        ("N_COUNTS: Final = 848", "N_COUNTS: Final = 849"),
        ("RING: Final = 32", "RING: Final = 16"),
        ("N_FEATURES: Final = 16", "N_FEATURES: Final = 15"),
    ],
)
def test_a_size_repeated_here_that_differs_from_its_module_fails_the_import(
    literal: str, changed: str
) -> None:
    """The layout repeats sizes of counts.py, window.py and features.py as its own literals
    (so they fold); one that drifts from its module must stop the import, not misplace
    the arrays of every agent's state."""
    source = (HERE / "layout.py").read_text()
    assert source.count(literal) == 1
    with pytest.raises(ImportError, match=r"disagree with counts\.TABLES"):
        exec(compile(source.replace(literal, changed), "layout.py", "exec"), {})
