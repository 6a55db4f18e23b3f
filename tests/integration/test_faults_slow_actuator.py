"""A slow actuator under the revoker's Kafka loop: retried, never lost, never holding up others.

The webhook receiver (a real local HTTP server) answers every command's first
delivery only after the revoker's per-request timeout, and one command's
deliveries never in time. The deny-list (real Redis) is fast. Over the real
broker, with signed commands:

- every command is acked by both actuators, once; the deny-list ``applied``
  at the first attempt; the webhook ``applied ... (attempt 2)`` — the ack
  says what happened;
- the command the receiver never answers in time is acked ``failed`` by the
  webhook after its bounded retries, with a ``revocation_failed`` alert, while
  its deny-list entry was written at once;
- the receiver saw each command at least twice (the slow first delivery
  still arrived) under one ``Idempotency-Key``: the effect is once.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path

import orjson
import pytest

from monitor.kafka_io import produce, read_topics
from monitor.revoker.build import build_revoker
from monitor.revoker.service import RevokerService
from monitor.settings import load_settings
from tests.integration.faults import COMMAND_KEYS, SIGNER, commands
from tests.integration.workers import Run
from tests.revoker.servers import HTTPServer, RedisServer, Reply, Request

pytestmark = pytest.mark.kafka

N = 12
TIMEOUT = 0.4  # MCPMON_REVOKER_TIMEOUT_SECONDS: the webhook's HTTP timeout
SLOW = 1.0  # the receiver's answer time when it is slow


def test_slow_webhook_is_retried_acked_truthfully_and_holds_up_nothing(
    run: Run, tmp_path: Path
) -> None:
    cmds = commands(N, run.id)
    never = cmds[5].command_id
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def behaviour(req: Request) -> Reply:
        key = req.headers["idempotency-key"]
        with lock:
            seen[key] += 1
            first = seen[key] == 1
        return Reply(200, b"{}", delay=SLOW if first or key == never else 0.0)

    redis = RedisServer(tmp_path)
    receiver = HTTPServer(behaviour)
    try:
        settings = load_settings(
            env={
                **{k: v for k, v in run.env().items() if k.startswith("MCPMON_")},
                "MCPMON_REVOKER_GROUP_ID": f"{run.app_id}-revoker",
                "MCPMON_REVOKER_REDIS_URL": redis.url,
                "MCPMON_REVOKER_ACTUATORS": "denylist,webhook",
                "MCPMON_REVOKER_WEBHOOK_URL": receiver.url("/soar"),
                "MCPMON_REVOKER_WEBHOOK_SECRET": "slow-webhook-secret",
                "MCPMON_REVOKER_TIMEOUT_SECONDS": str(TIMEOUT),
                "MCPMON_REVOKER_RETRY_ATTEMPTS": "3",
                "MCPMON_REVOKER_RETRY_BASE_SECONDS": "0.1",
                "MCPMON_COMMAND_SIGNING_KEYS": COMMAND_KEYS,
            }
        )

        async def go() -> tuple[list, list]:
            await produce(
                run.bootstrap,
                run.topics["revocations"],
                [(c.agent_id.encode(), SIGNER.encode(c)) for c in cmds],
            )
            service = RevokerService(settings, build_revoker(settings))
            task = asyncio.create_task(service.run())
            try:
                acks = await read_topics(
                    run.bootstrap,
                    [run.topics["acks"]],
                    until=lambda r: len(r) >= 2 * N,
                    timeout=90,
                    settle=1.0,
                )
                alerts = await read_topics(
                    run.bootstrap, [run.topics["alerts"]], until=lambda r: len(r) >= 1, timeout=10
                )
            finally:
                service.stop()
                await asyncio.wait_for(task, 30)
            return [orjson.loads(a.value) for a in acks], [orjson.loads(a.value) for a in alerts]

        acks, alerts = asyncio.run(go())
    finally:
        receiver.close()
        redis.stop()

    by = {(a["command_id"], a["actuator"]): a for a in acks}
    assert len(by) == len(acks) == 2 * N, "every command acked once by each actuator"
    for c in cmds:
        deny, hook = by[(c.command_id, "denylist")], by[(c.command_id, "webhook")]
        assert deny["status"] == "applied" and "attempt" not in deny["detail"]
        if c.command_id == never:
            assert hook["status"] == "failed"
            assert "gave up after 3 attempt(s)" in hook["detail"]
        else:
            assert hook["status"] == "applied" and hook["detail"].endswith("(attempt 2)")
    (alert,) = alerts
    assert alert["detector"] == "revocation_failed" and alert["details"]["command_id"] == never
    assert set(seen) == {c.command_id for c in cmds}
    assert all(n >= 2 for n in seen.values())  # slow first deliveries still arrived: same key
    print(
        f"\nslow webhook: {sum(seen.values())} deliveries for {N} commands, acks {Counter(a['status'] for a in acks)}"
    )
