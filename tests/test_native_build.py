"""``python -m monitor.native_build``: the mypy configuration its mypyc run reads, and the
choices around its profile-guided build (the build itself runs in ``make setup``).

mypyc keeps every function body it type-checks, so without this configuration it checked
the bodies of river, narwhals and the rest (13 of 14 minutes); with it the build takes
seconds and emits the same machine code (results/baseline_cost.md, seventh pass).
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import native_build
from monitor.native_build import TYPED_FROM, mypy_config


def _sections(text: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser()
    cp.read_string(text)
    return cp


def test_every_installed_package_but_those_the_compiled_modules_take_types_from_is_skipped() -> (
    None
):
    cp = _sections(mypy_config(["river", "narwhals", "numpy", "pydantic", "monitor", "faust"]))
    assert cp["mypy"]["ignore_missing_imports"] == "True"
    (skip,) = (s for s in cp.sections() if s != "mypy")
    assert cp[skip]["follow_imports"] == "skip"
    # a package and every module under it
    assert skip == "mypy-faust,faust.*,narwhals,narwhals.*,river,river.*"


def test_our_package_and_the_type_sources_are_never_skipped() -> None:
    text = mypy_config(sorted(TYPED_FROM))
    assert _sections(text).sections() == ["mypy"]
    assert {"monitor", "numpy", "pydantic", "pydantic_core"} <= TYPED_FROM


def test_names_that_are_not_modules_are_left_out() -> None:
    # packages_distributions() lists stub distributions' directories ("yaml-stubs") and
    # mypyc's own hashed shared libraries ("6ec5…__mypyc"), neither importable by that name
    text = mypy_config(["yaml-stubs", "6ec57f84c680d3a3778b__mypyc", "yaml"])
    (skip,) = (s for s in _sections(text).sections() if s != "mypy")
    assert skip == "mypy-yaml,yaml.*"


def test_the_installed_packages_are_read_when_none_are_given() -> None:
    cp = _sections(mypy_config())
    (skip,) = (s for s in cp.sections() if s != "mypy")
    names = set(skip.removeprefix("mypy-").split(","))
    assert {"river", "river.*", "faust", "faust.*"} <= names  # both installed here
    assert not names & (TYPED_FROM | {f"{n}.*" for n in TYPED_FROM})


def test_the_types_come_from_the_environment_of_the_interpreter_that_builds() -> None:
    """The image runs mypyc from its build virtualenv for the runtime virtualenv: mypy must
    read numpy's and pydantic's types where they are installed, not beside mypyc (else they
    are ``Any`` and the compiled code differs)."""
    cp = _sections(mypy_config([]))
    assert cp["mypy"]["python_executable"] == sys.executable


def _compiler(tmp_path: Path, banner: str) -> str:
    cc = tmp_path / "cc"
    cc.write_text(f"#!/bin/sh\necho '{banner}'\n")
    cc.chmod(0o755)
    return str(cc)


@pytest.mark.skipif(sys.platform != "linux", reason="the profile-guided build is for Linux")
def test_only_gcc_gets_the_profile_guided_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC", _compiler(tmp_path, "gcc (Debian 12.2.0-14) 12.2.0") + " -pthread")
    assert native_build._gcc()
    # clang's -fprofile-generate writes .profraw files that need llvm-profdata: plain build
    monkeypatch.setenv("CC", _compiler(tmp_path, "Debian clang version 14.0.6"))
    assert not native_build._gcc()
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert not native_build._gcc()


def test_the_profile_run_refuses_a_build_it_did_not_instrument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run anywhere but in the scratch copy it profiles, the profile would be of the
    installed modules (or of pure Python): the run says so and fails the build's PGO step."""
    monkeypatch.chdir(tmp_path)
    assert native_build.train() == 1
    assert "did not load the instrumented build" in capsys.readouterr().out


def test_an_unknown_argument_is_named_and_refused() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "monitor.native_build", "--fast"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "--no-pgo" in proc.stderr and "'--fast'" in proc.stderr
