"""``python -m monitor.native_build [--clean | --no-pgo]``: compile the behaviour layer's hot modules.

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
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Final

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


#: On Linux with GCC, every build calls into libpython through the GOT instead of a PLT stub
#: (a cache line fewer per call site); it tells GCC that no other library replaces the
#: compiled functions (``-fno-semantic-interposition``, as CPython's own build does), so a
#: compiled function can call, inline and profile another directly instead of through the
#: GOT (``moments.f32``, called ~11 times per tool call, was never inlined: results/
#: baseline_cost.md, eleventh pass); and the build is profile-guided: compiled once
#: instrumented, run over simulated traffic (:func:`train`), compiled again from that
#: profile, so the code a call runs is laid out together and its error paths out of the way
#: (results/baseline_cost.md, ninth pass). Elsewhere, or with ``--no-pgo``, a plain build.
GCC_CFLAGS: Final = ("-fno-plt", "-fno-semantic-interposition")
PGO_GENERATE: Final = ("-fprofile-generate",)
PGO_USE: Final = ("-fprofile-use", "-fprofile-correction", "-Wno-missing-profile")
#: The profile run: simulated events, not the benchmarks' seed (7)
TRAIN_EVENTS: Final = 20_000
TRAIN_SEED: Final = 3
TRAIN_TIMEOUT: Final = 600  # s; about 20 here. Longer: a plain build, not a stuck setup


def _gcc() -> bool:
    """Whether the C compiler extensions are built with here is GCC on Linux."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    try:
        out = subprocess.run(
            [*shlex.split(cc)[:1], "--version"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return False
    return sys.platform == "linux" and ("gcc" in out.lower() or "free software" in out.lower())


def _mypyc(tmp: Path, flags: Sequence[str]) -> bool:
    """Compile :data:`MODULES` in the scratch copy with extra C flags; False (and mypyc's
    output on stderr) if it failed."""
    files = [f"monitor/core/baseline/{n}.py" for n in MODULES]
    mypyc = Path(sys.executable).with_name("mypyc")
    cmd = [str(mypyc) if mypyc.exists() else "mypyc", *files]
    cflags = " ".join([os.environ.get("CFLAGS", ""), *flags]).strip()
    env = {**os.environ, "CFLAGS": cflags}
    proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
    return proc.returncode == 0


def _install(tmp: Path, dest: Path) -> None:
    """Copy the scratch build's modules and shared library into ``dest`` and stamp them
    there."""
    pkg = tmp / "monitor/core/baseline"
    if dest != pkg:
        for n in MODULES:
            (so,) = pkg.glob(f"{n}.*.so")
            shutil.copy2(so, dest / so.name)
    # the compiled modules import it by this top-level name; it sits beside them and
    # the package loads it from there (native.load_shared), wherever mcpmon runs from
    (shared,) = tmp.glob("*__mypyc.*.so")
    shutil.copy2(shared, dest / shared.name)
    stamp: dict[str, str] = {n: _digest(n) for n in MODULES}
    stamp["shared"] = shared.name
    (dest / STAMP.name).write_text(json.dumps(stamp, indent=1) + "\n")


def _drop_outputs(tmp: Path) -> None:
    """Remove the scratch build's objects and libraries, so the next compile rebuilds them
    (mypyc rewrites unchanged C files not at all: setuptools would keep the old objects).
    A profile (``.gcda``) stays for the compile that uses it."""
    for p in [*tmp.glob("build/**/*.o"), *tmp.glob("**/*.so")]:
        p.unlink()


def _profile(tmp: Path) -> bool:
    """Build instrumented, run :func:`train` on that build, and leave its profile for the
    next compile; False (with the reason printed) if any step failed."""
    if not _mypyc(tmp, [*GCC_CFLAGS, *PGO_GENERATE]):
        print("build-native: the instrumented build failed")
        return False
    _install(tmp, tmp / "monitor/core/baseline")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "monitor.native_build", "--train"],
            cwd=tmp,
            env={**os.environ, "PYTHONPATH": str(tmp)},
            capture_output=True,
            text=True,
            check=False,
            timeout=TRAIN_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        print(f"build-native: the profile run took more than {TRAIN_TIMEOUT} s")
        return False
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-4000:])
        print("build-native: the profile run failed")
        return False
    if not any(tmp.glob("build/**/*.gcda")):
        print("build-native: the profile run wrote no profile")
        return False
    _drop_outputs(tmp)  # the next compile must not reuse the instrumented objects
    return True


def build(pgo: bool = True) -> int:
    """Compile :data:`MODULES` with mypyc in a scratch copy and install the results here."""
    root = HERE.parent.parent.parent  # the directory holding the ``monitor`` package
    clean()
    started = time.monotonic()
    gcc = _gcc()
    with tempfile.TemporaryDirectory(prefix="mcpmon-native-") as tmp_name:
        tmp = Path(tmp_name)
        # a scratch copy: mypyc's setuptools run must not read the project's pyproject.toml
        shutil.copytree(
            root / "monitor",
            tmp / "monitor",
            ignore=shutil.ignore_patterns("__pycache__", "*.so", STAMP.name),
        )
        (tmp / "mypy.ini").write_text(mypy_config())
        how = "plain"
        if gcc and pgo and _profile(tmp):
            how = "profile-guided"
            if not _mypyc(tmp, [*GCC_CFLAGS, *PGO_USE]):
                print("build-native: the profile-guided compile failed; building without")
                how = "plain"
        elif gcc and pgo:
            print("build-native: building without a profile")
        if how == "plain":
            _drop_outputs(tmp)
            if not _mypyc(tmp, GCC_CFLAGS if gcc else ()):
                print("build-native: mypyc failed; the pure-Python modules stay in use")
                return 1
        _install(tmp, HERE)
    print(
        f"build-native: compiled {', '.join(MODULES)} into {HERE} ({how}) "
        f"in {time.monotonic() - started:.0f} s"
    )
    return 0


def train() -> int:
    """The profile run of a profile-guided build, in its scratch copy: the engine over
    simulated traffic (every detector, the behaviour layer on), then every agent's
    baseline snapshotted and restored (the worker's checkpoints)."""
    from monitor.core.baseline import native

    if not native.active() or not HERE.is_relative_to(Path.cwd()):
        print(f"build-native: the profile run did not load the instrumented build ({HERE})")
        return 1
    from monitor.bench.replay import simulated_lines
    from monitor.core.baseline.model import AgentBaseline
    from monitor.core.detectors.behaviour import baseline_of
    from monitor.core.engine import Engine
    from monitor.events import decode_event

    lines, charters = simulated_lines(TRAIN_EVENTS, TRAIN_SEED)
    engine = Engine(charters)
    for raw in lines:
        engine.process(decode_event(raw))
    for st in engine.states.values():
        m = baseline_of(st)
        if m is not None:
            AgentBaseline.restore(m.snapshot())
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["--clean"]:
        clean()
        sys.exit(0)
    if args == ["--train"]:
        sys.exit(train())
    if args not in ([], ["--no-pgo"]):
        sys.exit(f"usage: python -m monitor.native_build [--clean | --no-pgo]  (got {args})")
    sys.exit(build(pgo=not args))
