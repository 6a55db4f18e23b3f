"""docker-compose.yml: valid against the Compose Specification schema, built from the
project's image, per-replica worker state, health checks that mean something.

There is no Docker engine or Compose client on the CI machines: the file is validated
against the vendored compose-spec JSON schema (tests/deploy/schemas), the health-check
commands are run here against files and servers they would see in a container, and the
Compose client validates too where one is installed.
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
MCPMON = {"worker", "revoker", "sink", "tap", "proxy"}


def _doc() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


def _services() -> dict[str, Any]:
    return dict(_doc()["services"])


def _errors(doc: object) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def _kafka_version() -> str:
    pom = (ROOT / "scripts" / "kafka" / "pom.xml").read_text()
    m = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    assert m, "Kafka version not found in scripts/kafka/pom.xml"
    return m.group(1)


# ------------------------------------------------------------------ the schema
def test_compose_file_validates_against_the_compose_spec_schema() -> None:
    assert _errors(_doc()) == []


@pytest.mark.parametrize(
    ("where", "bad"),
    [
        (("services", "worker"), {"healthchek": {"test": ["CMD", "true"]}}),  # misspelt key
        (("services", "worker", "healthcheck"), {"retries": "three"}),  # wrong type
        (("services", "revoker"), {"depends_on": {"kafka": {"condition": "started"}}}),
    ],
)
def test_the_schema_check_rejects_a_broken_file(
    where: tuple[str, ...], bad: dict[str, Any]
) -> None:
    doc = copy.deepcopy(_doc())
    node = doc
    for key in where:
        node = node[key]
    node.update(bad)
    assert _errors(doc), f"the schema accepted {bad} at {'/'.join(where)}"


def test_compose_file_validates_with_the_compose_client_where_there_is_one() -> None:
    if (
        shutil.which("docker")
        and subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        cmd = ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"]
    elif shutil.which("docker-compose"):
        cmd = ["docker-compose", "-f", str(COMPOSE), "config", "--quiet"]
    else:
        return  # no client on this machine: the schema test above still ran
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr


# ------------------------------------------------------------------ structure
def test_services_kafka_version_and_dependencies() -> None:
    services = _services()
    assert {"kafka", "redis", "prometheus", "grafana"} | MCPMON == set(services)
    assert services["kafka"]["image"] == f"apache/kafka:{_kafka_version()}"
    assert services["revoker"]["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in MCPMON:
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy", name
        assert services[name]["environment"]["MCPMON_KAFKA_BOOTSTRAP"] == "kafka:9092", name
    assert services["worker"]["command"][:2] == ["worker", "--charters"]
    # one process per replica: scaled by --scale, each replica with one host metrics port
    # (without the flag each would start one process per CPU, on ports the map lacks)
    cmd = services["worker"]["command"]
    assert cmd[cmd.index("--processes") + 1] == "1"
    assert services["revoker"]["command"] == ["revoker"]
    for name in ("sink", "tap", "proxy", "prometheus", "grafana"):
        assert services[name]["profiles"], f"{name} is optional: it needs a profile"


def test_mcpmon_services_run_the_built_image_and_install_nothing_at_start() -> None:
    for name, svc in _services().items():
        if name not in MCPMON:
            continue
        assert svc["build"]["context"] == ".", name
        assert svc["build"]["dockerfile"] == "Dockerfile", name
        assert (ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
        text = json.dumps(svc)
        assert "pip install" not in text and "python:3" not in text, name
        assert "/src" not in text, f"{name} mounts the checkout instead of using the image"


def test_scaled_workers_each_have_their_own_data_dir_and_health_file() -> None:
    doc = _doc()
    worker = doc["services"]["worker"]
    data_dir = worker["environment"]["MCPMON_DATA_DIR"]
    named = set(doc.get("volumes") or {})
    at_data_dir = [v for v in worker["volumes"] if v.split(":")[-1] == data_dir or v == data_dir]
    # an anonymous volume (no source): every replica gets its own
    assert at_data_dir == [data_dir], at_data_dir
    for v in worker["volumes"]:
        source = v.split(":")[0]
        assert source not in named, f"worker mounts the named volume {source}: shared by replicas"
    assert "worker-data" not in named
    test = " ".join(worker["healthcheck"]["test"])
    assert f"{data_dir}/worker.alive" in test
    # one published metrics port per replica: a range, not one fixed host port
    (port,) = worker["ports"]
    m = re.fullmatch(r"127\.0\.0\.1:(\d+)-(\d+):9464", port)
    assert m and int(m.group(2)) > int(m.group(1)), port


def test_metrics_are_served_on_the_container_interface_and_published() -> None:
    services = _services()
    ports = {
        "worker": "MCPMON_WORKER_METRICS_PORT",
        "revoker": "MCPMON_REVOKER_METRICS_PORT",
        "sink": "MCPMON_SINK_METRICS_PORT",
        "proxy": "MCPMON_PROXY_METRICS_PORT",
    }
    for name, var in ports.items():
        env = services[name]["environment"]
        assert env["MCPMON_METRICS_ADDR"] == "0.0.0.0", name
        port = env[var]
        published = [p.rsplit(":", 1)[1] for p in services[name]["ports"]]
        assert port in published, f"{name}: {var}={port} not published ({published})"
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"]), name
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = json.dumps(scrape["scrape_configs"])
    for name, var in ports.items():
        assert f"{services[name]['environment'][var]}" in targets, name


def test_every_bind_mounted_project_file_exists() -> None:
    user_supplied = {"./gateway-logs", "./secrets/proxy-jwt-key.pem"}
    for name, svc in _services().items():
        for v in svc.get("volumes", []):
            source = v.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} is not in the repository"
    for secret in _doc()["secrets"].values():
        assert secret["file"] in user_supplied


# ------------------------------------------------------------------ the health checks, run
def _python_check(service: str, path_in_container: str, path_here: Path) -> list[str]:
    test = _services()[service]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    code = test[3]
    assert path_in_container in code
    return [sys.executable, "-c", code.replace(path_in_container, str(path_here))]


def _env_path(service: str, var: str) -> str:
    return str(_services()[service]["environment"][var])


@pytest.mark.parametrize(
    ("service", "var", "name"),
    [
        ("worker", "MCPMON_DATA_DIR", "worker.alive"),
        ("revoker", "MCPMON_HEARTBEAT_FILE", ""),
        ("sink", "MCPMON_HEARTBEAT_FILE", ""),
        ("tap", "MCPMON_HEARTBEAT_FILE", ""),
    ],
)
def test_heartbeat_health_checks_fail_on_a_stale_or_missing_file(
    service: str, var: str, name: str, tmp_path: Path
) -> None:
    in_container = _env_path(service, var) + (f"/{name}" if name else "")
    here = tmp_path / "alive"
    cmd = _python_check(service, in_container, here)

    def rc() -> int:
        return subprocess.run(cmd, capture_output=True, timeout=30, check=False).returncode

    assert rc() != 0  # missing: the loop never ran
    here.write_text("x")
    assert rc() == 0  # fresh
    old = time.time() - 600
    os.utime(here, (old, old))
    assert rc() != 0  # stale: the loop stopped turning


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(406)  # what the MCP endpoint answers a plain GET
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_proxy_health_check_needs_an_http_answer() -> None:
    test = _services()["proxy"]["healthcheck"]["test"]
    code = test[3]
    assert "127.0.0.1:8080" in code
    server = http.server.HTTPServer(("127.0.0.1", 0), _NotFound)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ok = subprocess.run(
            [sys.executable, "-c", code.replace("8080", str(port))], timeout=30, check=False
        )
        assert ok.returncode == 0
    finally:
        server.shutdown()
        server.server_close()
    down = subprocess.run(
        [sys.executable, "-c", code.replace("8080", str(port))], timeout=30, check=False
    )
    assert down.returncode != 0  # nothing listening


def test_health_check_age_limits_leave_room_for_the_write_interval() -> None:
    """A limit close to the interval at which the process rewrites its file flaps."""
    from monitor.heartbeat import HEARTBEAT_SECONDS
    from monitor.worker.app import HEARTBEAT_SECONDS as WORKER_SECONDS

    for service, every in (
        ("worker", WORKER_SECONDS),
        ("revoker", HEARTBEAT_SECONDS),
        ("sink", HEARTBEAT_SECONDS),
        ("tap", HEARTBEAT_SECONDS),
    ):
        code = _services()[service]["healthcheck"]["test"][3]
        m = re.search(r"getmtime\([^)]*\) < (\d+)", code)
        assert m, service
        assert int(m.group(1)) >= 3 * every, service


def _host_ports(spec: object) -> set[int]:
    """The host ports one ``ports`` entry takes; a range (``127.0.0.1:9464-9467:9464``, one
    port per scaled replica) counts in full."""
    if isinstance(spec, dict):
        published = str(spec.get("published", ""))
    else:
        parts = str(spec).split(":")
        published = parts[-2] if len(parts) >= 2 else ""
    if not published:
        return set()  # no host port: Docker picks an ephemeral one
    low, _, high = published.partition("-")
    return set(range(int(low), int(high or low) + 1))


def test_no_two_services_share_a_host_port_even_with_scaled_workers() -> None:
    owner: dict[int, str] = {}
    for name, service in _services().items():
        for spec in service.get("ports", []):
            for port in _host_ports(spec):
                assert port not in owner, f"host port {port}: {owner.get(port)} and {name}"
                owner[port] = name
    worker = {p for p, s in owner.items() if s == "worker"}
    assert len(worker) >= 2  # --scale worker=2 has a port per replica
    assert _host_ports("127.0.0.1:9464-9467:9464") == {9464, 9465, 9466, 9467}
    assert _host_ports({"target": 80, "published": "8080"}) == {8080}


def test_the_proxy_enforces_inline_policy_from_mounted_charters() -> None:
    proxy = _services()["proxy"]
    command = [str(c) for c in proxy["command"]]
    assert command[command.index("--policy") + 1] == "inline"
    charters = command[command.index("--charters") + 1]
    mounts = [str(v) for v in proxy.get("volumes", [])]
    assert any(v.split(":")[1] == charters for v in mounts if v.count(":") >= 1), mounts
