"""docker-compose.yml: the official Kafka image at the version the project runs, and health checks.

The Compose client validates the file where one is installed (``docker compose``
or ``docker-compose``); the structural checks run everywhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import yaml

from tests.worker.support import ROOT

COMPOSE = ROOT / "docker-compose.yml"


def _kafka_version() -> str:
    pom = (ROOT / "scripts" / "kafka" / "pom.xml").read_text()
    m = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    assert m, "Kafka version not found in scripts/kafka/pom.xml"
    return m.group(1)


def test_compose_has_kafka_worker_and_revoker_with_health_checks() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert set(services) == {"kafka", "worker", "revoker", "redis"}
    assert "mcpmon revoker" in " ".join(services["revoker"]["command"])
    assert services["revoker"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["kafka"]["image"] == f"apache/kafka:{_kafka_version()}"
    for name, svc in services.items():
        assert "test" in svc["healthcheck"], name
    assert services["worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    env = services["worker"]["environment"]
    assert env["MCPMON_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert "mcpmon worker --charters" in " ".join(services["worker"]["command"])


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
        return  # no client on this machine: the structural test above still ran
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
