"""scripts/mutate.py's accumulated results: merge per module, score and render (no mutmut run)."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

_PATH = Path(__file__).resolve().parents[1] / "scripts" / "mutate.py"
_spec = importlib.util.spec_from_file_location("mutate_script", _PATH)
assert _spec and _spec.loader
mutate = importlib.util.module_from_spec(_spec)
sys.modules["mutate_script"] = mutate  # dataclasses look their module up
_spec.loader.exec_module(mutate)

STAMP_A = {"commit": "aaaaaaa", "date": "2026-12-01T10:00:00Z"}
STAMP_B = {"commit": "bbbbbbb", "date": "2026-12-02T10:00:00Z"}


def _surv(name: str, after: str, line: int = 7) -> dict[str, Any]:
    return {"name": name, "status": "survived", "line": line, "before": "x = 1", "after": after}


def _row(mutants: int, killed: int, survivors: list[dict[str, Any]], checked: int | None = None):
    return {
        "mutants": mutants,
        "checked": mutants if checked is None else checked,
        "killed": killed,
        "survivors": survivors,
    }


def _db() -> dict[str, Any]:
    db: dict[str, Any] = {"version": 1, "modules": {}}
    rows = {
        "monitor/core/a.py": _row(
            10, 8, [_surv("a.x_f__mutmut_1", "x = 2"), _surv("a.x_f__mutmut_2", "x = 3")]
        ),
        "monitor/identity.py": _row(5, 5, []),
    }
    assert mutate.merge(db, rows, STAMP_A, took=60, jobs=1) == []
    return db


def test_a_run_adds_its_modules_and_keeps_the_others():
    db = _db()
    refused = mutate.merge(db, {"monitor/core/b.py": _row(4, 3, [_surv("b.m_1", "y")])}, STAMP_B)
    assert refused == []
    assert set(db["modules"]) == {"monitor/core/a.py", "monitor/identity.py", "monitor/core/b.py"}
    assert db["modules"]["monitor/core/a.py"]["commit"] == "aaaaaaa"  # untouched
    assert db["modules"]["monitor/core/a.py"]["took_s"] == 60
    b = db["modules"]["monitor/core/b.py"]
    assert (b["mutants"], b["killed"], b["commit"], b["date"]) == (4, 3, "bbbbbbb", STAMP_B["date"])


def test_a_module_run_again_replaces_its_row():
    db = _db()
    mutate.merge(db, {"monitor/core/a.py": _row(12, 12, [])}, STAMP_B, took=30)
    a = db["modules"]["monitor/core/a.py"]
    assert (a["mutants"], a["killed"], a["survivors"], a["commit"], a["took_s"]) == (
        12,
        12,
        [],
        "bbbbbbb",
        30,
    )
    assert db["modules"]["monitor/identity.py"]["commit"] == "aaaaaaa"


def test_a_stopped_run_is_not_a_score_and_leaves_the_old_row():
    db = _db()
    before = copy.deepcopy(db)
    refused = mutate.merge(db, {"monitor/core/a.py": _row(10, 3, [], checked=3)}, STAMP_B)
    assert refused == ["monitor/core/a.py: only 3 of 10 mutants checked"]
    assert db == before


def test_a_survivors_run_moves_the_killed_ones_and_keeps_the_rest():
    db = _db()
    # mutmut_1 re-tested and now killed; mutmut_2 not re-tested (e.g. justified)
    row = _row(10, 1, [])
    row["tested"] = {"a.x_f__mutmut_1": "x = 2"}
    assert mutate.merge(db, {"monitor/core/a.py": row}, STAMP_B, partial=True) == []
    a = db["modules"]["monitor/core/a.py"]
    assert a["killed"] == 9
    assert [s["name"] for s in a["survivors"]] == ["a.x_f__mutmut_2"]
    assert a["commit"] == "aaaaaaa"  # the full run's; the re-test is noted beside it
    assert a["retested"] == {"commit": "bbbbbbb", "date": STAMP_B["date"], "mutants": 1}
    # one that still survives stays
    row = _row(10, 0, [_surv("a.x_f__mutmut_2", "x = 3")])
    row["tested"] = {"a.x_f__mutmut_2": "x = 3"}
    mutate.merge(db, {"monitor/core/a.py": row}, STAMP_B, partial=True)
    assert (a["killed"], len(a["survivors"])) == (9, 1)


def test_a_survivors_run_on_changed_code_is_refused():
    db = _db()
    before = copy.deepcopy(db)
    row = _row(10, 1, [])
    row["tested"] = {"a.x_f__mutmut_1": "x = 99"}  # same name, another mutation: code moved
    refused = mutate.merge(db, {"monitor/core/a.py": row}, STAMP_B, partial=True)
    assert refused and "changed" in refused[0]
    assert mutate.merge(db, {"monitor/core/a.py": _row(11, 1, [])}, STAMP_B, partial=True)
    assert mutate.merge(db, {"monitor/core/new.py": _row(3, 3, [])}, STAMP_B, partial=True)
    assert db == before


def test_score_and_report_judge_survivors_by_the_current_justifications():
    db = _db()
    mutate.merge(db, {"monitor/core/b.py": _row(4, 3, [_surv("b.m_1", "y")])}, STAMP_B)
    why = {
        "a.x_f__mutmut_1": {"after": "x  =  2", "why": "equivalent: same value"},  # spacing
        "a.x_f__mutmut_2": {"after": "x = 4", "why": "stale: judged another line"},
    }
    sc = mutate.score(db, why)
    assert sc["monitor/core/a.py"] == {"mutants": 10, "killed": 8, "justified": 1, "unjustified": 1}
    assert sc["monitor/core/"] == {"mutants": 14, "killed": 11, "justified": 1, "unjustified": 2}
    assert sc["total"] == {"mutants": 19, "killed": 16, "justified": 1, "unjustified": 2}

    md = mutate.render(db, why, ["monitor/core/a.py", "monitor/core/b.py", "monitor/core/c.py"])
    assert (
        "| `monitor/core/a.py` | 10 | 8 | 1 | 1 | 80.0 % | `aaaaaaa` 2026-12-01 | 1.0 min |" in md
    )
    assert "| `monitor/core/b.py` | 4 | 3 | 0 | 1 | 75.0 % | `bbbbbbb` 2026-12-02 | - |" in md
    assert "| **monitor/core/** | 14 | 11 | 1 | 2 | **78.6 %** | | |" in md
    assert "| **total** | 19 | 16 | 1 | 2 | **84.2 %** | | |" in md
    assert "Not run yet: `monitor/core/c.py`." in md
    assert "justified: equivalent: same value (`a.x_f__mutmut_1`)" in md
    assert md.count("**UNJUSTIFIED**") == 2


def test_each_file_runs_against_its_own_parts_tests(tmp_path: Path):
    for rel in ("core/a.py", "core/baseline/b.py", "identity.py", "revoker/plan.py", "cli.py"):
        (tmp_path / "monitor" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "monitor" / rel).write_text("def f(): pass\n")
    assert mutate.suites(["monitor/core/*", "monitor/identity.py"], tmp_path) == ["tests/core"]
    revoker = ["tests/revoker", "tests/test_command_settings.py"]
    assert mutate.suites(["monitor/revoker/*"], tmp_path) == revoker
    assert mutate.suites(["monitor/revoker/plan.py", "monitor/core/a.py"], tmp_path) == [
        "tests/core",
        *revoker,
    ]
    for only, says in ((["monitor/*"], "monitor/cli.py: no unit tests"), (["x/*"], "no file")):
        with pytest.raises(SystemExit, match=says):
            mutate.suites(only, tmp_path)


def test_a_part_run_gets_its_own_total():
    db = _db()
    survivor = _surv("monitor.revoker.plan.x_f__mutmut_3", "z")
    mutate.merge(db, {"monitor/revoker/plan.py": _row(6, 5, [survivor])}, STAMP_B)
    sc = mutate.score(db, {})
    assert sc["monitor/revoker/"] == {"mutants": 6, "killed": 5, "justified": 0, "unjustified": 1}
    assert sc["monitor/sinks/"]["mutants"] == 0
    assert sc["total"]["mutants"] == 21
    md = mutate.render(
        db, {}, ["monitor/core/a.py", "monitor/revoker/plan.py", "monitor/sinks/x.py"]
    )
    assert "| **monitor/revoker/** | 6 | 5 | 0 | 1 | **83.3 %** | | |" in md
    assert "**monitor/sinks/**" not in md  # a part never run has no total row
    assert "Not run yet: `monitor/sinks/x.py`." in md


def test_a_kafka_shell_class_is_left_out_of_its_files_count():
    assert mutate._in_shell(
        "monitor/sinks/service.py", "monitor.sinks.service.xǁSinkServiceǁrun__mutmut_3"
    )
    assert not mutate._in_shell(
        "monitor/sinks/service.py", "monitor.sinks.service.xǁDelivererǁdeliver__mutmut_3"
    )
    assert not mutate._in_shell(
        "monitor/sinks/other.py", "monitor.sinks.other.xǁSinkServiceǁrun__mutmut_3"
    )


def test_a_kafka_shell_method_is_left_out_and_the_rest_of_its_class_counted():
    emit = "monitor/proxy/emit.py"
    assert mutate._in_shell(emit, "monitor.proxy.emit.xǁKafkaEmitterǁ_connect__mutmut_12")
    for other in ("_run__mutmut_3", "_connect_again__mutmut_1", "emit__mutmut_1"):
        assert not mutate._in_shell(emit, f"monitor.proxy.emit.xǁKafkaEmitterǁ{other}")
    assert not mutate._in_shell(emit, "monitor.proxy.emit.xǁFileEmitterǁ_connect__mutmut_1")


def test_a_methods_line_is_found_in_its_own_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Two classes with a method of one name: each mutant's line is in its own class."""
    src = "class A:\n    def send(self):\n        x = 1\n\nclass B:\n    def send(self):\n        x = 1\n"
    (tmp_path / "m.py").write_text(src)
    monkeypatch.setattr(mutate, "ROOT", tmp_path)
    m = mutate.Mutant("m.xǁBǁsend__mutmut_1", "m.py", "survived", "m.py")
    assert mutate._line_of(m, "x = 1") == 7
    m = mutate.Mutant("m.xǁAǁsend__mutmut_1", "m.py", "survived", "m.py")
    assert mutate._line_of(m, "x = 1") == 3
