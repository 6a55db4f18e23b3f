"""MCPMON_HEARTBEAT_FILE: the revoker's and the sink's consume loops keep a liveness file
fresh while they turn (the compose and Helm health checks read its age). Before it, the
revoker's compose health check passed whenever the container ran."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from monitor.kafka_io import produce
from monitor.revoker.build import build_revoker
from monitor.revoker.service import RevokerService
from monitor.settings import load_settings
from monitor.sinks.service import SinkService, build_transport
from tests.integration.workers import Run
from tests.revoker.servers import RedisServer, free_port
from tests.sinks.support import alert
from tests.waiting import until

pytestmark = pytest.mark.kafka


def _env(run: Run, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in run.env().items() if k.startswith("MCPMON_")}
    env.update(extra)
    return env


async def _fresh_twice(path: Path, task: asyncio.Task[object]) -> None:
    """The file appears, private, and is rewritten again later (the loop goes on)."""
    await until(lambda: path.exists() or task.done(), 60, f"{path} written")
    assert not task.done(), task.result()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.stat().st_mtime_ns
    os.utime(path, ns=(first - 10**10, first - 10**10))  # aged by 10 s
    await until(lambda: path.stat().st_mtime_ns >= first or task.done(), 30, "rewritten")
    assert not task.done()


def test_revoker_loop_keeps_its_heartbeat_file_fresh(run: Run, tmp_path: Path) -> None:
    port = free_port()
    beat = tmp_path / "run" / "revoker.alive"
    settings = load_settings(
        env=_env(
            run,
            MCPMON_REVOKER_GROUP_ID=f"{run.app_id}-revoker",
            MCPMON_REVOKER_REDIS_URL=f"redis://127.0.0.1:{port}/0",
            MCPMON_HEARTBEAT_FILE=str(beat),
        )
    )
    redis = RedisServer(tmp_path, port=port)

    async def go() -> None:
        service = RevokerService(settings, build_revoker(settings))
        task = asyncio.create_task(service.run())
        try:
            await _fresh_twice(beat, task)
        finally:
            service.stop()
            await asyncio.wait_for(task, 30)

    try:
        asyncio.run(go())
    finally:
        redis.stop()


def test_sink_loop_keeps_its_heartbeat_file_fresh(run: Run, tmp_path: Path) -> None:
    beat = tmp_path / "sink.alive"
    settings = load_settings(
        env=_env(
            run,
            MCPMON_SINK_GROUP_ID=f"{run.app_id}-sink",
            MCPMON_SINK_TO="ocsf-file",
            MCPMON_SINK_FILE=str(tmp_path / "ocsf.jsonl"),
            MCPMON_HEARTBEAT_FILE=str(beat),
        )
    )

    async def go() -> None:
        await produce(run.bootstrap, run.topics["alerts"], [(b"a1", alert().to_json())])
        service = SinkService(settings, build_transport(settings))
        task = asyncio.create_task(service.run())
        try:
            await _fresh_twice(beat, task)
        finally:
            service.stop()
            await asyncio.wait_for(task, 30)

    asyncio.run(go())
