"""``python -m monitor.native_build [--clean]``: compile the behaviour layer's hot modules.

The build runs a compiler (mypyc) in a subprocess, so it lives outside the pure
core; the core keeps only the check that a build is not older than its source
(:mod:`monitor.core.baseline.native`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from monitor.core.baseline.native import HERE, MODULES, STAMP, _digest, built


def clean() -> None:
    for p in built():
        p.unlink()
    try:  # mypyc's shared library, beside the modules (or, from older builds, the package)
        shared = json.loads(STAMP.read_text()).get("shared")
    except (OSError, ValueError):
        shared = None
    if isinstance(shared, str):
        (HERE / shared).unlink(missing_ok=True)
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
        # the compiled modules import it by this top-level name; it sits beside them and
        # the package loads it from there (native.load_shared), wherever mcpmon runs from
        (shared,) = out.glob("*__mypyc.*.so")
        shutil.copy2(shared, HERE / shared.name)
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
