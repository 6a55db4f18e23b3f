"""The simulator: deterministic, valid, sorted, loadable, and planting every scenario.

Whether the engine *finds* what is planted (and nothing else) is
``tests/test_evaluate.py``; here we check the traffic itself.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path

import orjson
import pytest

from monitor.charter import load_charter_dir
from monitor.core.values import value_digests
from monitor.events import ToolCall, decode_event
from monitor.simulate import (
    BEHAVIOUR_SCENARIOS,
    DEFAULT_START,
    SCENARIOS,
    Simulation,
    behaviour_carriers,
    carrier_count,
    describe,
    iter_events,
    safe_name,
    scenarios_for,
    simulate,
    write,
    write_stream,
)

RULE_DETECTORS = {
    "out_of_charter_tool",
    "forbidden_chain",
    "lingering_access",
    "absent_sponsor",
    "rate_limit",
}
ATTACKS = {s.name for s in SCENARIOS if s.label == "attack"}
NEAR_MISSES = {s.name for s in SCENARIOS if s.label == "near_miss"}
LABEL_KEYS = ["event_id", "agent_id", "label", "detector", "scenario", "severity"]


@pytest.fixture(scope="module")
def sim40() -> Simulation:
    return simulate(agents=40, minutes=30, seed=5)


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    write(simulate(12, 20, seed=3), tmp_path / "a")
    write(simulate(12, 20, seed=3), tmp_path / "b")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a == b
    assert {"events.jsonl", "labels.jsonl"} <= set(a)
    assert any(k.startswith("charters/") for k in a)


def test_different_seeds_give_different_traffic() -> None:
    one, two = simulate(12, 20, seed=3), simulate(12, 20, seed=4)
    assert one.events != two.events
    assert {e["event_id"] for e in one.events}.isdisjoint(e["event_id"] for e in two.events)


def test_every_event_validates_and_event_ids_are_unique(sim40: Simulation) -> None:
    types: Counter[str] = Counter()
    for e in sim40.events:
        ev = decode_event(orjson.dumps(e))
        types[ev.type] += 1
        assert e["ts"].endswith("Z")
    assert len({e["event_id"] for e in sim40.events}) == len(sim40.events)
    assert set(types) == {
        "tool_call",
        "task_started",
        "task_ended",
        "credential_issued",
        "credential_revoked",
        "sponsor_active",
        "sponsor_ended",
    }
    assert types["tool_call"] > len(sim40.events) / 2


def test_events_are_sorted_by_time_inside_the_run(sim40: Simulation) -> None:
    ts = [datetime.fromisoformat(e["ts"]) for e in sim40.events]
    assert ts == sorted(ts)
    assert ts[0] >= DEFAULT_START and ts[-1] < DEFAULT_START + timedelta(minutes=30)


def test_calls_look_like_real_mcp_traffic(sim40: Simulation) -> None:
    calls = [decode_event(orjson.dumps(e)) for e in sim40.events if e["type"] == "tool_call"]
    assert all(isinstance(c, ToolCall) for c in calls)
    delegated = [c for c in calls if c.agent_kind == "delegated"]
    autonomous = [c for c in calls if c.agent_kind == "autonomous"]
    assert delegated and autonomous
    assert all(c.sponsor and c.task_id and c.credential_id for c in delegated)
    assert all(c.sponsor is None and c.credential_id for c in autonomous)
    assert all(c.agent_id.startswith("spiffe://corp/agents/") for c in autonomous)
    outcomes = Counter(c.outcome for c in calls)
    assert outcomes["ok"] > 0.8 * len(calls) and outcomes["error"] > 0
    assert all(c.trace_id and c.session_id and c.bytes_in > 0 for c in calls)
    schemes = {r.split(":", 1)[0] for c in calls for r in c.resources}
    assert {"file", "https", "mailto", "fleet", "warehouse", "s3"} <= schemes


def test_charters_round_trip_through_yaml(tmp_path: Path, sim40: Simulation) -> None:
    paths = write(sim40, tmp_path)
    loaded = load_charter_dir(paths["charters"])
    assert {c.agent: c for c in loaded} == {c.agent: c for c in sim40.charters}
    assert {c.mode for c in loaded} == {"enforce", "observe"}
    assert {c.kind for c in loaded} == {"delegated", "autonomous"}
    assert any("*" in c.agent for c in loaded) and any("*" not in c.agent for c in loaded)


def test_every_attack_scenario_is_planted_at_40_agents(sim40: Simulation) -> None:
    attacks = [lab for lab in sim40.labels if lab["label"] == "attack"]
    assert {lab["scenario"] for lab in attacks} == ATTACKS
    assert {lab["detector"] for lab in attacks} == RULE_DETECTORS
    for lab in sim40.labels:
        assert list(lab) == LABEL_KEYS
        if lab["label"] == "near_miss":
            assert lab["detector"] is None and lab["severity"] is None
        else:
            assert lab["severity"] in {"medium", "high", "critical"}


def test_labels_point_at_events_of_their_agent(sim40: Simulation) -> None:
    by_id = {e["event_id"]: e for e in sim40.events}
    for lab in sim40.labels:
        ev = by_id[lab["event_id"]]
        assert ev["agent_id"] == lab["agent_id"]
        want = (
            "credential_issued"
            if lab["scenario"].startswith(("ttl_", "credential_for"))
            else "tool_call"
        )
        assert ev["type"] == want
    # one scenario per carrier agent
    assert len({lab["agent_id"] for lab in sim40.labels}) == len(sim40.labels)


def test_every_scenario_appears_once_agents_reach_twice_the_scenario_count() -> None:
    sim = simulate(agents=2 * len(SCENARIOS), minutes=30, seed=2)
    assert Counter(lab["scenario"] for lab in sim.labels) == Counter(s.name for s in SCENARIOS)


def test_about_a_third_of_agents_carry_a_scenario() -> None:
    s = len(SCENARIOS)
    assert carrier_count(300, s) == 100
    assert carrier_count(2 * s, s) == s
    assert carrier_count(40, s) == 20
    assert carrier_count(1, s) == 0
    assert carrier_count(10, 0) == 0


def test_without_attacks_only_near_misses_are_planted() -> None:
    sim = simulate(agents=20, minutes=30, seed=8, attacks=False)
    assert {lab["label"] for lab in sim.labels} == {"near_miss"}
    assert {lab["scenario"] for lab in sim.labels} == {s.name for s in scenarios_for(False)}


def test_streaming_writer_matches_the_in_memory_one(tmp_path: Path) -> None:
    write(simulate(15, 20, seed=9), tmp_path / "mem")
    summary = write_stream(tmp_path / "stream", 15, 20, seed=9)
    assert _files(tmp_path / "mem") == _files(tmp_path / "stream")
    assert summary.events == len(simulate(15, 20, seed=9).events)
    assert list(iter_events(15, 20, seed=9)) == simulate(15, 20, seed=9).events


def test_rewriting_a_directory_drops_stale_charters(tmp_path: Path) -> None:
    (tmp_path / "charters").mkdir()
    (tmp_path / "charters" / "old.yaml").write_text("agent: x\nkind: autonomous\n")
    write(simulate(5, 10, seed=1), tmp_path)
    assert not (tmp_path / "charters" / "old.yaml").exists()
    load_charter_dir(tmp_path / "charters")


def test_short_runs_skip_scenarios_that_do_not_fit() -> None:
    sim = simulate(agents=60, minutes=5, seed=1)
    planted = {lab["scenario"] for lab in sim.labels}
    assert planted and "sponsor_quiet" not in planted and "off_hours_call" not in planted


def test_start_time_is_respected_and_hours_follow_it() -> None:
    start = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # crosses midnight: no business hours
    sim = simulate(agents=30, minutes=60, seed=3, start=start)
    assert sim.events[0]["ts"] >= "2026-03-02T23:30:00.000Z"
    assert sim.events[-1]["ts"] < "2026-03-03T00:30:00.000Z"
    fleets = [c for c in sim.charters if "*" in c.agent and c.kind == "delegated"]
    assert fleets and all(c.limits.hours is None for c in fleets)
    shifts = [c for c in sim.charters if c.kind == "delegated" and "*" not in c.agent]
    assert all(c.limits.hours is not None for c in shifts)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="agents"):
        simulate(0, 10, seed=1)
    with pytest.raises(ValueError, match="minutes"):
        simulate(3, 0, seed=1)
    with pytest.raises(ValueError, match="timezone"):
        simulate(3, 10, seed=1, start=datetime(2026, 3, 2, 8, 0))


def test_safe_names_are_file_names() -> None:
    assert safe_name("spiffe://corp/agents/patcher-*") == "spiffe_corp_agents_patcher-all"
    assert safe_name("coding-assistant-*") == "coding-assistant-all"
    assert safe_name("***") == "allallall"


# --------------------------------------------------------------------------- behaviour attacks


@pytest.fixture(scope="module")
def long_sim() -> Simulation:
    return simulate(agents=30, minutes=300, seed=1)


def test_behaviour_attacks_need_long_runs() -> None:
    short = simulate(agents=40, minutes=60, seed=5)
    assert all(lab["detector"] != "behaviour_anomaly" for lab in short.labels)
    assert behaviour_carriers(12, range(4)) == {
        k: s for k, s in behaviour_carriers(12, range(4)).items() if k >= 4
    }


def test_behaviour_attacks_come_after_the_carriers_warm_up(long_sim: Simulation) -> None:
    labels = [lab for lab in long_sim.labels if lab["detector"] == "behaviour_anomaly"]
    assert {lab["scenario"] for lab in labels} == {s.name for s in BEHAVIOUR_SCENARIOS}
    warmup = {c.agent: c.baseline.warmup_events for c in long_sim.charters}
    for lab in labels:
        assert lab["label"] == "attack" and lab["severity"] == "medium"
        calls_before = 0
        for e in long_sim.events:
            if e["event_id"] == lab["event_id"]:
                break
            calls_before += e["agent_id"] == lab["agent_id"] and e["type"] == "tool_call"
        assert calls_before >= min(warmup.values()) + 10, lab
    assert all(describe(s) for s in BEHAVIOUR_SCENARIOS)


PROVENANCE_ATTACKS = {
    "injected_recipient", "injected_refund_account", "injected_report_url", "workspace_invite",
    "injected_share",
}  # fmt: skip


def _arg_digests(call: dict) -> set[str]:
    return set(value_digests(call["args"]))


def test_hijacks_take_their_destination_from_a_read_in_the_same_session(
    long_sim: Simulation,
) -> None:
    """Issue 14's threat model: one malicious call with a granted tool, inside a normal task,
    toward a value that first appeared in what a read of that session returned."""
    by_id = {e["event_id"]: e for e in long_sim.events}
    labels = {lab["scenario"]: lab for lab in long_sim.labels}
    assert set(labels) >= PROVENANCE_ATTACKS
    granted = {c.agent: {(g.server, g.tool) for g in c.tools} for c in long_sim.charters}
    for name in PROVENANCE_ATTACKS:
        attack = by_id[labels[name]["event_id"]]
        session = [
            e for e in long_sim.events
            if e["type"] == "tool_call" and e.get("session_id") == attack["session_id"]
        ]  # fmt: skip
        before = session[: session.index(attack)]
        read = set().union(*(e.get("result_digests", []) for e in before))
        first = _arg_digests(session[0])
        injected = _arg_digests(attack) & read - first
        assert injected, name  # a value of the call came from a read, not from the request
        assert 2 <= len(session) <= 10, (name, len(session))  # inside an ordinary task
        assert attack["outcome"] == "ok" and attack["bytes_in"] < 10_000, name  # not bulky
        agent_grants = next(v for k, v in granted.items() if fnmatch(attack["agent_id"], k))
        assert (attack["server"], attack["tool"]) in agent_grants, name


def test_benign_reads_carry_result_digests_and_benign_calls_reuse_them(
    long_sim: Simulation,
) -> None:
    """Provenance has near-misses: benign calls use values their session read, legitimately."""
    attack_ids = {lab["event_id"] for lab in long_sim.labels}
    sessions: dict[str, list[dict]] = {}
    for e in long_sim.events:
        if e["type"] == "tool_call" and e.get("session_id") and e["event_id"] not in attack_ids:
            sessions.setdefault(e["session_id"], []).append(e)
    with_results = [e for s in sessions.values() for e in s if e.get("result_digests")]
    assert len(with_results) > 2_000
    assert {e["tool"] for e in with_results} >= {
        "get_ticket", "lookup_customer", "read_file", "get_advisory", "search", "get_object",
    }  # fmt: skip
    reused: Counter[str] = Counter()
    for calls in sessions.values():
        seen: set[str] = set()
        for e in calls:
            if _arg_digests(e) & seen:
                reused[e["tool"]] += 1
            seen.update(e.get("result_digests", []))
    assert reused["send_email"] > 100  # replies go to the requester the ticket showed
    free = [e for e in long_sim.events if e.get("tool") == "send_email"
            and e["event_id"] not in attack_ids and e["args"]["to"].endswith("@gmail.com")]  # fmt: skip
    assert free  # benign replies go to free-mail too: the domain alone tells nothing


def test_simulate_json_prints_the_counts(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import orjson

    from monitor.cli import main

    argv = ["simulate", "--agents", "3", "--minutes", "5", "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    got = orjson.loads(capsys.readouterr().out)
    events = (tmp_path / "events.jsonl").read_bytes().splitlines()
    assert got["events"] == len(events) and got["out"] == str(tmp_path)
    assert set(got) == {"events", "charters", "labels", "attacks", "out"}
