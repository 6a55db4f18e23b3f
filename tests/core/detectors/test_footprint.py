"""footprint_breadth: limits.max_tenants_per_hour / max_domains_per_hour over a sliding hour."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from monitor.charter import Charter, parse_charter
from monitor.core import Decision, Engine
from monitor.core.state import AgentState
from monitor.errors import CharterError
from monitor.testing import call, charter, feed

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
    assert "#footprint" not in eng.states[AGENT].chains


def test_state_is_compact_and_round_trips() -> None:
    eng = engine(max_tenants_per_hour=4, max_domains_per_hour=4)
    feed(eng, *[q(i, "t" * 400 + str(i), "d" * 400 + str(i)) for i in range(200)])
    st = eng.states[AGENT]
    section = st.chains["#footprint"]
    assert all(len(v) <= 5 for v in section)
    snap = st.snapshot()
    assert len(orjson.dumps(section)) < 600  # two axes of limit + 1 digests and times
    assert b"tttt" not in snap  # names are not kept, only digests
    assert AgentState.restore(snap).chains == st.chains


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
