"""Properties of the revoker over random redeliveries and failures (in memory, no waiting)."""

from __future__ import annotations

import asyncio
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.retry import RetryPolicy
from monitor.revoker.ledger import MemoryLedger
from monitor.revoker.revoker import Revoker
from tests.revoker.support import T0, Scripted, Sleeps, command, final, transient

POLICY = RetryPolicy(attempts=3, base_seconds=0.1)
outcome = st.sampled_from(["ok", "transient", "final"])


class Counting(Scripted):
    def __init__(self, name: str, script: list[object]) -> None:
        super().__init__(name, script)
        self.successes: Counter[str] = Counter()

    async def apply(self, cmd):  # type: ignore[no-untyped-def]
        detail = await super().apply(cmd)
        self.successes[cmd.command_id] += 1
        return detail


@settings(max_examples=60, deadline=None)
@given(
    deliveries=st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=12),
    scripts=st.tuples(*[st.lists(outcome, max_size=20)] * 2),
)
def test_each_command_is_applied_at_most_once_per_actuator_and_always_acked(
    deliveries: list[tuple[int, bool]], scripts: tuple[list[str], list[str]]
) -> None:
    def steps(script: list[str]) -> list[object]:
        return ["ok" if s == "ok" else transient() if s == "transient" else final() for s in script]

    acts = [Counting("a", steps(scripts[0])), Counting("b", steps(scripts[1]))]
    r = Revoker(acts, MemoryLedger(), POLICY, sleep=Sleeps(), clock=lambda: T0)
    applied_before: set[tuple[str, str]] = set()

    async def go() -> None:
        for n, observe in deliveries:
            cmd = command(command_id=f"cmd-{n}", mode="observe" if observe else "enforce")
            out = await r.handle(cmd)
            assert [a.actuator for a in out.acks] == ["a", "b"]  # one ack per actuator, always
            for a in out.acks:
                key = (a.command_id, a.actuator)
                if observe:
                    assert a.status == "applied" and a.detail.startswith("observe: not applied")
                elif key in applied_before:
                    assert a.status == "already_applied"
                elif a.status == "applied":
                    applied_before.add(key)
                else:
                    assert a.status == "failed"
            failed = [a.actuator for a in out.acks if a.status == "failed"]
            assert sorted(al.details["actuator"] for al in out.alerts) == sorted(failed)

    asyncio.run(go())
    for act in acts:
        assert all(n == 1 for n in act.successes.values())
        assert {(c, act.name) for c in act.successes} == {
            k for k in applied_before if k[1] == act.name
        }
