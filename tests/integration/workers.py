"""Per-test names (topics, app id, data dirs) and worker subprocesses for the broker tests."""

from __future__ import annotations

import os
from pathlib import Path

from monitor.worker.process import WorkerProcess

__all__ = ["Run", "WorkerProcess"]


class Run:
    """One test's private names: topics, app id (consumer group), data dir."""

    def __init__(self, bootstrap: str, run_id: str, tmp: Path) -> None:
        self.bootstrap = bootstrap
        self.id = run_id
        self.tmp = tmp
        p = f"mcpmon-it-{run_id}"
        self.app_id = p
        self.topics = {
            "events": f"{p}.events",
            "alerts": f"{p}.alerts",
            "revocations": f"{p}.revocations",
            "acks": f"{p}.revocation-acks",
            "deadletter": f"{p}.deadletter",
            "charters": f"{p}.charters",
        }
        self.workers: list[WorkerProcess] = []

    def env(self, **extra: str) -> dict[str, str]:
        t = self.topics
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCPMON_")}
        env.update(
            MCPMON_KAFKA_BOOTSTRAP=self.bootstrap,
            MCPMON_APP_ID=self.app_id,
            MCPMON_TOPIC_EVENTS=t["events"],
            MCPMON_TOPIC_ALERTS=t["alerts"],
            MCPMON_TOPIC_REVOCATIONS=t["revocations"],
            MCPMON_TOPIC_REVOCATION_ACKS=t["acks"],
            MCPMON_TOPIC_DEADLETTER=t["deadletter"],
            MCPMON_TOPIC_CHARTERS=t["charters"],
            MCPMON_PARTITIONS="4",
            MCPMON_WATERMARK_IDLE_SECONDS="0",
            MCPMON_KAFKA_SESSION_TIMEOUT_SECONDS="6",  # a killed worker's partitions free up fast
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def start_worker(self, charters: Path, **extra: str) -> WorkerProcess:
        n = len(self.workers)
        extra.setdefault("MCPMON_DATA_DIR", str(self.tmp / f"worker-{n}"))
        w = WorkerProcess(f"w{n}", self.env(**extra), charters, self.tmp / f"worker-{n}.log")
        self.workers.append(w)
        return w

    def stop_all(self) -> None:
        for w in self.workers:
            if w.alive:
                w.kill()

    def all_topics(self) -> list[str]:
        internal = ("agent_state-changelog", "__assignor-__leader")  # created by Faust
        return [*self.topics.values(), *(f"{self.app_id}-{t}" for t in internal)]
