"""deploy/helm/mcp-monitor through helm itself: `helm lint --strict`, the committed
renderings (tests/deploy/helm/, which tests/deploy/test_helm.py reads) equal to what helm
renders now, and the chart's own refusal of a proxy without an upstream.

helm is built from source (scripts/helm.sh: no package registry reachable from CI ships a
binary). `make test` starts that build in the background before anything else
(``scripts/helm.sh start``); these tests run in the serial phase after the unit tests and
wait for it. Without helm and without a build under way they fail, saying how to get it:
a chart test that passes without helm checks nothing.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mcp-monitor"
HERE = ROOT / "tests" / "deploy" / "helm"
FULL_VALUES = HERE / "full-values.yaml"
RENDERINGS = {
    "rendered-default.yaml": [],
    "rendered-full.yaml": ["-f", str(FULL_VALUES)],
}
KUBE_VERSION = "1.30.0"  # as scripts/helm.sh render
TOOLS = ROOT / "build" / "tools"
#: How long a test waits for the background build: a cold build measured 6 min 54 s on
#: 2 cores beside the unit suite (212 s of CPU); the unit phase already covers most of it.
BUILD_WAIT_SECONDS = float(os.environ.get("MCPMON_TEST_HELM_WAIT", "1200"))

NO_HELM = (
    "no helm binary (build/tools/helm, $(go env GOPATH)/bin/helm or PATH) and no build under "
    "way: `helm lint` and the rendering check cannot run. Get it with make helm-install "
    "(bash scripts/helm.sh install: a Go build, minutes on a clean machine); make test starts "
    "that build itself"
)


def find_helm() -> str | None:
    candidates = [TOOLS / "helm"]
    go = shutil.which("go")
    if go:
        gopath = subprocess.run(
            [go, "env", "GOPATH"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if gopath:
            candidates.append(Path(gopath) / "bin" / "helm")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return shutil.which("helm")


def _building(tools: Path) -> bool:
    """A background build (scripts/helm.sh start) was started and has not ended."""
    return (tools / "helm-build.pid").is_file() and not (tools / "helm-build.rc").is_file()


def require_helm(tools: Path = TOOLS, wait: float = BUILD_WAIT_SECONDS) -> str:
    """The helm binary, after waiting for a build under way; else a loud failure."""
    deadline = time.monotonic() + wait
    while _building(tools) and time.monotonic() < deadline:
        time.sleep(2.0)
    helm = find_helm()
    if helm is not None:
        return helm
    rc = tools / "helm-build.rc"
    if rc.is_file() and rc.read_text().strip() != "0":
        log = (tools / "helm-build.log").read_text(errors="replace")[-2000:]
        pytest.fail(f"the helm build failed (exit {rc.read_text().strip()}):\n{log}", False)
    if _building(tools):
        pytest.fail(f"the helm build did not end within {wait:.0f} s", pytrace=False)
    pytest.fail(NO_HELM, pytrace=False)


def test_helm_lint_and_the_committed_renderings_are_current(tmp_path: Path) -> None:
    helm = require_helm()
    for extra in ([], ["-f", str(FULL_VALUES)]):
        res = subprocess.run(
            [helm, "lint", "--strict", str(CHART), *extra],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert res.returncode == 0, res.stdout + res.stderr
    for name, extra in RENDERINGS.items():
        out = tmp_path / name
        res = subprocess.run(
            [helm, "template", "mcpmon", str(CHART), "--kube-version", KUBE_VERSION, *extra],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        out.write_text(res.stdout)
        assert filecmp.cmp(out, HERE / name, shallow=False), (
            f"tests/deploy/helm/{name} is stale: bash scripts/helm.sh render"
        )


def test_helm_refuses_a_proxy_without_upstream() -> None:
    helm = require_helm()
    cmd = [helm, "template", "mcpmon", str(CHART), "--kube-version", KUBE_VERSION]
    res = subprocess.run(
        [*cmd, "--set", "proxy.enabled=true"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode != 0 and "proxy.upstreamUrl" in res.stderr


def test_without_helm_and_without_a_build_the_helm_tests_fail_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{__name__}.find_helm", lambda: None)
    with pytest.raises(pytest.fail.Exception, match="no helm binary"):
        require_helm(tmp_path, wait=0)
    # a failed build is named, with its log
    (tmp_path / "helm-build.pid").write_text("1")
    (tmp_path / "helm-build.rc").write_text("1\n")
    (tmp_path / "helm-build.log").write_text("go: module lookup disabled\n")
    with pytest.raises(pytest.fail.Exception, match=r"(?s)helm build failed.*module lookup"):
        require_helm(tmp_path, wait=0)
    # a build still under way past the wait is named too
    (tmp_path / "helm-build.rc").unlink()
    with pytest.raises(pytest.fail.Exception, match="did not end within"):
        require_helm(tmp_path, wait=0)
