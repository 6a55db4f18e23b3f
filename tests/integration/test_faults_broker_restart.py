"""The broker restarted mid-stream, under a running worker and revoker.

This test starts its *own* single-node broker (``scripts/kafka.sh`` with its
own ports and state folder; the jars are the ones already in
``.cache/kafka/libs``, nothing is installed) so it can stop and start it
without touching the shared broker every other test uses.

Events flow at a steady rate; half-way the broker is stopped (controlled
shutdown) and started again on the same data. The worker, the revoker and the
test's own producer ride through the outage. In the end: every alert and
signed command ``mcpmon replay`` gives for the traffic arrived (copies
identical); every command was acked; no enforce command was applied twice
(one ``applied`` ack each, repeats ``already_applied``); the deny-list holds
every enforce command's targets.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from monitor.kafka_io import read_topics
from monitor.output_contracts import RevocationCommand
from monitor.revoker.actuators.denylist import entries
from tests.integration.faults import COMMAND_KEYS, Process, check_against, expected, read_all
from tests.integration.helpers import produce_paced
from tests.integration.traffic import split_traffic
from tests.integration.workers import Run
from tests.revoker.servers import RedisServer, free_port
from tests.worker.support import EXAMPLE_CHARTERS

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
SHARED_LIBS = ROOT / ".cache" / "kafka" / "libs"


@dataclass
class OwnBroker:
    home: Path
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kafka_sh(self, command: str, timeout: float = 120) -> None:
        env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_HOME_DIR": str(self.home),
            "KAFKA_START_TIMEOUT": "90",
        }
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "kafka.sh"), command],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"kafka.sh {command}:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    if not (SHARED_LIBS / ".installed").is_file():
        pytest.fail(
            f"no broker jars in {SHARED_LIBS}: run `bash scripts/kafka.sh install` first "
            "(this test reuses them for its own broker; it installs nothing). Never skipped.",
            pytrace=False,
        )
    home = tmp_path_factory.mktemp("own-kafka")
    (home / "libs").symlink_to(SHARED_LIBS, target_is_directory=True)
    broker = OwnBroker(home, free_port(), free_port())
    broker.kafka_sh("start")
    try:
        yield broker
    finally:
        broker.kafka_sh("stop")


def test_broker_restart_mid_stream_loses_nothing(own_broker: OwnBroker, tmp_path: Path) -> None:
    run = Run(own_broker.bootstrap, uuid.uuid4().hex[:10], tmp_path)
    redis = RedisServer(tmp_path)
    try:
        _run(run, own_broker, redis)
    finally:
        run.stop_all()
        redis.stop()


def _run(run: Run, broker: OwnBroker, redis: RedisServer) -> None:
    before, after = split_traffic(patchers=120)
    lines = before + after
    want = expected(lines, EXAMPLE_CHARTERS)
    commands = {
        cid: RevocationCommand.model_validate_json(doc)
        for cid, doc in want.items()
        if b'"command_id"' in doc and b'"alert_id"' not in doc
    }
    enforce = {cid for cid, c in commands.items() if c.mode == "enforce"}
    assert len(enforce) >= 20

    env = run.env(MCPMON_COMMAND_SIGNING_KEYS=COMMAND_KEYS)
    worker = run.start_worker(EXAMPLE_CHARTERS, MCPMON_COMMAND_SIGNING_KEYS=COMMAND_KEYS)
    revoker = Process(
        "revoker",
        "revoker",
        {
            **env,
            "MCPMON_REVOKER_GROUP_ID": f"{run.app_id}-revoker",
            "MCPMON_REVOKER_REDIS_URL": redis.url,
            "MCPMON_REVOKER_RETRY_BASE_SECONDS": "0.2",
            # the traffic is dated March 2026: no replay window, or every command is "expired"
            "MCPMON_REVOKER_COMMAND_MAX_AGE_SECONDS": "0",
        },
        [],
        run.tmp / "revoker.log",
    )
    run.workers.append(revoker)
    worker.wait_ready(timeout=90)
    revoker.wait_log(lambda r: r.get("event") == "revoker_started", timeout=60)

    bounced = []

    def bounce() -> None:
        broker.kafka_sh("stop")
        bounced.append("stopped")
        broker.kafka_sh("start")
        bounced.append("started")

    # ~2,000 events at 150/s; the broker goes down and comes back 40 % of the way in
    produce_paced(run, lines, 150, at=0.4, action=bounce)
    assert bounced == ["stopped", "started"]

    got = read_all(run, want)
    copies = check_against(got, want)
    acks = asyncio.run(
        read_topics(
            run.bootstrap,
            [run.topics["acks"]],
            until=lambda r: {orjson.loads(a.value)["command_id"] for a in r} >= set(commands),
            timeout=90,
            settle=2.0,
        )
    )
    statuses: dict[str, Counter[str]] = {}
    for a in map(lambda rec: orjson.loads(rec.value), acks):
        statuses.setdefault(a["command_id"], Counter())[a["status"]] += 1
    assert set(statuses) == set(commands), "a command was never acked"
    for cid in enforce:
        assert statuses[cid]["applied"] == 1, (cid, statuses[cid])
        assert statuses[cid]["failed"] == 0
    denied = [k for cid in enforce for k in entries(commands[cid])]
    found = redis.command("EXISTS", *denied)
    assert found == f":{len(denied)}\r\n".encode(), (found, len(denied))
    assert worker.alive, worker.tail()
    assert revoker.alive, revoker.tail()
    print(
        f"\nbroker restarted mid-stream: {len(want)} outputs all arrived "
        f"({sum(n - 1 for n in copies.values())} duplicate copies), {len(commands)} commands "
        f"acked ({sum(sum(c.values()) for c in statuses.values())} acks), "
        f"{len(denied)} deny-list entries"
    )
