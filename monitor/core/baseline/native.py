"""Optional compiled build of the behaviour layer (mypyc), and the guard against a stale one.

The baseline modules are plain, type-checked Python; ``python -m
monitor.native_build`` (outside the core: it runs a compiler) compiles the hot ones with
mypyc (shipped with mypy, already a dev dependency) into extension modules
beside the sources. Python then imports those instead: the same code, the same
arithmetic (C doubles are Python floats; float32 state is rounded by the same
:func:`~.moments.f32`), ~2.7x faster — the results are identical, which ``tests/core/
test_baseline_native.py`` and the digests in ``results/baseline_cost.md`` check.

A compiled module must never run code older than its source: the build writes
the sources' SHA-256 to :data:`STAMP`, and :func:`stale` (called from the
package ``__init__`` before any module is imported) reports a mismatch; the
package then loads *every* module from source and warns, so an edit is never
silently shadowed by an old build. ``--clean`` removes the build.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Compiled together, in import order (a module's dependencies first).
MODULES = ("counts", "moments", "calibration", "features", "window", "layout", "feedback", "model")
STAMP = HERE / "native.json"


def _digest(name: str) -> str:
    return hashlib.sha256((HERE / f"{name}.py").read_bytes()).hexdigest()


def built() -> list[Path]:
    """Compiled modules present beside the sources."""
    return sorted(p for n in MODULES for p in HERE.glob(f"{n}.*.so"))


def stale() -> bool:
    """True if a compiled module exists whose source changed since it was built, or whose
    shared library (mypyc's runtime of the build) is missing."""
    if not built():
        return False
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return True
    shared = stamp.get("shared")
    if not isinstance(shared, str) or not (HERE / shared).is_file():
        return True
    return any(stamp.get(n) != _digest(n) for n in MODULES)


def load_shared() -> None:
    """Load the build's shared library under the top-level name its modules import.

    mypyc's compiled modules ``import <hash>__mypyc``, a top-level module. It is kept
    beside them, not on ``sys.path`` (an installed ``mcpmon`` runs from anywhere), so it
    is loaded here from its file first. Call only when :func:`stale` is False.
    """
    name = json.loads(STAMP.read_text())["shared"]
    top = name.split(".", 1)[0]
    if top in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(top, HERE / name)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the compiled build's shared library {name}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[top] = mod
    spec.loader.exec_module(mod)


def active() -> bool:
    """Whether the model running in this process is the compiled one."""
    from monitor.core.baseline import model

    return not str(model.__file__).endswith(".py")
