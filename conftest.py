"""Doctest collection beside a compiled behaviour layer (``python -m monitor.native_build``).

A module compiled in place imports as its extension, which pytest's doctest
collector refuses ("import file mismatch"); its docstrings are not in the
extension either. With a current build in place (``make setup`` builds one, so CI
runs with it), those modules are left out of pytest's doctest collection and the
header says so; their docstring examples run from the sources against the
compiled modules in tests/core/test_baseline_doctests.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.baseline import native


def _compiled() -> set[Path]:
    """The sources of the modules that import compiled (none while the build is stale:
    then every module loads from source)."""
    if native.stale():
        return set()
    return {native.HERE / f"{so.name.split('.')[0]}.py" for so in native.built()}


COMPILED = _compiled()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    return True if collection_path.resolve() in COMPILED else None


def pytest_report_header(config: pytest.Config) -> str | None:
    if not COMPILED:
        return None
    names = ", ".join(sorted(p.stem for p in COMPILED))
    return (
        f"compiled behaviour layer in place: the doctests of {names} run against it from "
        "tests/core/test_baseline_doctests.py, not through pytest's doctest collector"
    )


#: Source files copied from public corpora for the converters' tests are data, not our code:
#: their imports (the corpus's own packages) are not installed, so no doctest collection.
collect_ignore_glob = ["tests/corpora/fixtures/*"]
