"""The inline policy's own bookkeeping: agent states, which findings refuse, what it logs.

Around the decisions ``test_policy.py`` checks: the per-agent states are a true
least-recently-used cache (a caller spraying agent ids evicts the idle agents, never
the one just seen); only the documented checks refuse, whatever else a finding
says; the engine is the proxy's own (its detectors, no reordering) whatever the
operator set for the worker; a failed judgement or bookkeeping step is reported
with what an operator needs to find it; and every charter update the proxy refuses
or applies is logged (``charter_update_refused`` / ``charter_update_applied``), the
trail of who changed the policy at the gateway.
"""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

import monitor.proxy.policy as policy_module
from monitor.core import EngineSettings
from monitor.core.detectors import Finding
from monitor.core.state import AgentState
from monitor.events import encode_event
from monitor.proxy.metrics import ProxyMetrics
from monitor.proxy.policy import REFUSING, BoundedStates, InlinePolicy, refuses
from tests.proxy.test_policy import ATTACKER, KEYS, TOOLS, _update, c, fleet_charter, gate

# ---------------------------------------------------------------- the states, LRU


def test_reading_an_agent_makes_it_the_most_recent_so_the_idle_one_is_evicted() -> None:
    evictions: list[int] = []
    s = BoundedStates(2, lambda: evictions.append(1))
    s["a"], s["b"] = AgentState("a"), AgentState("b")
    assert s.get("a") is not None  # "a" read: now "b" is the least recently used
    s["c"] = AgentState("c")
    assert list(s) == ["a", "c"] and s.evicted == 1 and evictions == [1]
    s["d"] = AgentState("d")  # the newest is kept, the least recently used dropped
    assert list(s) == ["c", "d"] and s.evicted == 2 and evictions == [1, 1]


def test_reading_an_unknown_agent_returns_the_default_and_adds_nothing() -> None:
    s = BoundedStates(2)
    s["a"] = AgentState("a")
    fallback = AgentState("z")
    assert s.get("z") is None
    assert s.get("z", fallback) is fallback
    assert list(s) == ["a"] and s.evicted == 0


# ---------------------------------------------------------------- what refuses


def _finding(detector: str, key: str) -> Finding:
    return Finding(detector, key, "clause", "high", "why", ["ev-1"])


def test_only_the_documented_checks_refuse() -> None:
    assert refuses(_finding("out_of_charter_tool", "tools"))
    assert refuses(_finding("rate_limit", "limits.max_calls_per_minute"))
    assert refuses(_finding("forbidden_chain", "forbidden_chains.exfil"))
    assert refuses(_finding("lingering_access", "credential_expired"))
    assert refuses(_finding("lingering_access", "credential_revoked"))
    # near misses: another clause of a refusing detector, a detector the proxy does not run
    assert not refuses(_finding("lingering_access", "task_ended"))
    assert not refuses(_finding("secret_in_transit", "secrets"))
    assert not refuses(_finding("behaviour_anomaly", "tools"))


def test_the_proxy_engine_runs_only_the_refusing_detectors() -> None:
    """The rest need history only the worker has; at the gateway they would only cost
    time on every call and memory per agent (``REFUSING`` documents this set)."""
    p = InlinePolicy([fleet_charter()], "inline", EngineSettings())
    assert [d.name for d in p.engine.detectors] == list(REFUSING)


def test_an_operator_lateness_for_the_worker_does_not_hold_the_proxy_history_back() -> None:
    """``allowed_lateness_seconds`` comes from the worker's settings; the proxy feeds its
    engine in the order it decides, so every recorded call must count at once."""
    ch = fleet_charter(limits={"max_calls_per_minute": 3})
    p = InlinePolicy([ch], "inline", EngineSettings(allowed_lateness_seconds=30.0))
    assert [gate(p, c(s)).forward for s in (0, 1, 2)] == [True, True, True]
    assert gate(p, c(3)).check == "rate_limit:limits.max_calls_per_minute"


# ---------------------------------------------------------------- decide: error, time


def test_a_failed_judgement_reports_its_error_cut_at_500_characters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = InlinePolicy([fleet_charter()], "inline")

    def broken(_: Any) -> Any:
        raise RuntimeError("x" * 1000)

    monkeypatch.setattr(p.engine, "judge", broken)
    v = p.decide(c(0))
    assert v.error == ("RuntimeError: " + "x" * 1000)[:500] and len(v.error) == 500


class _Clock:
    """A perf_counter that advances 0.25 s per reading."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        self.now += 0.25
        return self.now


def test_decide_reports_the_time_the_decision_took(monkeypatch: pytest.MonkeyPatch) -> None:
    p = InlinePolicy([fleet_charter()], "inline", metrics=ProxyMetrics())
    monkeypatch.setattr(policy_module, "time", _Clock())
    v = p.decide(c(0))
    assert v.forward and v.seconds == 0.25
    assert p.metrics is not None
    assert p.metrics.registry.get_sample_value("mcpmon_proxy_policy_seconds_sum") == 0.25


# ---------------------------------------------------------------- record


def test_a_call_the_engine_cannot_record_is_logged_with_its_event_id_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = InlinePolicy([fleet_charter()], "inline")

    def broken(_: Any) -> Any:
        p.engine.dirty.add("someone")
        raise ValueError("y" * 1000)

    monkeypatch.setattr(p.engine, "process", broken)
    ev = c(0)
    with capture_logs() as logs:
        p.record(ev)  # never raised: the call is not lost over the proxy's bookkeeping
    assert logs == [
        {
            "event": "policy_record_failed",
            "log_level": "error",
            "event_id": ev.event_id,
            "error": ("ValueError: " + "y" * 1000)[:500],
        }
    ]
    assert not p.engine.dirty


# ---------------------------------------------------------------- charter updates, logged


def _wider() -> dict[str, Any]:
    tools = [*TOOLS, {"server": "fleet", "tool": "delete_repo", "classes": ["admin"]}]
    return fleet_charter(tools=tools).model_dump(mode="json", exclude_none=True)


def test_every_refused_and_applied_charter_update_is_logged_with_why() -> None:
    p = InlinePolicy([fleet_charter()], "inline", EngineSettings(charter_keys=KEYS))
    with capture_logs() as logs:
        assert p.apply_charter_update(b'{"type": "charter_updated"') is False
        assert p.apply_charter_update(encode_event(c(0))) is False  # a tool_call, not an update
        assert p.apply_charter_update(_update(_wider(), ATTACKER, 2, "cu-forged")) is False
        assert p.apply_charter_update(_update(_wider(), KEYS, 2, "cu-1")) is True
    undecodable, not_update, forged, applied = logs
    assert undecodable == {
        "event": "charter_update_refused",
        "log_level": "warning",
        "why": "undecodable: not JSON: EOF while parsing an object at line 1 column 26",
    }
    assert not_update == {
        "event": "charter_update_refused",
        "log_level": "warning",
        "why": "not a charter_updated: tool_call",
    }
    assert forged["event"] == "charter_update_refused" and forged["log_level"] == "warning"
    assert forged["event_id"] == "cu-forged" and forged["key"] == "signature"
    assert forged["why"] and set(forged) == {"event", "log_level", "event_id", "key", "why"}
    assert applied == {"event": "charter_update_applied", "log_level": "info", "event_id": "cu-1"}
