"""Detector state sections: snapshots the previous format wrote, and dry runs.

``fixtures/base_snapshots.json`` was written by commit 4779fcd (snapshot versions
4 and 5, every section kept: chains, rate, footprint, baseline, the hijack ones,
held events) with ``fixtures/make_base_snapshots.py``: restored by today's code,
the agents must go on raising exactly what that engine raised.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.charter import Charter
from monitor.core import Engine, EngineSettings
from monitor.core.state import SNAPSHOT_VERSION, AgentState
from monitor.events import decode_event

from .strategies import CHARTERS

BASE = orjson.loads((Path(__file__).parent / "fixtures" / "base_snapshots.json").read_bytes())


def _carry_on(states: dict[str, AgentState]) -> tuple[int, int, str]:
    charters = [Charter.model_validate(doc) for doc in BASE["charters"]]
    eng = Engine(charters, EngineSettings(allowed_lateness_seconds=BASE["lateness"]), states=states)
    eng.max_ts = BASE["max_ts"]
    alerts: list[str] = []
    commands: list[str] = []
    events = [decode_event(orjson.dumps(doc)) for doc in BASE["events"][BASE["half"] :]]
    for d in [*map(eng.process, events), eng.drain()]:
        alerts += [a.to_json().decode() for a in d.alerts]
        commands += [c.to_json().decode() for c in d.revocations]
    digest = hashlib.sha256("\n".join([*alerts, "--", *commands]).encode()).hexdigest()
    return len(alerts), len(commands), digest


def _first_half_states() -> dict[str, AgentState]:
    charters = [Charter.model_validate(doc) for doc in BASE["charters"]]
    eng = Engine(charters, EngineSettings(allowed_lateness_seconds=BASE["lateness"]))
    for doc in BASE["events"][: BASE["half"]]:
        eng.process(decode_event(orjson.dumps(doc)))
    assert eng.max_ts == BASE["max_ts"]
    return {a: AgentState.restore(st.snapshot()) for a, st in eng.states.items()}


def test_the_base_commits_snapshots_restore_and_carry_on_as_it_did() -> None:
    snaps = {agent: snap.encode() for agent, snap in BASE["snapshots"].items()}
    assert {orjson.loads(s)[0] for s in snaps.values()} == {4, 5}  # what the fixture holds
    states = {agent: AgentState.restore(s) for agent, s in snaps.items()}
    # What today's engine raises on the second half after running the first half itself
    # (the fixture's own figures are the base commit's detectors; later detector changes,
    # e.g. shell_egress reading only data-sending commands, move them).
    want = _carry_on(_first_half_states())
    assert want[0] > 0 and want[1] > 0
    assert _carry_on(states) == want
    # and through today's format: every section written and read back by its detector
    states = {a: AgentState.restore(s) for a, s in snaps.items()}
    again = {a: AgentState.restore(st.snapshot()) for a, st in states.items()}
    assert {orjson.loads(st.snapshot())[0] for st in again.values()} == {SNAPSHOT_VERSION}
    assert _carry_on(again) == want


def _busy_engine() -> tuple[Engine, Any]:
    fixture_events = [decode_event(orjson.dumps(doc)) for doc in BASE["events"]]
    eng = Engine(CHARTERS)
    for ev in fixture_events[: BASE["half"]]:
        eng.process(ev)
    later = next(
        e
        for e in fixture_events[BASE["half"] :]
        if type(e).__name__ == "ToolCall" and e.agent_id == "agent:assist/1"
    )
    return eng, later


def test_a_dry_run_changes_nothing_in_the_agents_state() -> None:
    """Engine.judge (the inline proxy) on an agent with a behaviour baseline and hijack
    sections: it judges, and the agent's state is what it was. On 4779fcd it raised
    TypeError (deepcopy of the baseline's memoryviews), and the hijack sections were
    shared with the scratch copy, so a dry run wrote into the real state."""
    eng, later = _busy_engine()
    before = eng.states[later.agent_id].snapshot()
    assert b'"fan_out"' in before and b'"exfil"' in before  # hijack and chain sections kept
    eng.judge(later)
    eng.judge(later)
    assert eng.states[later.agent_id].snapshot() == before
    # and judging first does not change what processing the call then raises
    fresh, _ = _busy_engine()
    assert eng.process(later) == fresh.process(later)


@pytest.mark.parametrize("bad", [None, 3, "x", [], [1, 2, 3], {"k": [1]}, [[1], 2]])
def test_a_corrupt_section_is_a_value_error_naming_it(bad: Any) -> None:
    eng, _ = _busy_engine()
    for st in eng.states.values():
        doc = orjson.loads(st.snapshot())
        for name in doc[5]:
            broken = [*doc[:5], {**doc[5], name: bad}, *doc[6:]]
            with pytest.raises(ValueError, match=f"section '{name}'"):
                AgentState.restore(orjson.dumps(broken))
