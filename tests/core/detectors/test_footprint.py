"""footprint_breadth: limits.max_tenants_per_hour / max_domains_per_hour over a sliding hour."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from monitor.charter import Charter, parse_charter
from monitor.core import Decision, Engine
from monitor.core.state import AgentState
from monitor.errors import CharterError
from monitor.testing import at, call, charter, feed

DETECTOR = "footprint_breadth"
AGENT = "spiffe://corp/agents/etl-1"
TOOLS = [{"server": "db", "tool": "query", "classes": ["read"]}]


def engine(mode: str = "enforce", **limits: Any) -> Engine:
    return Engine([charter("spiffe://corp/agents/*", tools=TOOLS, mode=mode, limits=limits)])


def found(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR]


def q(sec: float, tenant: str | None = None, domain: str | None = None, **kw: Any) -> Any:
    kw.setdefault("credential_id", "c1")
    return call(sec, AGENT, "db", "query", tenant=tenant, data_domain=domain, **kw)


def test_one_tenant_too_many_in_an_hour_fires_high_and_revokes() -> None:
    eng = engine(max_tenants_per_hour=3)
    d = feed(eng, q(0, "a"), q(600, "b"), q(1200, "c"), q(1800, "a"))
    assert found(d) == []
    d = eng.process(q(2400, "d", event_id="fourth"))
    [a] = found(d)
    assert a.severity == "high" and a.evidence == ["fourth"]
    assert a.clause.key == "limits.max_tenants_per_hour"
    assert a.details == {"tenants_last_hour": 4, "limit": 3}
    assert "4 tenants" in a.reason and "d" in a.reason
    [cmd] = d.revocations
    assert cmd.scope == "credential" and cmd.credential_ids == ["c1"] and cmd.mode == "enforce"


def test_near_miss_the_window_slides_past_the_first_tenant() -> None:
    eng = engine(max_tenants_per_hour=3)
    d = feed(eng, q(0, "a"), q(600, "b"), q(1200, "c"), q(3601, "d"))
    assert found(d) == []  # a left the hour a second before d came


def test_near_miss_exactly_the_limit_and_repeats_are_fine() -> None:
    eng = engine(max_tenants_per_hour=2, max_domains_per_hour=2)
    calls = [q(i * 10, "ab"[i % 2], ["hr", "sales"][i % 2]) for i in range(50)]
    assert found(feed(eng, *calls)) == []


def test_domains_are_their_own_axis_and_calls_without_one_do_not_count() -> None:
    eng = engine(max_domains_per_hour=1)
    d = feed(eng, q(0, "a", "hr"), q(1, "b"), q(2, "c", None), q(3, "c", "hr"))
    assert found(d) == []
    [a] = found(eng.process(q(4, "c", "finance")))
    assert a.clause.key == "limits.max_domains_per_hour"
    assert a.details == {"data_domains_last_hour": 2, "limit": 1}


def test_observe_mode_alerts_without_enforcing() -> None:
    d = feed(engine(mode="observe", max_tenants_per_hour=1), q(0, "a"), q(1, "b"))
    [a] = found(d)
    assert a.mode == "observe" and all(r.mode == "observe" for r in d.revocations)


def test_unset_keys_cost_nothing_and_keep_no_state() -> None:
    eng = engine()
    d = feed(eng, *[q(i, f"t{i}", f"d{i}") for i in range(100)])
    assert found(d) == []
    assert "footprint_breadth" not in eng.states[AGENT].sections


def test_state_is_compact_and_round_trips() -> None:
    eng = engine(max_tenants_per_hour=4, max_domains_per_hour=4)
    feed(eng, *[q(i, "t" * 400 + str(i), "d" * 400 + str(i)) for i in range(200)])
    st = eng.states[AGENT]
    section = st.sections["footprint_breadth"]
    assert all(len(v) <= 5 for v in section)
    snap = st.snapshot()
    assert len(orjson.dumps(section)) < 600  # two axes of limit + 1 digests and times
    assert b"tttt" not in snap  # names are not kept, only digests
    back = AgentState.restore(snap)
    assert back.sections["footprint_breadth"] == section and back.snapshot() == snap


def test_one_alert_per_dedup_window_for_a_sweep() -> None:
    d = feed(engine(max_tenants_per_hour=2), *[q(i, f"t{i}") for i in range(30)])
    assert len(found(d)) == 1


@pytest.mark.parametrize("bad", [0, 65, "many"])
def test_limits_are_validated(bad: Any) -> None:
    with pytest.raises(CharterError) as err:
        parse_charter({"agent": "a", "kind": "autonomous", "limits": {"max_tenants_per_hour": bad}})
    assert err.value.problems[0].key == "limits.max_tenants_per_hour"


def test_new_keys_are_optional() -> None:
    c = Charter(agent="a", kind="autonomous")
    assert c.limits.max_tenants_per_hour is None and c.limits.max_domains_per_hour is None
    assert c.limits.require_jit_credentials is None


# ---------------------------------------------------------------- words, boundaries, both axes


def test_the_finding_says_how_many_the_limit_and_the_newest_one() -> None:
    eng = engine(max_tenants_per_hour=2)
    feed(eng, q(0, "acme"), q(1, "globex"))
    [a] = found(eng.process(q(2, "initech", task_id="T1", session_id="s1", event_id="e3")))
    assert a.reason == (
        f"{AGENT} touched 3 tenants within an hour (limit 2); the newest, initech, with db/query"
    )
    assert a.clause.text == "at most 2 tenants in any hour"
    assert (a.task_id, a.session_id, a.evidence) == ("T1", "s1", ["e3"])


def test_a_tenant_seen_exactly_an_hour_ago_has_left_the_window() -> None:
    eng = engine(max_tenants_per_hour=3)
    assert found(feed(eng, q(0, "a"), q(600, "b"), q(1200, "c"), q(3600, "d"))) == []
    eng = engine(max_tenants_per_hour=3)
    assert len(found(feed(eng, q(0, "a"), q(600, "b"), q(1200, "c"), q(3599.5, "d")))) == 1


def test_seeing_a_tenant_again_keeps_it_in_the_window_from_then_on() -> None:
    eng = engine(max_tenants_per_hour=3)
    d = feed(eng, q(0, "a"), q(3000, "a"), q(3100, "b"), q(3200, "c"), q(3700, "d"))
    [a] = found(d)  # a was last seen at 3000: still inside the hour at 3700
    assert a.details == {"tenants_last_hour": 4, "limit": 3}


def test_a_late_call_does_not_pull_a_tenants_last_sighting_back() -> None:
    eng = engine(max_tenants_per_hour=3)
    feed(eng, q(0, "a"), q(3000, "a"), q(3100, "b"), q(3200, "c"))
    feed(eng, q(10, "a"))  # late: a was still seen at 3000
    assert len(found(eng.process(q(3700, "d")))) == 1


def test_a_call_over_both_limits_raises_one_finding_per_axis() -> None:
    eng = engine(max_tenants_per_hour=1, max_domains_per_hour=1)
    feed(eng, q(0, "a", "hr"))
    d = eng.process(q(1, "b", "finance"))
    assert sorted((a.clause.key, a.clause.text) for a in found(d)) == [
        ("limits.max_domains_per_hour", "at most 1 data domains in any hour"),
        ("limits.max_tenants_per_hour", "at most 1 tenants in any hour"),
    ]


def test_the_oldest_tenant_is_forgotten_first_when_the_memory_is_full() -> None:
    eng = engine(max_tenants_per_hour=2)
    # a, b, c: over the limit (alerted); d pushes the oldest (a) out of the kept three
    feed(eng, q(0, "a"), q(1, "b"), q(2, "c"), q(3, "d"))
    section = eng.states[AGENT].sections["footprint_breadth"][0]
    t0 = at(0).timestamp()
    assert sorted(t - t0 for t in section.values()) == [1, 2, 3]


def test_a_known_tenant_does_not_stop_the_domain_axis_from_counting() -> None:
    eng = engine(max_tenants_per_hour=2, max_domains_per_hour=1)
    feed(eng, q(0, "a", "hr"))
    [a] = found(eng.process(q(1, "a", "finance")))  # tenant a seen before; a second domain
    assert a.clause.key == "limits.max_domains_per_hour"


def test_names_are_kept_as_16_hex_digests() -> None:
    """The snapshot format (module docstring): a state saved before an upgrade keeps counting."""
    from hashlib import blake2b

    eng = engine(max_tenants_per_hour=2)
    feed(eng, q(0, "acme"))
    [digest] = eng.states[AGENT].sections["footprint_breadth"][0]
    assert digest == blake2b(b"acme", digest_size=8).hexdigest() and len(digest) == 16
