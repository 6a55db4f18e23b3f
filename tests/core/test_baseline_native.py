"""The optional compiled build of the behaviour layer never shadows a newer source."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from monitor.core.baseline import native


def _fake_tree(tmp: Path, monkeypatch: pytest.MonkeyPatch, stamped: bool) -> None:
    for n in native.MODULES:
        (tmp / f"{n}.py").write_text(f"# {n}\n")
    (tmp / "model.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (tmp / SHARED).write_bytes(b"")
    monkeypatch.setattr(native, "HERE", tmp)
    monkeypatch.setattr(native, "STAMP", tmp / "native.json")
    if stamped:
        stamp = {n: native._digest(n) for n in native.MODULES} | {"shared": SHARED}
        native.STAMP.write_text(json.dumps(stamp))


SHARED = "0123abcd__mypyc.cpython-311-x86_64-linux-gnu.so"


def test_no_build_is_never_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "HERE", tmp_path)
    assert native.built() == [] and not native.stale()


def test_fresh_build_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tree(tmp_path, monkeypatch, stamped=True)
    assert not native.stale()


def test_edited_source_makes_the_build_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_tree(tmp_path, monkeypatch, stamped=True)
    (tmp_path / "moments.py").write_text("# edited\n")
    assert native.stale()


def test_build_without_stamp_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tree(tmp_path, monkeypatch, stamped=False)
    assert native.stale()


def test_unreadable_stamp_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tree(tmp_path, monkeypatch, stamped=False)
    native.STAMP.write_text("{not json")
    assert native.stale()


def test_a_stamp_missing_one_module_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_tree(tmp_path, monkeypatch, stamped=True)
    stamp = json.loads(native.STAMP.read_text())
    del stamp["window"]
    native.STAMP.write_text(json.dumps(stamp))
    assert native.stale()


def test_only_compiled_modules_of_the_list_count_as_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(native, "HERE", tmp_path)
    for name in ("model.cpython-311-x86_64-linux-gnu.so", "counts.abi3.so", "explain.x.so"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "model.py").write_text("")
    assert native.built() == [
        tmp_path / "counts.abi3.so",
        tmp_path / "model.cpython-311-x86_64-linux-gnu.so",
    ]


def test_active_means_the_model_was_imported_from_a_compiled_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from monitor.core.baseline import model

    monkeypatch.setattr(model, "__file__", "/x/model.cpython-311-x86_64-linux-gnu.so")
    assert native.active()
    monkeypatch.setattr(model, "__file__", "/x/model.py")
    assert not native.active()


def test_restore_takes_any_data_so_the_compiled_build_checks_it_itself() -> None:
    """mypyc checks a compiled function's declared argument types before its body runs:
    with ``data: list[Any]`` the compiled ``AgentBaseline.restore`` raised ``TypeError:
    list object expected; got dict`` where the source raises the documented ValueError
    (test_model_state's no-list tests failed under the compiled build; found by mut8)."""
    tree = ast.parse((native.HERE / "model.py").read_text())  # the source: compiled or not
    (restore,) = (
        f
        for c in tree.body
        if isinstance(c, ast.ClassDef) and c.name == "AgentBaseline"
        for f in c.body
        if isinstance(f, ast.FunctionDef) and f.name == "restore"
    )
    (data,) = (a for a in restore.args.args if a.arg == "data")
    assert ast.unparse(data.annotation) in ("Any", "object")  # type: ignore[arg-type]


def test_a_build_without_its_shared_library_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled modules import mypyc's shared library: without it, run the source
    (before: the package import failed with ModuleNotFoundError)."""
    _fake_tree(tmp_path, monkeypatch, stamped=True)
    (tmp_path / SHARED).unlink()
    assert native.stale()
    stamp = json.loads(native.STAMP.read_text())
    del stamp["shared"]
    native.STAMP.write_text(json.dumps(stamp))
    assert native.stale()


def test_the_shared_library_is_loaded_from_beside_the_modules_under_its_top_level_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed ``mcpmon`` runs from any directory: the shared library is not on
    sys.path, so the package loads it from its file (here a stand-in source module: the
    same loading path an extension module takes, chosen by the file's suffix)."""
    monkeypatch.setattr(native, "HERE", tmp_path)
    monkeypatch.setattr(native, "STAMP", tmp_path / "native.json")
    name = "f00dfeed__mypyc_test"
    (tmp_path / f"{name}.py").write_text("LOADED_FROM = __file__\n")
    native.STAMP.write_text(json.dumps({"shared": f"{name}.py"}))
    monkeypatch.delitem(sys.modules, name, raising=False)
    assert name not in sys.path
    native.load_shared()
    assert str(tmp_path / f"{name}.py") == sys.modules[name].LOADED_FROM
    native.load_shared()  # a second call keeps the loaded module
    assert str(tmp_path / f"{name}.py") == sys.modules[name].LOADED_FROM
