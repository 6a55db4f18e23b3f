"""A ``charter_updated`` event reaches every worker, not only the one owning its partition."""

from __future__ import annotations

import time

import orjson

from monitor.core.baseline import native
from monitor.signing import sign_charter
from tests.integration.faults import CHARTER_KEYS, ring
from tests.integration.helpers import docs, produce_lines, read_outputs
from tests.integration.workers import Run, WorkerProcess
from tests.worker.support import EXAMPLE_CHARTERS, kafka_partition

PATTERN = "spiffe://corp/agents/fresh-*"


def _assigned(w: WorkerProcess) -> set[int]:
    recs = [r for r in w.logs() if r.get("event") == "partitions_assigned"]
    return set(recs[-1]["partitions"]) if recs else set()


def _agent_in(partitions: set[int], prefix: str) -> str:
    return next(
        f"{prefix}{i}" for i in range(1000) if kafka_partition(f"{prefix}{i}", 4) in partitions
    )


def test_charter_update_consumed_by_one_worker_applies_on_the_other(run: Run) -> None:
    w1 = run.start_worker(EXAMPLE_CHARTERS, MCPMON_CHARTER_SIGNING_KEYS=CHARTER_KEYS)
    w1.wait_ready()
    w2 = run.start_worker(EXAMPLE_CHARTERS, MCPMON_CHARTER_SIGNING_KEYS=CHARTER_KEYS)
    deadline = time.monotonic() + 60
    while not (_assigned(w1) and _assigned(w2) and len(_assigned(w1) | _assigned(w2)) == 4):
        assert time.monotonic() < deadline, f"no split:\n{w1.tail(5)}\n{w2.tail(5)}"
        time.sleep(0.2)
    w2.wait_ready()
    # each worker says which behaviour layer it runs: this tree's (make setup compiles it)
    (starting,) = (r for r in w1.logs() if r.get("event") == "worker_starting")
    assert starting["behaviour_layer"] == ("compiled (mypyc)" if native.active() else "pure Python")

    # the update is keyed by an agent of w1's partitions; the calls come from w2's
    announcer = _agent_in(_assigned(w1), "spiffe://corp/agents/fresh-")
    caller = _agent_in(_assigned(w2), "spiffe://corp/agents/fresh-")
    charter = {
        "agent": PATTERN,
        "kind": "autonomous",
        "mode": "enforce",
        "mission": "fresh agents",
        "tenants": ["corp"],
        "tools": [{"server": "fleet", "tool": "list_hosts", "classes": ["read"]}],
    }
    produce_lines(
        run,
        [
            orjson.dumps(
                {
                    "type": "charter_updated",
                    "event_id": "cu-1",
                    "ts": "2026-03-02T09:00:00Z",
                    "agent_id": announcer,
                    "charter": charter,
                    "version": 1,  # charter updates are signed (refused unsigned by default)
                    "signature": sign_charter(charter, ring(CHARTER_KEYS), 1),
                }
            )
        ],
    )
    w2.wait_log(
        lambda r: r.get("event") == "charter_applied" and r.get("pattern") == PATTERN, timeout=30
    )

    def call(event_id: str, tool: str) -> bytes:
        return orjson.dumps(
            {
                "type": "tool_call",
                "event_id": event_id,
                "ts": "2026-03-02T09:01:00Z",
                "agent_id": caller,
                "server": "fleet",
                "tool": tool,
                "tenant": "corp",
                "outcome": "ok",
            }
        )

    produce_lines(run, [call("fc-1", "list_hosts"), call("fc-2", "apply_patch")])
    out = read_outputs(run, 2, timeout=30, settle=1.5, names=("alerts",))
    widened, alert = sorted(docs(out["alerts"]), key=lambda a: a["detector"] != "charter_widened")
    assert widened["detector"] == "charter_widened" and widened["evidence"] == ["cu-1"]
    assert alert["evidence"] == ["fc-2"]  # the granted call raised nothing
    assert alert["clause"]["charter"] == PATTERN  # judged by the broadcast charter
    assert w1.alive and w2.alive
