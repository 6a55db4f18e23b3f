"""A worker stopped with SIGTERM in the middle of a backlog exits promptly and keeps its word.

A graceful stop is what every deploy and every scale-down does. The worker
holds handled events unacked until their state records are on the broker;
Faust's stop waits, without a time limit, until every event handed to the
agent is acked. If the loop that writes and acks ends when the stop begins,
the stop never ends (an earlier worker hung here until it was SIGKILLed). So:
SIGTERM while the worker is busy, it exits 0 within a few seconds having
committed part of the input, and a second worker finishes the rest with
exactly the outputs ``mcpmon replay`` gives.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.faults import COMMAND_KEYS, check_against, expected, read_all
from tests.integration.helpers import committed, produce_lines
from tests.integration.traffic import split_traffic
from tests.integration.workers import Run
from tests.waiting import wait_until
from tests.worker.support import EXAMPLE_CHARTERS

pytestmark = pytest.mark.kafka

#: a graceful stop flushes, acks, commits and leaves the group: seconds, not tens
STOP_SECONDS = 15.0


def test_sigterm_mid_backlog_exits_promptly_and_loses_nothing(run: Run) -> None:
    before, after = split_traffic(patchers=2000, assistants=100)
    lines = before + after
    want = expected(lines, EXAMPLE_CHARTERS)
    produce_lines(run, lines)

    first = run.start_worker(EXAMPLE_CHARTERS, MCPMON_COMMAND_SIGNING_KEYS=COMMAND_KEYS)
    first.wait_ready()
    # well into the backlog (a worker takes many seconds for all of it): a quarter committed
    quarter = len(lines) // 4
    wait_until(lambda: sum(committed(run).values()) >= quarter, 120, "a quarter committed", 0.1)
    t0 = time.monotonic()
    first.stop(timeout=60)
    took = time.monotonic() - t0
    assert first.proc.returncode == 0, f"stop took {took:.1f} s, exit {first.proc.returncode}"
    assert took < STOP_SECONDS, f"SIGTERM took {took:.1f} s:\n{first.tail()}"
    done = sum(committed(run).values())
    assert 0 < done < len(lines), f"not stopped mid-backlog: {done} of {len(lines)} committed"

    second = run.start_worker(EXAMPLE_CHARTERS, MCPMON_COMMAND_SIGNING_KEYS=COMMAND_KEYS)
    got = read_all(run, want)
    copies = check_against(got, want)
    assert second.alive, second.tail()
    print(
        f"\nSIGTERM after {done:,} of {len(lines):,} events: exited 0 in {took:.1f} s; "
        f"{len(want)} outputs all arrived, {sum(n - 1 for n in copies.values())} duplicates"
    )
