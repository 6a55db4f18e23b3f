"""A bounded soak on the real broker: steady load, the worker restarted half-way, nothing lost.

Forty seconds of simulated traffic at 300 events/s (a rate one worker on this
2-CPU box sustains with room to spare) go to one ``mcpmon worker``; at 20 s it
is killed with SIGKILL and a new one takes over while the load goes on. Once the lag is back to zero the test
checks, against the same events run through the in-process
:class:`~monitor.worker.processor.Processor`:

- every event the broker acknowledged was committed by the worker group
  (the worker commits an input offset only once the broker has the state
  records of every event below it);
- the output topics hold every expected alert and command, nothing else, and
  each copy means the same (a crash may only add identical copies);
- every agent's final state in the changelog is byte-identical to the reference.

Three worker defects made this fail in about half the runs before they were
fixed: offsets committed before the state records reached the broker (Faust's
commit does not wait for its producer buffer; the worker now commits itself), a graceful stop that hung
(``tests/integration/test_worker_stop.py``), and a consumer that skipped a
stretch of one partition after the restart (the worker now checks offsets
and seeks back; see :mod:`monitor.worker.app`).

The figures (lag recovery, memory over time) are printed; ``mcpmon bench soak``
runs the same thing longer and writes results/soak.md.
"""

from __future__ import annotations

import pytest

from monitor.bench.soak import run_soak

pytestmark = pytest.mark.kafka

RATE = 300.0
# The long run is `mcpmon bench soak` (300 s); this one keeps the suite short. What it
# guards against happens at the restart (records in flight when the worker is killed, the
# new worker's restore and seek) and at this rate, not over time: 20 s of load before the
# kill and 20 s after it (6,000 events each side, 96 agents) exercise the same paths as
# 30 + 30 s did, and the reference comparison covers every event either way.
SECONDS = 40.0


def test_soak_with_a_worker_restart_in_the_middle_loses_nothing(kafka_broker: str) -> None:
    res = run_soak(kafka_broker, rate=RATE, seconds=SECONDS, seed=11, kill=True)
    print(res.render())
    print(res.worker_logs)
    assert res.events_in == int(RATE * SECONDS)
    assert res.events_processed == res.events_in
    assert not res.missing, f"{len(res.missing)} outputs lost, e.g. {res.missing[:3]}"
    assert not res.unexpected and not res.changed
    assert res.expected_outputs > 100  # the traffic does raise alerts and commands
    assert res.agents > 50 and res.agents_state_equal == res.agents
    assert res.recovery_s is not None, "the lag never came back under its pre-restart level"
    assert len(res.rss(0)) > 10 and len(res.rss(1)) > 10  # memory was sampled on both workers
    assert res.ok()
