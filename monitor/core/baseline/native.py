"""Optional compiled build of the behaviour layer (mypyc), and the guard against a stale one.

The baseline modules are plain, type-checked Python; ``mcpmon build-native``
(or ``python -m monitor.core.baseline.native``) compiles the hot ones with
mypyc (shipped with mypy, already a dev dependency) into extension modules
beside the sources. Python then imports those instead: the same code, the same
arithmetic (C doubles are Python floats; float32 state is rounded by the same
memoryview), ~2.7x faster — the results are identical, which ``tests/core/
test_baseline_native.py`` and the digests in ``results/baseline_cost.md`` check.

A compiled module must never run code older than its source: the build writes
the sources' SHA-256 to :data:`STAMP`, and :func:`stale` (called from the
package ``__init__`` before any module is imported) reports a mismatch; the
package then loads *every* module from source and warns, so an edit is never
silently shadowed by an old build. ``--clean`` removes the build.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Compiled together, in import order (a module's dependencies first).
MODULES = ("counts", "moments", "calibration", "features", "window", "model")
STAMP = HERE / "native.json"


def _digest(name: str) -> str:
    return hashlib.sha256((HERE / f"{name}.py").read_bytes()).hexdigest()


def built() -> list[Path]:
    """Compiled modules present beside the sources."""
    return sorted(p for n in MODULES for p in HERE.glob(f"{n}.*.so"))


def stale() -> bool:
    """True if a compiled module exists whose source changed since it was built."""
    if not built():
        return False
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return True
    return any(stamp.get(n) != _digest(n) for n in MODULES)


def active() -> bool:
    """Whether the model running in this process is the compiled one."""
    from monitor.core.baseline import model

    return not str(model.__file__).endswith(".py")


def clean() -> None:
    for p in built():
        p.unlink()
    try:  # mypyc's shared library, next to the ``monitor`` package
        shared = json.loads(STAMP.read_text()).get("shared")
    except (OSError, ValueError):
        shared = None
    if shared:
        (HERE.parent.parent.parent / shared).unlink(missing_ok=True)
    STAMP.unlink(missing_ok=True)


def build() -> int:
    """Compile :data:`MODULES` with mypyc in a scratch copy and install the results here."""
    root = HERE.parent.parent.parent  # the directory holding the ``monitor`` package
    clean()
    with tempfile.TemporaryDirectory(prefix="mcpmon-native-") as tmp:
        # a scratch copy: mypyc's setuptools run must not read the project's pyproject.toml
        shutil.copytree(
            root / "monitor",
            Path(tmp) / "monitor",
            ignore=shutil.ignore_patterns("__pycache__", "*.so"),
        )
        files = [f"monitor/core/baseline/{n}.py" for n in MODULES]
        mypyc = Path(sys.executable).with_name("mypyc")
        cmd = [str(mypyc) if mypyc.exists() else "mypyc", *files]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            print("build-native: mypyc failed; the pure-Python modules stay in use")
            return 1
        out = Path(tmp)
        for n in MODULES:
            (so,) = (out / "monitor/core/baseline").glob(f"{n}.*.so")
            shutil.copy2(so, HERE / so.name)
        (shared,) = out.glob("*__mypyc.*.so")  # the compiled modules import it by this name
        shutil.copy2(shared, root / shared.name)
    stamp: dict[str, str] = {n: _digest(n) for n in MODULES}
    stamp["shared"] = shared.name
    STAMP.write_text(json.dumps(stamp, indent=1) + "\n")
    print(f"build-native: compiled {', '.join(MODULES)} into {HERE}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--clean"]:
        clean()
        sys.exit(0)
    sys.exit(build())
