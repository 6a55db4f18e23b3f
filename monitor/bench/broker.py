"""What the broker benchmarks share: a run's private topics and worker, keys, probes.

``mcpmon bench kafka`` and ``mcpmon bench soak`` each run ``mcpmon worker`` as
deployed (a subprocess) on topics named per run, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import orjson
from aiokafka.partitioner import murmur2

from monitor.kafka_io import delete_topics
from monitor.settings import TOPIC_SETTINGS, Settings
from monitor.worker.process import WorkerProcess

PARTITIONS = 4
PROBE_AGENT = "spiffe://corp/agents/patcher-probe"  # covered by the simulated patcher charter


def partition_of(key: bytes, n: int) -> int:
    """The partition the producer's default partitioner gives ``key`` among ``n``."""
    return (murmur2(key) & 0x7FFFFFFF) % n


def agent_key(line: bytes) -> bytes | None:
    """An event line's ``agent_id`` as the record key (as the tap and proxy key them)."""
    agent = orjson.loads(line).get("agent_id")
    return agent.encode() if isinstance(agent, str) else None


class BenchRun:
    """One bench phase's private topics, app id and worker."""

    def __init__(self, bootstrap: str, tmp: Path, label: str, processes: int = 1) -> None:
        self.processes = processes
        self.id = f"mcpmon-bench-{label}-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp
        self.settings = Settings.model_validate(
            {
                "kafka_bootstrap": bootstrap,
                "app_id": self.id,
                "topic_events": f"{self.id}.events",
                "topic_alerts": f"{self.id}.alerts",
                "topic_revocations": f"{self.id}.revocations",
                "topic_revocation_acks": f"{self.id}.revocation-acks",
                "topic_deadletter": f"{self.id}.deadletter",
                "topic_charters": f"{self.id}.charters",
                "partitions": PARTITIONS,
                "watermark_idle_seconds": 0,
            }
        )
        self.worker: WorkerProcess | None = None

    def env(self) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCPMON_")}
        for name in (
            "kafka_bootstrap",
            "app_id",
            *TOPIC_SETTINGS,
            "partitions",
            "watermark_idle_seconds",
        ):
            env[f"MCPMON_{name.upper()}"] = str(getattr(s, name))
        # the worker's tuning (MCPMON_WORKER_FLUSH_SECONDS, ...) as this shell has it
        env.update({k: v for k, v in os.environ.items() if k.startswith("MCPMON_WORKER_FLUSH")})
        env["MCPMON_DATA_DIR"] = str(self.tmp / f"{self.id}-data")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start_worker(self, charters: Path) -> WorkerProcess:
        extra = ["--processes", str(self.processes)]
        self.worker = WorkerProcess(
            self.id, self.env(), charters, self.tmp / f"{self.id}.log", extra_args=extra
        )
        return self.worker

    def topics(self) -> list[str]:
        s = self.settings
        return [
            s.topic_events,
            s.topic_alerts,
            s.topic_revocations,
            s.topic_revocation_acks,
            s.topic_deadletter,
            s.topic_charters,
            f"{self.id}-agent_state-changelog",
            f"{self.id}-__assignor-__leader",
        ]

    def close(self) -> None:
        if self.worker is not None and self.worker.alive:
            self.worker.stop(15)
        asyncio.run(delete_topics(self.settings.kafka_bootstrap, self.topics()))


def probe_event(event_id: str, agent: str, ts: str) -> bytes:
    """A violation by ``agent`` that makes the engine publish an alert and a command."""
    return orjson.dumps(
        {
            "type": "tool_call",
            "event_id": event_id,
            "ts": ts,
            "agent_id": agent,
            "server": "shell",
            "tool": "exec",
            "credential_id": event_id,
            "outcome": "ok",
        }
    )
