"""AgentState.restore on snapshots that are not what snapshot() wrote, and dry-run copies.

What a mutation run of monitor/core/state.py (mut8) showed untested: a snapshot with
a field too many or too few restored silently, and the corrupt-snapshot errors were
only checked to be ValueErrors, not to say what is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.core import state as S
from monitor.core.state import AgentState

BASE = orjson.loads((Path(__file__).parent / "fixtures" / "base_snapshots.json").read_bytes())


def _doc() -> list[Any]:
    st = AgentState("a")
    st.start_task("t1", 10.0, "alice")
    st.set_timer(99.0, "absent_sponsor", "alice")
    return orjson.loads(st.snapshot())


def _restore(doc: list[Any]) -> AgentState:
    return AgentState.restore(orjson.dumps(doc))


def test_the_fixture_document_restores() -> None:
    back = _restore(_doc())
    assert "t1" in back.tasks and back.timers == [[99.0, "absent_sponsor", "alice"]]


@pytest.mark.parametrize("change", ["one field too many", "one field too few"])
def test_a_snapshot_with_a_field_too_many_or_too_few_is_corrupt(change: str) -> None:
    """Every field after the sections is read by position: one more or one less means
    the fields are not the ones written, so nothing of it may be trusted."""
    doc = _doc()
    doc = [*doc, []] if change == "one field too many" else doc[:-1]
    with pytest.raises(ValueError, match="corrupt agent-state snapshot: ValueError: zip"):
        _restore(doc)


@pytest.mark.parametrize(("name", "kind"), S._PLAIN_TYPES)
def test_a_field_of_the_wrong_type_is_named(name: str, kind: type) -> None:
    doc = _doc()
    doc[6 + S._PLAIN.index(name)] = "x"
    with pytest.raises(ValueError, match=f"TypeError: {name} is not a {kind.__name__}$"):
        _restore(doc)


def test_sections_that_are_no_object_are_named() -> None:
    doc = _doc()
    doc[5] = [1]
    with pytest.raises(ValueError, match=r"TypeError: sections is not an object$"):
        _restore(doc)


def _v5() -> list[Any]:
    doc = orjson.loads(BASE["snapshots"]["agent:assist/1"])
    assert doc[0] == 5 and len(doc) == 17
    return doc


def test_a_version_5_snapshot_whose_chains_or_hijack_sections_are_no_object_is_named() -> None:
    assert _restore(_v5()).sections  # the unbroken one restores
    doc = _v5()
    doc[-1] = [1]  # version 5's trailing hijack sections
    with pytest.raises(ValueError, match=r"TypeError: behav section is not an object$"):
        _restore(doc)
    doc = _v5()
    doc[9] = [1]  # the forbidden-chain automata
    with pytest.raises(ValueError, match=r"TypeError: chains is not an object$"):
        _restore(doc)


@pytest.mark.parametrize("bad", [None, 3, "x"])
def test_a_section_error_names_the_section_and_what_the_detector_raised(bad: Any) -> None:
    for name in sorted(S.CODECS):
        try:
            S.load_section(name, bad)
        except ValueError as err:
            msg = str(err)
        else:  # a detector whose state is plain JSON may take it
            continue
        # the class of what the detector raised, not of something else (e.g. None's)
        assert re.match(rf"section '{re.escape(name)}': [A-Z]\w*(Error|Exception): ", msg), msg


def test_a_dry_run_copy_holds_no_events_of_its_own_and_shares_none() -> None:
    st = AgentState("a")
    st.pending = [[1.0, "held-1", None, 10]]
    sc = st.scratch()
    assert sc.pending == []
    sc.pending.append([2.0, "held-2", None, 10])  # what holding an event in it would do
    assert st.pending == [[1.0, "held-1", None, 10]]
