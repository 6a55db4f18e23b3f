"""``python -m monitor.native_build [--clean]``: compile the behaviour layer's hot modules.

The build runs a compiler (mypyc) in a subprocess, so it lives outside the pure
core; the core keeps only the check that a build is not older than its source
(:mod:`monitor.core.baseline.native`).

mypyc type-checks everything the compiled modules import, and it keeps every function
body to do so (mypy itself skips the bodies of installed packages): through the
package's ``__init__`` that is river, narwhals, faust and the rest, and type-checking
their bodies took 13 of the build's 14 minutes. The compiled modules' own types come
from numpy and pydantic (and the standard library) only, so the build tells mypy to
skip every other installed package (:func:`mypy_config`): about 20 s, and the same machine
code, byte for byte (``.text`` of the shared library compared, results/baseline_cost.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import packages_distributions
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


#: Installed packages the compiled modules take types from: mypy follows these (and the
#: standard library, our own package) and skips every other installed package.
TYPED_FROM = frozenset(
    {
        "monitor",
        "numpy",
        "pydantic",
        "pydantic_core",
        "typing_extensions",
        "annotated_types",
        "mypy_extensions",
        "librt",  # librt.vecs: the typed vectors the model keeps its arrays in
    }
)


def mypy_config(installed: list[str] | None = None) -> str:
    """The ``mypy.ini`` of the build: installed top-level packages other than
    :data:`TYPED_FROM` are skipped (imports of them are ``Any`` to the type checker), and
    the others are found in this interpreter's environment."""
    names = packages_distributions() if installed is None else installed
    skip = sorted(n for n in names if n.isidentifier() and n not in TYPED_FROM)
    # the packages' types come from this interpreter's environment, wherever mypyc is
    # installed (the image runs a build virtualenv's mypyc for its runtime virtualenv)
    lines = ["[mypy]", "ignore_missing_imports = True", f"python_executable = {sys.executable}", ""]
    if skip:
        lines += [f"[mypy-{','.join(f'{n},{n}.*' for n in skip)}]", "follow_imports = skip", ""]
    return "\n".join(lines)


def build() -> int:
    """Compile :data:`MODULES` with mypyc in a scratch copy and install the results here."""
    root = HERE.parent.parent.parent  # the directory holding the ``monitor`` package
    clean()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mcpmon-native-") as tmp:
        # a scratch copy: mypyc's setuptools run must not read the project's pyproject.toml
        shutil.copytree(
            root / "monitor",
            Path(tmp) / "monitor",
            ignore=shutil.ignore_patterns("__pycache__", "*.so"),
        )
        (Path(tmp) / "mypy.ini").write_text(mypy_config())
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
    print(
        f"build-native: compiled {', '.join(MODULES)} into {HERE} "
        f"in {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--clean"]:
        clean()
        sys.exit(0)
    sys.exit(build())
