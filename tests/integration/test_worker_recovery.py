"""Crash recovery and takeover on the real broker: state comes back from the changelog.

The traffic (``tests/integration/traffic.py``) has violations that need state
from before a split point to be seen after it: forbidden chains whose first
step came earlier, calls after a task ended earlier. A worker that lost its
state would miss all of them (checked below against the oracle), so finding
them proves the state was restored.

Duplicates: a worker killed with SIGKILL has processed events after its last
offset commit. On restart those are redelivered; the ones whose state write
reached the changelog are dropped by event-id dedup, the others are processed
again and publish the *same* alert and command again (ids are deterministic,
outputs are delivered before the state that records them). So a command id
may appear more than once, always with identical content; the revoker dedups
by ``command_id``. These tests allow such duplicates and check that every
copy is identical to what replay gives.
"""

from __future__ import annotations

import time
from collections import Counter

import orjson
import pytest

from monitor.worker.process import WorkerProcess
from tests.integration.helpers import docs, produce_lines, produce_paced, read_outputs
from tests.integration.traffic import split_traffic
from tests.integration.workers import Run
from tests.worker.support import EXAMPLE_CHARTERS, partitioned_outputs, replay_outputs


def _expected(lines: list[bytes]) -> dict[str, bytes]:
    """id -> canonical JSON of every alert and command replay gives for ``lines``."""
    alerts, commands = replay_outputs(lines, EXAMPLE_CHARTERS)
    p_alerts, p_commands = partitioned_outputs(lines, EXAMPLE_CHARTERS, 4)
    want = {a["alert_id"]: _canon(a) for a in alerts} | {
        c["command_id"]: _canon(c) for c in commands
    }
    got = {a["alert_id"]: _canon(a) for a in p_alerts} | {
        c["command_id"]: _canon(c) for c in p_commands
    }
    assert want == got
    return want


def _canon(doc: dict) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def _rebalance_log(worker: WorkerProcess) -> str:
    """The worker's log lines about partitions, seeks, gaps and flushes (a failure's evidence)."""
    words = ("partition", "seek", "gap", "flush", "commit", "recover", "stale", "stopp", "stats")
    lines = [
        orjson.dumps(r).decode()
        for r in worker.logs()
        if any(w in str(r.get("event", "")) for w in words)
    ]
    return f"--- {worker.name}: {len(lines)} lines\n" + "\n".join(lines[-60:])


def _check(out: dict, want: dict[str, bytes]) -> Counter[str]:
    """Every expected output present, nothing else, every copy identical; returns copy counts."""
    copies: Counter[str] = Counter()
    for doc in docs(out["alerts"]) + docs(out["revocations"]):
        key = doc.get("alert_id") or doc["command_id"]
        assert key in want, f"unexpected output {doc}"
        assert _canon(doc) == want[key], (
            f"{key} published with a different meaning:\n got  {_canon(doc).decode()}"
            f"\n want {want[key].decode()}"
        )
        copies[key] += 1
    missing = set(want) - set(copies)
    assert not missing, f"{len(missing)} violations missed, e.g. {sorted(missing)[:3]}"
    return copies


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_sigkill_mid_stream_then_restart_recovers_state_and_misses_nothing(
    run: Run, store: str
) -> None:
    """memory:// restores from the changelog alone; rocksdb:// reopens its files (same data
    dir) and reads the changelog from the offset it had persisted."""
    before, after = split_traffic(patchers=400)
    want = _expected(before + after)
    lost_state_a, lost_state_r = replay_outputs(after, EXAMPLE_CHARTERS)
    need_state = (
        set(want) - {a["alert_id"] for a in lost_state_a} - {c["command_id"] for c in lost_state_r}
    )
    assert len(need_state) >= 40, "the traffic must have violations that need earlier state"

    data_dir = str(run.tmp / "worker-data")
    w1 = run.start_worker(EXAMPLE_CHARTERS, MCPMON_STORE=store, MCPMON_DATA_DIR=data_dir)
    w1.wait_ready()
    produce_lines(run, before)
    first = _expected(before)
    read_outputs(run, len(first), timeout=60, settle=0)
    # second half at ~1,500 events/s; SIGKILL the worker 40% of the way through
    produce_paced(run, after, 1500, at=0.4, action=w1.kill)
    assert not w1.alive
    partial = read_outputs(run, len(want), timeout=2, settle=0)
    n_partial = len(partial["alerts"]) + len(partial["revocations"])
    assert len(first) <= n_partial < len(want), "the kill should land mid-stream"

    w2 = run.start_worker(EXAMPLE_CHARTERS, MCPMON_STORE=store, MCPMON_DATA_DIR=data_dir)
    restored = w2.wait_ready()
    assert restored["agents"] > 0, "the restarted worker should restore agents from the changelog"
    out = read_outputs(run, len(want), timeout=60, settle=2.0)
    copies = _check(out, want)
    dups = sum(n - 1 for n in copies.values())
    print(
        f"\n{len(want)} expected outputs, {n_partial} before the kill, "
        f"{dups} duplicate copies after restart (same ids, same content); "
        f"{restored['agents']} agents restored"
    )
    assert w2.alive


def test_second_worker_takes_over_the_partitions_of_a_stopped_one_with_state(run: Run) -> None:
    before, after = split_traffic(patchers=200)
    want = _expected(before + after)

    w1 = run.start_worker(EXAMPLE_CHARTERS)
    w1.wait_ready()
    w2 = run.start_worker(EXAMPLE_CHARTERS)

    def split_between_both() -> bool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            last = [
                [r for r in w.logs() if r.get("event") == "partitions_assigned"][-1:]
                for w in (w1, w2)
            ]
            if all(last):
                a, b = (set(x[0]["partitions"]) for x in last)
                if a and b and not a & b and a | b == {0, 1, 2, 3}:
                    return True
            time.sleep(0.2)
        return False

    assert split_between_both(), f"partitions not split:\n{w1.tail(10)}\n{w2.tail(10)}"
    produce_lines(run, before)
    read_outputs(run, len(_expected(before)), timeout=60, settle=0)
    owned_by_w1 = set(
        [r for r in w1.logs() if r.get("event") == "partitions_assigned"][-1]["partitions"]
    )

    w1.stop()  # graceful: leaves the group, the survivor gets its partitions
    w2.wait_log(
        lambda r: r.get("event") == "partitions_assigned" and set(r["partitions"]) == {0, 1, 2, 3},
        timeout=60,
    )
    took_over = w2.wait_log(
        lambda r: (
            r.get("event") == "partitions_restored"
            and set(r["partitions"]) >= owned_by_w1
            and r["agents"] > 0
        ),
        timeout=60,
    )
    produce_lines(run, after)
    out = read_outputs(run, len(want), timeout=60, settle=2.0)
    try:
        copies = _check(out, want)
    except AssertionError as err:  # the workers' view of the rebalance, to tell why
        raise AssertionError(f"{err}\n{_rebalance_log(w1)}\n{_rebalance_log(w2)}") from None
    assert w2.alive
    # Every partition's handling began where the guard expected, also the ones the group
    # had never committed (their first offset): a record lost at a partition's start shows.
    started = [r for w in (w1, w2) for r in w.logs() if r.get("event") == "partition_started"]
    assert {r["partition"] for r in started} == {0, 1, 2, 3}
    assert all(r["expected"] is not None and r["offset"] <= r["expected"] for r in started), started
    print(
        f"\nw2 took over partitions {sorted(owned_by_w1)} with {took_over['agents']} agents; "
        f"{sum(n - 1 for n in copies.values())} duplicate copies"
    )
