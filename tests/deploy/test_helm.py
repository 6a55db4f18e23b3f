"""deploy/helm/mcp-monitor: the rendered manifests (kinds, a volume per worker replica,
probes that read the heartbeat the process writes, non-root, resource requests, secrets
only from Secrets as MCPMON_*_FILE).

The manifests tested are real `helm template` output, committed in tests/deploy/helm/
(scripts/helm.sh render). `helm lint --strict` and "the committed renderings equal what
helm renders now" run helm itself: tests/integration/test_helm_binary.py (in the serial
phase of `make test`, which builds helm in the background first).
"""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.settings import FILE_SUFFIX, VARIABLES, unknown_variables

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mcp-monitor"
HERE = Path(__file__).parent / "helm"
FULL_VALUES = HERE / "full-values.yaml"
RENDERINGS = {
    "rendered-default.yaml": [],
    "rendered-full.yaml": ["-f", str(FULL_VALUES)],
}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((HERE / name).read_text()) if d]


def _by_kind_name(name: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in _docs(name)}


def _workloads(name: str) -> list[dict[str, Any]]:
    return [d for d in _docs(name) if d["kind"] in WORKLOADS]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


# ------------------------------------------------------------------ the manifests
def test_kinds_of_the_default_and_the_full_install() -> None:
    default = {
        (k, n.removeprefix("mcpmon-mcp-monitor-"))
        for k, n in _by_kind_name("rendered-default.yaml")
    }
    assert ("StatefulSet", "worker") in default
    assert ("Deployment", "revoker") in default
    assert ("Service", "worker") in default
    assert ("ConfigMap", "charters") in default
    assert not {n for k, n in default if n in {"sink", "proxy", "tap"}}  # opt-in
    full = {
        (k, n.removeprefix("mcpmon-mcp-monitor-")) for k, n in _by_kind_name("rendered-full.yaml")
    }
    assert {
        ("StatefulSet", "worker"),
        ("Deployment", "revoker"),
        ("Deployment", "sink"),
        ("Deployment", "proxy"),
        ("Service", "proxy"),
        ("DaemonSet", "tap"),
    } <= full


def test_worker_is_a_statefulset_with_a_volume_per_replica() -> None:
    for name in RENDERINGS:
        (sts,) = [d for d in _docs(name) if d["kind"] == "StatefulSet"]
        spec = sts["spec"]
        assert spec["replicas"] >= 2
        (claim,) = spec["volumeClaimTemplates"]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert claim["spec"]["resources"]["requests"]["storage"]
        pod = spec["template"]["spec"]
        (c,) = pod["containers"]
        env = _env(c)
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert mounts[env["MCPMON_DATA_DIR"]] == claim["metadata"]["name"]
        # the claim is the data volume: not also a shared pod volume
        assert claim["metadata"]["name"] not in {v["name"] for v in pod["volumes"]}
        assert env["MCPMON_STORE"] == "rocksdb://"
        assert "/etc/mcpmon/charters" in c["args"]


def test_worker_processes_per_pod_pass_the_flag_and_expose_each_child_s_metrics() -> None:
    def worker(name: str) -> dict[str, Any]:
        (sts,) = [d for d in _docs(name) if d["kind"] == "StatefulSet"]
        (c,) = sts["spec"]["template"]["spec"]["containers"]
        return c

    default, full = worker("rendered-default.yaml"), worker("rendered-full.yaml")
    # always passed: without the flag a worker starts one process per CPU it may use
    d_args = default["args"]
    assert d_args[d_args.index("--processes") + 1] == "1"  # values.yaml: processes: 1
    assert [p["containerPort"] for p in default["ports"]] == [9464]
    args = full["args"]
    assert args[args.index("--processes") + 1] == "2"  # full-values: processes: 2
    # child i serves metrics on MCPMON_WORKER_METRICS_PORT + i
    base = int(_env(full)["MCPMON_WORKER_METRICS_PORT"])
    assert [p["containerPort"] for p in full["ports"]] == [base, base + 1]


