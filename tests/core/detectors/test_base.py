"""The detector interface: the registry, reason-friendly durations, the narrowest revocation target."""

from __future__ import annotations

import pytest

from monitor.core.detectors.base import (
    REGISTRY,
    CallContext,
    Detector,
    Finding,
    call_target,
    fmt_seconds,
    register,
)
from monitor.core.state import AgentState
from monitor.testing import call


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (95, "95 s"),
        (119.4, "119 s"),
        (119.6, "2 min"),
        (120, "2 min"),
        (179, "2 min"),
        (5400, "90 min"),
        (7199, "119 min"),
        (7200, "2 h 0 min"),
        (9000, "2 h 30 min"),
        (90061, "25 h 1 min"),
    ],
)
def test_durations_read_as_seconds_minutes_or_hours_and_minutes(seconds: float, text: str) -> None:
    assert fmt_seconds(seconds) == text


def _ctx(**kw: object) -> CallContext:
    c = call(0, "agent:a", "srv", "tool", **kw)
    return CallContext(c, 0.0, "autonomous", None, None, frozenset(), 1)


def test_the_narrowest_target_is_the_credential_then_the_session_then_the_agent() -> None:
    assert call_target(_ctx(credential_id="c1", session_id="s1")) == ("credential", ["c1"])
    assert call_target(_ctx(session_id="s1")) == ("session", [])
    assert call_target(_ctx()) == ("agent", [])


def test_a_detector_needs_a_unique_name() -> None:
    class Nameless(Detector):
        pass

    class Clash(Detector):
        name = "rate_limit"

    before = dict(REGISTRY)
    with pytest.raises(ValueError, match="detector needs a unique name, got ''"):
        register(Nameless)
    with pytest.raises(ValueError, match="detector needs a unique name, got 'rate_limit'"):
        register(Clash)
    assert before == REGISTRY


def test_a_new_detector_is_registered_under_its_name_and_returned() -> None:
    class Probe(Detector):
        name = "probe_for_test_base"

    try:
        assert register(Probe) is Probe
        assert REGISTRY["probe_for_test_base"] is Probe
    finally:
        REGISTRY.pop("probe_for_test_base", None)


def test_the_base_detector_wants_calls_and_finds_nothing() -> None:
    d, st = Detector(), AgentState("agent:a")
    assert d.wants_calls(None, "autonomous") is True
    assert list(d.on_call(_ctx(), st)) == []
    assert list(d.on_lifecycle(object(), 0.0, st, None)) == []
    assert list(d.on_timer("k", 0.0, st, None)) == []
    assert d.after_call(_ctx(), st, [], []) is None


def test_a_finding_defaults_to_a_notified_unscoped_finding_without_credentials() -> None:
    f = Finding("d", "k", "text", "low", "reason", ["e1"])
    assert (f.score, f.revoke, f.credential_ids, f.task_id, f.session_id) == (
        1.0,
        None,
        [],
        None,
        None,
    )
    assert (f.dedup, f.notify, f.details) == ("", True, {})
    assert Finding("d", "k", "t", "low", "r", []).credential_ids is not f.credential_ids
