"""The optional compiled build of the behaviour layer never shadows a newer source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.core.baseline import native


def _fake_tree(tmp: Path, monkeypatch: pytest.MonkeyPatch, stamped: bool) -> None:
    for n in native.MODULES:
        (tmp / f"{n}.py").write_text(f"# {n}\n")
    (tmp / "model.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    monkeypatch.setattr(native, "HERE", tmp)
    monkeypatch.setattr(native, "STAMP", tmp / "native.json")
    if stamped:
        native.STAMP.write_text(json.dumps({n: native._digest(n) for n in native.MODULES}))


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