def test_every_pod_runs_non_root_read_only_with_requests() -> None:
    for name in RENDERINGS:
        for w in _workloads(name):
            pod = w["spec"]["template"]["spec"]
            psc = pod["securityContext"]
            assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0, w["metadata"]["name"]
            assert pod["automountServiceAccountToken"] is False
            for c in pod["containers"]:
                sc = c["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False
                assert sc["readOnlyRootFilesystem"] is True
                assert sc["capabilities"]["drop"] == ["ALL"]
                req = c["resources"]["requests"]
                assert req["cpu"] and req["memory"], c["name"]
                assert c["resources"]["limits"]["memory"], c["name"]
                mounts = {m["mountPath"] for m in c["volumeMounts"]}
                assert "/tmp" in mounts  # writable scratch under a read-only root


def _heartbeat_path(kind: str, c: dict[str, Any]) -> str:
    env = _env(c)
    if c["name"] == "worker":
        return f"{env['MCPMON_DATA_DIR']}/worker.alive"
    return str(env["MCPMON_HEARTBEAT_FILE"])


def test_probes_read_the_heartbeat_the_process_writes_and_really_fail(tmp_path: Path) -> None:
    checked = 0
    for w in _workloads("rendered-full.yaml"):
        for c in w["spec"]["template"]["spec"]["containers"]:
            assert "readinessProbe" in c and "livenessProbe" in c, c["name"]
            if c["name"] == "proxy":
                assert c["readinessProbe"]["tcpSocket"]["port"] == "mcp"
                continue
            path = _heartbeat_path(w["kind"], c)
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if probe not in c and c["name"] == "tap":
                    continue  # the tap starts in seconds: no startup probe
                cmd = c[probe]["exec"]["command"]
                assert cmd[:2] == ["python", "-c"] and path in cmd[2], (c["name"], probe)
                here = tmp_path / f"{c['name']}-{probe}.alive"
                run = [sys.executable, "-c", cmd[2].replace(path, str(here))]

                def rc(run: list[str] = run) -> int:
                    return subprocess.run(run, capture_output=True, timeout=30).returncode

                assert rc() != 0, (c["name"], probe, "missing file")
                here.write_text("x")
                assert rc() == 0, (c["name"], probe, "fresh file")
                old = time.time() - 3600
                os.utime(here, (old, old))
                assert rc() != 0, (c["name"], probe, "stale file")
                checked += 1
    assert checked == 11  # worker, revoker, sink × startup, readiness, liveness; tap × 2


def test_secrets_come_from_the_secret_as_files_never_as_values() -> None:
    values = yaml.safe_load(FULL_VALUES.read_text())
    secret_name = values["secrets"]["existingSecret"]
    for w in _workloads("rendered-full.yaml"):
        pod = w["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod["containers"]:
            env = _env(c)
            mounts = {m["name"]: m for m in c["volumeMounts"]}
            for var, value in env.items():
                # MCPMON_<SETTING>_FILE, not a setting whose own name ends in _FILE
                as_file = var.endswith(FILE_SUFFIX) and var not in VARIABLES
                secretish = any(s in var for s in ("KEYS", "TOKEN", "SECRET", "PASSWORD"))
                assert not secretish or as_file, f"{c['name']}: {var} as a value"
                if as_file:
                    mount = mounts["secrets"]
                    assert mount["readOnly"] is True
                    assert value.startswith(mount["mountPath"] + "/")
                    vol = volumes["secrets"]["secret"]
                    assert vol["secretName"] == secret_name
                    assert vol["defaultMode"] == 0o440
                    key = value.rsplit("/", 1)[1]
                    assert key in {i["key"] for i in vol["items"]}
                    # a setting given as a file is not also given as a value
                    assert var.removesuffix(FILE_SUFFIX) not in env, var
    revoker = _by_kind_name("rendered-full.yaml")[("Deployment", "mcpmon-mcp-monitor-revoker")]
    (c,) = revoker["spec"]["template"]["spec"]["containers"]
    assert "MCPMON_COMMAND_SIGNING_KEYS_FILE" in _env(c)
    proxy = _by_kind_name("rendered-full.yaml")[("Deployment", "mcpmon-mcp-monitor-proxy")]
    (c,) = proxy["spec"]["template"]["spec"]["containers"]
    assert "--jwt-key" in c["args"]


def test_every_mcpmon_variable_the_chart_sets_is_a_real_setting() -> None:
    for name in RENDERINGS:
        for w in _workloads(name):
            for c in w["spec"]["template"]["spec"]["containers"]:
                env = {k: "x" for k in _env(c) if k.startswith("MCPMON_")}
                assert unknown_variables(env) == [], (name, c["name"])
    values = yaml.safe_load(FULL_VALUES.read_text())
    for component, mapping in values["secrets"].items():
        if isinstance(mapping, dict):
            for setting in mapping:
                assert f"MCPMON_{setting.upper()}" in VARIABLES, (component, setting)


def test_metrics_ports_are_annotated_and_bound_to_the_pod_ip() -> None:
    for w in _workloads("rendered-full.yaml"):
        if w["metadata"]["name"].endswith("-tap"):
            continue
        pod = w["spec"]["template"]
        (c,) = pod["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(ports["metrics"])
        addr = _env(c)["MCPMON_METRICS_ADDR"]
        assert addr == {"fieldRef": {"fieldPath": "status.podIP"}}


def test_the_chart_ships_the_example_charters_unchanged() -> None:
    ours = sorted(p.name for p in (CHART / "files" / "charters").iterdir())
    examples = sorted(p.name for p in (ROOT / "examples" / "charters").glob("*.yaml"))
    assert ours == examples
    for n in ours:
        assert filecmp.cmp(CHART / "files" / "charters" / n, ROOT / "examples" / "charters" / n)
    cm = _by_kind_name("rendered-default.yaml")[("ConfigMap", "mcpmon-mcp-monitor-charters")]
    assert sorted(cm["data"]) == examples


@pytest.mark.parametrize("name", list(RENDERINGS))
def test_renderings_are_helm_output(name: str) -> None:
    text = (HERE / name).read_text()
    assert text.startswith("---\n# Source: mcp-monitor/templates/")  # helm's own header


def test_the_proxy_enforces_inline_policy_from_the_charters_config_map() -> None:
    (proxy,) = [
        d for d in _workloads("rendered-full.yaml") if d["metadata"]["name"].endswith("-proxy")
    ]
    pod = proxy["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    args = [str(a) for a in c["args"]]
    assert args[args.index("--policy") + 1] == "inline"
    charters = args[args.index("--charters") + 1]
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == charters]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"].endswith("-charters") and mount["readOnly"]
    assert "checksum/charters" in proxy["spec"]["template"]["metadata"]["annotations"]
