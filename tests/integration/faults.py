"""Shared pieces of the fault tests: processes that crash on cue, signed commands, the oracle."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord

from monitor.charter import load_charter_dir
from monitor.core import Engine
from monitor.kafka_io import read_topics
from monitor.output_contracts import RevocationCommand
from monitor.replay import replay_lines
from monitor.signing import CommandSigner, Keyring, parse_keyring
from monitor.worker.process import ROOT, WorkerProcess
from tests.integration.workers import Run

COMMAND_KEYS = "mon-1:fault-test-command-key-0001"
CHARTER_KEYS = "policy-1:fault-test-charter-key-001"


def ring(text: str) -> Keyring:
    found = parse_keyring(text)
    assert found is not None
    return found


SIGNER = CommandSigner(ring(COMMAND_KEYS))


class Process(WorkerProcess):
    """``python -m tests.integration.crashing <kind> ...``: a worker or revoker with a crash
    hook armed by ``CRASH_AT`` / ``CRASH_WHEN`` in ``env`` (none: it never crashes)."""

    def __init__(self, name: str, kind: str, env: dict[str, str], args: list[str], log: Path):
        self.name = name
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.crashing", kind, *args],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def crashed(self, timeout: float = 90.0) -> bool:
        """Wait until the process is gone; True if it was the injected crash."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} did not crash in {timeout} s:\n{self.tail()}"
            ) from None
        self.wait(5)
        return self.proc.returncode == -9 and any(
            r.get("event") == "crash_injected" for r in self.logs()
        )


def commands(n: int, tag: str) -> list[RevocationCommand]:
    """``n`` fresh commands (ts now: inside the revoker's replay window), one credential each."""
    now = datetime.now(UTC)
    return [
        RevocationCommand(
            command_id=f"{tag}-cmd-{i}",
            ts=now,
            agent_id=f"spiffe://corp/agents/fault-{i % 5}",
            scope="credential",
            credential_ids=[f"{tag}-cred-{i}"],
            reason="fault test",
            alert_ids=[f"{tag}-alert-{i}"],
            mode="enforce",
        )
        for i in range(n)
    ]


def canon(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def check_against(got: list[dict[str, Any]], want: dict[str, bytes]) -> Counter[str]:
    """Every expected alert/command present, nothing else, every copy identical to replay's.

    Returns how many copies of each id arrived (more than one: an at-least-once duplicate).
    """
    copies: Counter[str] = Counter()
    for doc in got:
        key = doc.get("alert_id") or doc["command_id"]
        assert key in want, f"unexpected output {doc}"
        assert canon(doc) == want[key], (
            f"{key} published with a different meaning:\n got  {canon(doc).decode()}"
            f"\n want {want[key].decode()}"
        )
        copies[key] += 1
    missing = set(want) - set(copies)
    assert not missing, f"{len(missing)} violations missed, e.g. {sorted(missing)[:3]}"
    return copies


def expected(lines: list[bytes], charters: Path) -> dict[str, bytes]:
    """id -> canonical JSON of what ``mcpmon replay`` gives for ``lines`` (commands signed
    with :data:`COMMAND_KEYS`, as the workers under test sign them)."""
    a, r, d = io.BytesIO(), io.BytesIO(), io.BytesIO()
    replay_lines(lines, Engine(load_charter_dir(charters)), a, r, d, encode_command=SIGNER.encode)
    out = {}
    for line in (a.getvalue() + r.getvalue()).splitlines():
        doc = orjson.loads(line)
        out[doc.get("alert_id") or doc["command_id"]] = canon(doc)
    return out


def read_all(run: Run, want: dict[str, bytes], timeout: float = 120.0) -> list[dict[str, Any]]:
    """Alerts and commands on the run's output topics once every id of ``want`` arrived
    (duplicates do not count toward it), plus 2 s for stragglers."""

    def ids(recs: list[ConsumerRecord]) -> set[str]:
        out = set()
        for r in recs:
            doc = orjson.loads(r.value)
            out.add(doc.get("alert_id") or doc.get("command_id"))
        return out

    recs = asyncio.run(
        read_topics(
            run.bootstrap,
            [run.topics["alerts"], run.topics["revocations"]],
            until=lambda r: ids(r) >= set(want),
            timeout=timeout,
            settle=2.0,
        )
    )
    return [orjson.loads(r.value) for r in recs]
