"""The revoker's Kafka loop in-process: Redis down at first — nothing is acked, lost or skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest
from structlog.testing import capture_logs

from monitor.kafka_io import produce, read_topics
from monitor.revoker.build import build_revoker
from monitor.revoker.service import RevokerService
from monitor.settings import load_settings
from tests.integration.workers import Run
from tests.revoker.servers import RedisServer, free_port
from tests.revoker.support import command

pytestmark = pytest.mark.kafka


def test_waits_for_the_ledger_then_applies_in_order(run: Run, tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in run.env().items() if k.startswith("MCPMON_")}
    env.update(
        MCPMON_REVOKER_METRICS_PORT=str(metrics_port),
        MCPMON_METRICS_ADDR="127.0.0.1",
        MCPMON_REVOKER_GROUP_ID=f"{run.app_id}-revoker",
        MCPMON_REVOKER_REDIS_URL=f"redis://127.0.0.1:{port}/0",
        MCPMON_REVOKER_TIMEOUT_SECONDS="0.5",
    )
    settings = load_settings(env=env)
    cmds = [command(command_id=f"cmd-{i}", credential_ids=[f"cred-{i}"]) for i in range(3)]
    redis: RedisServer | None = None

    metrics = ""

    async def scrape(want: str) -> str:
        async with httpx.AsyncClient() as client:
            for _ in range(50):
                text = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
                if want in text:
                    break
                await asyncio.sleep(0.2)
        return text

    async def go() -> list[dict[str, str]]:
        nonlocal redis, metrics
        await produce(
            run.bootstrap, run.topics["revocations"], [(b"a1", c.to_json()) for c in cmds]
        )
        service = RevokerService(settings, build_revoker(settings))
        task = asyncio.create_task(service.run())
        try:
            early = await read_topics(run.bootstrap, [run.topics["acks"]], timeout=4, idle=4)
            assert early == []  # Redis is down: no ack, no commit
            redis = RedisServer(tmp_path, port=port)
            recs = await read_topics(
                run.bootstrap,
                [run.topics["acks"]],
                until=lambda r: len(r) >= 3,
                timeout=60,
                settle=1.0,
            )
            metrics = await scrape("mcpmon_revoker_consumer_lag{")
        finally:
            service.stop()
            counters = await asyncio.wait_for(task, 30)
        assert counters.commands == 3 and counters.acks == {"applied": 3}
        return [orjson.loads(r.value) for r in recs]

    try:
        with capture_logs() as logs:
            acks = asyncio.run(go())
    finally:
        if redis is not None:
            redis.stop()
    assert sorted((a["command_id"], a["status"]) for a in acks) == [
        ("cmd-0", "applied"),
        ("cmd-1", "applied"),
        ("cmd-2", "applied"),
    ]
    assert 'mcpmon_revoker_acks_total{actuator="denylist",status="applied"} 3.0' in metrics
    assert 'mcpmon_revoker_commands_total{mode="enforce"} 3.0' in metrics
    assert "mcpmon_revoker_handle_seconds_count 3.0" in metrics
    waits = [ln for ln in metrics.splitlines() if ln.startswith("mcpmon_revoker_ledger_unavail")]
    assert float(waits[0].rsplit(" ", 1)[1]) >= 1  # Redis was down at first
    lags = [ln for ln in metrics.splitlines() if ln.startswith("mcpmon_revoker_consumer_lag{")]
    assert lags and all(ln.endswith(" 0.0") for ln in lags)
    events = [e["event"] for e in logs]
    assert "ledger_unavailable" in events
    assert "revocation_commands_unauthenticated" in events  # no command keys: said at start
    applied = [e["command_id"] for e in logs if e["event"] == "revocation_applied"]
    assert applied == ["cmd-0", "cmd-1", "cmd-2"]  # in partition order, none skipped
