"""The worker SIGKILLed at its state (changelog) writes, six times in a row.

Each worker (``mcpmon worker`` with a crash hook, :mod:`tests.integration.crashing`)
kills itself at a random one of its agent-state table writes — just before the
write, just after it was handed to the producer, or 0.3 s later (the record
has likely reached the changelog, the input offset is not yet committed) —
and the next one takes over the same consumer group and changelog. The
traffic has violations that need state from before each crash to be seen
after it. In the end every alert and (signed) revocation command that
``mcpmon replay`` gives for the same traffic has arrived, nothing else, and
every repeated copy is byte-identical: the outbox ties outputs to the state
write, the state write to the offset.
"""

from __future__ import annotations

import random

import pytest

from monitor.output_contracts import RevocationCommand
from monitor.signing import check_command
from tests.integration.faults import (
    COMMAND_KEYS,
    SIGNER,
    Process,
    check_against,
    expected,
    read_all,
)
from tests.integration.helpers import produce_lines
from tests.integration.traffic import split_traffic
from tests.integration.workers import Run
from tests.worker.support import EXAMPLE_CHARTERS

pytestmark = pytest.mark.kafka

#: two kills at each place, in this order
WHERE = ("before", "after", "later") * 2


def test_sigkill_at_state_writes_loses_no_violation_and_changes_no_output(run: Run) -> None:
    before, after = split_traffic(patchers=200)
    lines = before + after
    want = expected(lines, EXAMPLE_CHARTERS)
    assert sum(1 for k in want if b'"signature"' in want[k]) >= 40  # signed commands
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    # writes are batched per flush: a crash at write 5..60 lands inside one flush's writes
    plan = [(where, rng.randint(5, 60)) for where in WHERE]
    env = run.env(MCPMON_COMMAND_SIGNING_KEYS=COMMAND_KEYS)
    args = ["--charters", str(EXAMPLE_CHARTERS), "--processes", "1"]  # the hooks are in this one
    # consecutive slices of the traffic: each crashing worker gets fresh events to write
    n, k = len(lines), len(WHERE) + 1
    chunks = [lines[i * n // k : (i + 1) * n // k] for i in range(k)]
    for i, (where, at) in enumerate(plan):
        produce_lines(run, chunks[i])
        p = Process(
            f"w{i}",
            "worker",
            {**env, "CRASH_AT": str(at), "CRASH_WHEN": where},
            args,
            run.tmp / f"worker-{i}.log",
        )
        run.workers.append(p)
        assert p.crashed(), f"worker {i} ({where} write {at}) ended otherwise:\n{p.tail()}"
    produce_lines(run, chunks[-1])
    last = Process("w-last", "worker", env, args, run.tmp / "worker-last.log")
    run.workers.append(last)
    got = read_all(run, want)
    copies = check_against(got, want)
    for doc in (d for d in got if "command_id" in d and "alert_id" not in d):
        assert check_command(RevocationCommand.model_validate(doc), SIGNER.ring) is None
    assert last.alive, last.tail()
    said = {r.get("event") for r in last.logs()}
    assert "charter_updates_refused" in said  # no charter keys here: said at start
    assert "revocation_commands_unsigned" not in said
    restored = [r for r in last.logs() if r.get("event") == "partitions_restored"]
    assert restored and sum(r["agents"] for r in restored) > 0
    dups = sum(n - 1 for n in copies.values())
    print(
        f"\nseed {seed}: kills {plan}; {len(want)} expected outputs all arrived, "
        f"{dups} duplicate copies (same ids, same bytes)"
    )
