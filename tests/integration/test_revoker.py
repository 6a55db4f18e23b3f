"""``mcpmon revoker`` on the real broker, with a real redis-server and webhook receiver.

Commands (one duplicated, one observe-mode, one the webhook keeps refusing, one
not a command at all) go to a fresh revocations topic; the revoker runs as a
subprocess, as in production; the acks, the failure alert, the dead letter and
the deny-list in Redis are checked. A restarted revoker then gets a
republished command and acks it ``already_applied`` from the durable ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.kafka_io import produce, read_topics
from monitor.output_contracts import RevocationCommand
from monitor.revoker.actuators.denylist import connect, denied, deny_keys
from tests.integration.workers import Run
from tests.revoker.servers import HTTPServer, RedisServer, Reply, Request
from tests.revoker.support import command
from tests.revoker.test_webhook import KEY, Receiver

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


class RevokerProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "revoker", "--loglevel", "info"],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_bytes().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                out.append(orjson.loads(line))
        return out

    def wait_log(self, event: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rec in self.logs():
                if rec.get("event") == event:
                    return rec
            if self.proc.poll() is not None:
                raise AssertionError(f"revoker exited: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"no {event} in {timeout} s: {self.log_path.read_text()[-3000:]}")

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return int(self.proc.returncode)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def webhook() -> Iterator[tuple[HTTPServer, Receiver]]:
    rx = Receiver()

    def behaviour(req: Request) -> Reply:
        if req.headers.get("idempotency-key") == "cmd-refused":
            return Reply(500, b"ticketing backend down")
        return rx(req)

    s = HTTPServer(behaviour)
    try:
        yield s, rx
    finally:
        s.close()


def send(run: Run, *values: bytes) -> None:
    asyncio.run(produce(run.bootstrap, run.topics["revocations"], [(b"a1", v) for v in values]))


def read(run: Run, names: tuple[str, ...], want: int) -> dict[str, list[dict[str, Any]]]:
    topics = [run.topics[n] for n in names]
    recs = asyncio.run(
        read_topics(run.bootstrap, topics, until=lambda r: len(r) >= want, timeout=60, settle=1.5)
    )
    return {n: [orjson.loads(r.value) for r in recs if r.topic == run.topics[n]] for n in names}


def statuses(acks: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    return Counter((a["command_id"], a["actuator"], a["status"]) for a in acks)


def test_revoker_on_the_broker(
    run: Run, redis_server: RedisServer, webhook: tuple[HTTPServer, Receiver], tmp_path: Path
) -> None:
    hook, rx = webhook
    env = run.env(
        MCPMON_REVOKER_GROUP_ID=f"{run.app_id}-revoker",
        MCPMON_REVOKER_ACTUATORS="denylist,webhook",
        MCPMON_REVOKER_REDIS_URL=redis_server.url,
        MCPMON_REVOKER_WEBHOOK_URL=hook.url("/soar"),
        MCPMON_REVOKER_WEBHOOK_SECRET=KEY,
        MCPMON_REVOKER_RETRY_ATTEMPTS="3",
        MCPMON_REVOKER_RETRY_BASE_SECONDS="0.05",
        MCPMON_REVOKER_TIMEOUT_SECONDS="2",
    )
    task = command(command_id="cmd-task", scope="task")
    observe = command(command_id="cmd-observe", scope="agent", mode="observe", credential_ids=[])
    refused = command(command_id="cmd-refused", scope="credential", credential_ids=["cred-9"])
    send(run, task.to_json(), task.to_json(), observe.to_json(), refused.to_json(), b"{oops")

    t0 = time.monotonic()
    first = RevokerProcess(env, tmp_path / "revoker-1.log")
    try:
        out = read(run, ("acks", "alerts", "deadletter"), want=8 + 1 + 1)
    finally:
        assert first.stop() == 0, first.log_path.read_text()[-3000:]
    elapsed = time.monotonic() - t0

    first_acks = statuses(out["acks"])
    assert first_acks == Counter(
        {
            ("cmd-task", "denylist", "applied"): 1,
            ("cmd-task", "webhook", "applied"): 1,
            ("cmd-task", "denylist", "already_applied"): 1,  # the duplicate
            ("cmd-task", "webhook", "already_applied"): 1,
            ("cmd-observe", "denylist", "applied"): 1,
            ("cmd-observe", "webhook", "applied"): 1,
            ("cmd-refused", "denylist", "applied"): 1,
            ("cmd-refused", "webhook", "failed"): 1,
        }
    ), out["acks"]
    by = {(a["command_id"], a["actuator"], a["status"]): a["detail"] for a in out["acks"]}
    assert by[("cmd-observe", "denylist", "applied")].startswith("observe: not applied")
    assert "HTTP 500" in by[("cmd-refused", "webhook", "failed")]
    assert "gave up after 3 attempt(s)" in by[("cmd-refused", "webhook", "failed")]

    (alert,) = out["alerts"]
    assert alert["detector"] == "revocation_failed" and alert["severity"] == "critical"
    assert alert["details"]["command_id"] == "cmd-refused"
    (dead,) = out["deadletter"]
    assert dead["raw"] == "{oops" and dead["reason"].startswith("invalid revocation command")

    # the webhook got the task command once (signed), never the observe one; 3 tries for the refused
    assert rx.accepted == [RevocationCommand.model_validate_json(task.to_json())]
    keys = [r.headers["idempotency-key"] for r in hook.requests]
    assert keys.count("cmd-task") == 1 and keys.count("cmd-refused") == 3
    assert "cmd-observe" not in keys

    async def lookups() -> list[set[str]]:
        client = connect(redis_server.url, 2.0)
        try:
            checks = [
                deny_keys(task_id="task-1", credential_id="cred-2"),
                deny_keys(agent_id=observe.agent_id),  # observe: never applied
                deny_keys(credential_id="cred-9"),
            ]
            return [set(await denied(client, k)) for k in checks]
        finally:
            await client.aclose()

    assert asyncio.run(lookups()) == [{"task", "credential"}, set(), {"credential"}]
    stopped = next(r for r in first.logs() if r.get("event") == "revoker_stopped")
    assert stopped["commands"] == 4 and stopped["deadletter"] == 1
    print(f"\n8 acks, 1 alert, 1 dead letter in {elapsed:.1f} s (incl. revoker start)")

    # a crashed worker republishes the command: a new revoker process acks it from the ledger
    send(run, task.to_json())
    second = RevokerProcess(env, tmp_path / "revoker-2.log")
    try:
        out = read(run, ("acks",), want=10)
    finally:
        assert second.stop() == 0
    assert statuses(out["acks"]) - first_acks == Counter(
        {
            ("cmd-task", "denylist", "already_applied"): 1,
            ("cmd-task", "webhook", "already_applied"): 1,
        }
    )
    assert [r.headers["idempotency-key"] for r in hook.requests].count("cmd-task") == 1
