"""Charter decisions before forwarding (``mcpmon proxy --policy``), at the policy itself.

Each check the proxy can make alone fires on the violating call and stays quiet on
the near miss; the policy keeps the history of the calls it was fed (rate, chains);
an agent no charter covers, or a judgement that fails, is refused inline and
forwarded in shadow; and a worker replaying the events the proxy emitted agrees with
every refusal (same detector, same clause, the refused event in the evidence).
The gateway path (a real SDK client, the real fleet server) is in
``test_policy_gateway.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.charter import Charter
from monitor.cli import main
from monitor.core import Engine, EngineSettings
from monitor.events import CharterUpdated, ToolCall, encode_event
from monitor.proxy.exceptions import ProxyError
from monitor.proxy.metrics import ProxyMetrics
from monitor.proxy.policy import InlinePolicy, PolicyMode, PolicyVerdict
from monitor.proxy.run import ProxyConfig, build_policy
from monitor.replay import replay_file
from monitor.settings import load_settings
from monitor.signing import parse_keyring, sign_charter
from monitor.testing import at, call, charter, issued

AGENT = "spiffe://corp/agents/patcher-7"
TOOLS = [
    {"server": "fleet", "tool": "list_hosts", "classes": ["read"]},
    {"server": "fleet", "tool": "read_file", "classes": ["read"]},
    {"server": "vault", "tool": "read_secret", "classes": ["read_secret"]},
    {"server": "web", "tool": "http_post", "classes": ["egress"]},
]
EXFIL = {"name": "exfil", "sequence": ["read_secret", "egress"], "within_calls": 3}


def fleet_charter(**kw: Any) -> Charter:
    kw.setdefault("tools", TOOLS)
    return charter("spiffe://corp/agents/*", **kw)


def policy(*charters: Charter, mode: PolicyMode = "inline") -> InlinePolicy:
    return InlinePolicy(charters or [fleet_charter()], mode, metrics=ProxyMetrics())


def gate(p: InlinePolicy, ev: ToolCall) -> PolicyVerdict:
    """What the gateway does: decide, then feed the engine the event it emits."""
    v = p.decide(ev)
    if not v.forward:
        ev = ev.model_copy(update={"outcome": "denied", "denied_by": v.check})
    p.record(ev)
    return v


def c(sec: float, server: str = "fleet", tool: str = "list_hosts", **kw: Any) -> ToolCall:
    kw.setdefault("credential_id", "cred-1")
    return call(sec, AGENT, server, tool, **kw)


def sample(p: InlinePolicy, result: str) -> float:
    assert p.metrics is not None
    v = p.metrics.registry.get_sample_value(
        "mcpmon_proxy_policy_decisions_total", {"result": result}
    )
    return v or 0.0


# ---------------------------------------------------------------- grants


def test_granted_tool_is_forwarded_and_ungranted_one_refused_with_its_clause() -> None:
    p = policy()
    assert gate(p, c(0)).check is None
    v = gate(p, c(1, tool="delete_repo"))
    assert not v.forward and v.check == "out_of_charter_tool:tools"
    assert v.finding is not None and "fleet/delete_repo" in v.finding.reason
    # near miss: the same tool name on another server is another grant
    assert gate(p, c(2, "vault", "list_hosts")).check == "out_of_charter_tool:tools"
    assert gate(p, c(3, "fleet", "read_file")).forward
    assert (sample(p, "allow"), sample(p, "refuse")) == (2, 2)


def test_tenant_outside_the_grant_is_refused_inside_forwarded() -> None:
    p = policy(fleet_charter(tenants=["corp"]))
    assert gate(p, c(0, tenant="corp")).forward
    assert gate(p, c(1, tenant="other")).check == "out_of_charter_tool:tenants"


def test_data_domain_outside_the_grant_is_refused_inside_forwarded() -> None:
    p = policy(fleet_charter(data_domains=["inventory"]))
    assert gate(p, c(0, data_domain="inventory")).forward
    assert gate(p, c(1, data_domain="payroll")).check == "out_of_charter_tool:data_domains"


def test_resource_outside_the_globs_is_refused_inside_forwarded() -> None:
    p = policy(fleet_charter(resources=["file:///srv/app/**"]))
    assert gate(p, c(0, resources=["file:///srv/app/src/main.py"])).forward
    v = gate(p, c(1, resources=["file:///srv/app/x.py", "file:///etc/shadow"]))
    assert v.check == "out_of_charter_tool:resources"


def test_call_outside_the_hours_is_refused_and_at_the_edge_forwarded() -> None:
    p = policy(fleet_charter(limits={"hours": "06:00-09:30"}))  # T0 is 09:00 UTC
    assert gate(p, c(29 * 60 + 59)).forward  # 09:29:59, the last minute inside
    assert gate(p, c(30 * 60)).check == "out_of_charter_tool:limits.hours"  # 09:30


# ---------------------------------------------------------------- history this proxy holds


def test_rate_limit_refuses_the_call_over_the_limit_counting_the_refused_ones() -> None:
    p = policy(fleet_charter(limits={"max_calls_per_minute": 3}))
    assert [gate(p, c(s)).forward for s in (0, 1, 2)] == [True, True, True]
    assert gate(p, c(3)).check == "rate_limit:limits.max_calls_per_minute"
    assert not gate(p, c(4)).forward  # a refused call still counts, as the worker counts it


def test_rate_limit_near_miss_the_window_slides() -> None:
    p = policy(fleet_charter(limits={"max_calls_per_minute": 3}))
    assert all(gate(p, c(s)).forward for s in (0, 1, 2, 60, 61, 62))


def test_forbidden_chain_refuses_the_completing_call() -> None:
    p = policy(fleet_charter(forbidden_chains=[EXFIL]))
    assert gate(p, c(0, "vault", "read_secret")).forward
    v = gate(p, c(1, "web", "http_post"))
    assert not v.forward and v.check == "forbidden_chain:forbidden_chains.exfil"
    # the refused step did not happen: a read elsewhere, then another egress is still the chain
    assert gate(p, c(2, "web", "http_post")).check == "forbidden_chain:forbidden_chains.exfil"


def test_forbidden_chain_near_misses_order_and_window() -> None:
    p = policy(fleet_charter(forbidden_chains=[EXFIL]))
    assert gate(p, c(0, "web", "http_post")).forward  # egress first: no chain
    assert gate(p, c(1, "vault", "read_secret")).forward
    for s in (2, 3, 4):  # three calls later the window (within_calls 3) has closed
        assert gate(p, c(s)).forward
    assert gate(p, c(5, "web", "http_post")).forward


def test_expired_credential_is_refused_from_the_ledger_and_live_one_forwarded() -> None:
    p = policy()
    p.engine.process(issued(0, AGENT, "cred-1", ttl=60))  # skew 5 s (engine settings)
    assert gate(p, c(65)).forward
    assert gate(p, c(66)).check == "lingering_access:credential_expired"


def test_each_decision_is_not_deduplicated() -> None:
    p = policy()
    assert [gate(p, c(s, tool="delete_repo")).forward for s in range(5)] == [False] * 5


# ---------------------------------------------------------------- cannot evaluate


def test_agent_no_charter_covers_is_refused_inline_and_forwarded_in_shadow() -> None:
    other = call(0, "spiffe://other/agents/x", "fleet", "list_hosts")
    v = gate(policy(), other)
    assert not v.forward and v.check == "out_of_charter_tool:charter"
    assert v.finding is not None and "no charter covers" in v.finding.reason
    s = gate(policy(mode="shadow"), call(0, "spiffe://other/agents/x", "fleet", "list_hosts"))
    assert s.forward and s.check == "out_of_charter_tool:charter"


@pytest.mark.parametrize(("mode", "forward"), [("inline", False), ("shadow", True)])
def test_a_judgement_that_fails_is_closed_inline_and_open_in_shadow(
    mode: PolicyMode, forward: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = policy(mode=mode)

    def broken(_: Any) -> Any:
        raise KeyError("a charter this build cannot read")

    monkeypatch.setattr(p.engine, "judge", broken)
    v = p.decide(c(0))
    assert v.forward is forward and v.check == "policy_unavailable"
    assert v.error is not None and "KeyError" in v.error
    assert sample(p, "unavailable_forwarded" if forward else "unavailable_refused") == 1


def test_shadow_forwards_and_counts_what_it_would_refuse() -> None:
    p = policy(mode="shadow")
    v = gate(p, c(0, tool="delete_repo"))
    assert v.forward and v.check == "out_of_charter_tool:tools"
    assert sample(p, "would_refuse") == 1 and sample(p, "refuse") == 0


def test_monitor_mode_has_no_engine() -> None:
    with pytest.raises(ValueError, match="shadow or inline"):
        InlinePolicy([], "monitor")


# ---------------------------------------------------------------- the worker agrees


def _replay(tmp: Path, events: list[ToolCall], charters: list[Charter]) -> list[dict[str, Any]]:
    path = tmp / "events.jsonl"
    path.write_bytes(b"".join(encode_event(e) + b"\n" for e in events))
    replay_file(str(path), Engine(charters), tmp / "out")
    return [orjson.loads(ln) for ln in (tmp / "out" / "alerts.jsonl").read_bytes().splitlines()]


def _agrees(emitted: list[ToolCall], alerts: list[dict[str, Any]]) -> None:
    refused = [e for e in emitted if e.outcome == "denied"]
    assert refused
    for e in refused:
        assert e.denied_by is not None
        detector, key = e.denied_by.split(":", 1)
        hits = [
            a
            for a in alerts
            if a["detector"] == detector
            and a["clause"]["key"] == key
            and e.event_id in a["evidence"]
        ]
        assert hits, f"the worker does not agree with the refusal of {e.tool} ({e.denied_by})"
        assert all(a["severity"] != "critical" for a in hits)  # the gateway did its job


def test_worker_replaying_the_emitted_events_agrees_with_every_inline_refusal(
    tmp_path: Path,
) -> None:
    ch = fleet_charter(
        tenants=["corp"], forbidden_chains=[EXFIL], limits={"max_calls_per_minute": 6}
    )
    p = policy(ch)
    emitted: list[ToolCall] = []
    script = [
        c(0, tenant="corp"),
        c(1, tool="delete_repo", tenant="corp"),  # tools
        c(2, tenant="other"),  # tenants
        c(3, "vault", "read_secret", tenant="corp"),
        c(4, "web", "http_post", tenant="corp"),  # chain
        c(5, tenant="corp"),
        c(6, tenant="corp"),  # the 7th call in the minute: rate
        c(70, tenant="corp"),  # a minute on: fine again
    ]
    for ev in script:
        v = gate(p, ev)
        emitted.append(
            ev if v.forward else ev.model_copy(update={"outcome": "denied", "denied_by": v.check})
        )
    assert [e.denied_by for e in emitted] == [
        None,
        "out_of_charter_tool:tools",
        "out_of_charter_tool:tenants",
        None,
        "forbidden_chain:forbidden_chains.exfil",
        None,
        "rate_limit:limits.max_calls_per_minute",
        None,
    ]
    alerts = _replay(tmp_path, emitted, [ch])
    _agrees(emitted, alerts)
    # and on what the proxy forwarded, the worker finds none of these checks violated
    forwarded = {e.event_id for e in emitted if e.outcome != "denied"}
    inline = {"out_of_charter_tool", "rate_limit", "forbidden_chain"}
    assert not [a for a in alerts if a["detector"] in inline and a["evidence"][-1] in forwarded]


def test_worker_replaying_shadow_events_alerts_exactly_on_the_would_refuse_calls(
    tmp_path: Path,
) -> None:
    ch = fleet_charter(forbidden_chains=[EXFIL])
    p = policy(ch, mode="shadow")
    script = [
        c(0),
        c(1, tool="delete_repo"),
        c(2, "vault", "read_secret"),
        c(3, "web", "http_post"),
    ]
    would = {ev.event_id for ev in script if gate(p, ev).check is not None}
    alerts = _replay(tmp_path, script, [ch])
    assert {a["evidence"][-1] for a in alerts} == would
    assert {a["severity"] for a in alerts} == {"high", "critical"}  # forwarded: real violations


# ---------------------------------------------------------------- charters from the bus

KEYS = parse_keyring("policy-1:0123456789abcdef0123")
ATTACKER = parse_keyring("policy-1:not-the-policy-key-at-all")


def _update(doc: dict[str, Any], ring: Any, version: int, event_id: str) -> bytes:
    return encode_event(
        CharterUpdated(
            event_id=event_id,
            ts=at(0),
            agent_id=AGENT,
            charter=doc,
            signature=sign_charter(doc, ring, version),
            version=version,
        )
    )


def test_signed_charter_update_from_the_broadcast_changes_the_decision() -> None:
    p = InlinePolicy([fleet_charter()], "inline", EngineSettings(charter_keys=KEYS))
    assert not gate(p, c(0, tool="delete_repo")).forward
    wider = fleet_charter(
        tools=[*TOOLS, {"server": "fleet", "tool": "delete_repo", "classes": ["admin"]}]
    ).model_dump(mode="json", exclude_none=True)
    # forged (another key) and undecodable: refused, the charter in force stays
    assert not p.apply_charter_update(_update(wider, ATTACKER, 2, "cu-forged"))
    assert not p.apply_charter_update(b'{"type": "charter_updated"')
    assert not gate(p, c(1, tool="delete_repo")).forward
    assert p.apply_charter_update(_update(wider, KEYS, 2, "cu-1"))
    assert gate(p, c(2, tool="delete_repo")).forward
    assert not p.apply_charter_update(_update(wider, KEYS, 2, "cu-1"))  # redelivered


# ---------------------------------------------------------------- configuration


def test_inline_without_charters_or_with_a_bad_charter_does_not_start(tmp_path: Path) -> None:
    settings = load_settings({})
    with pytest.raises(ProxyError, match="needs --charters DIR"):
        build_policy(ProxyConfig(policy="inline"), settings, ProxyMetrics())
    (tmp_path / "bad.yaml").write_text("agent: x\nkind: autonomous\nmode: enforce\ntols: []\n")
    with pytest.raises(ProxyError, match="tols"):
        build_policy(ProxyConfig(policy="shadow", charters=str(tmp_path)), settings, ProxyMetrics())
    assert build_policy(ProxyConfig(), settings, ProxyMetrics()) is None  # monitor: no engine
    (tmp_path / "bad.yaml").write_text("agent: x\nkind: autonomous\nmode: enforce\ntools: []\n")
    built = build_policy(
        ProxyConfig(policy="inline", charters=str(tmp_path)), settings, ProxyMetrics()
    )
    assert built is not None and built.mode == "inline"


def test_help_explains_the_three_modes_and_the_policy_refusals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["proxy", "--help"])
    text = capsys.readouterr().out
    for want in ("--policy", "monitor", "shadow", "inline", "-32013", "-32014", "--charters",
                 "sees only", "policy_would_refuse", "denied_by"):  # fmt: skip
        assert want in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["proxy", "--agent-id", "a", "--policy", "inline", "--", "x"], "needs --charters DIR"),
        (
            ["proxy", "--agent-id", "a", "--policy", "shadow", "--charters", "/nonexistent",
             "--", "x"],
            "--charters /nonexistent",
        ),
    ],
)  # fmt: skip
def test_policy_configuration_errors_exit_1_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_a_caller_spraying_agent_ids_does_not_grow_the_proxy_without_bound() -> None:
    p = InlinePolicy([fleet_charter()], "inline", metrics=ProxyMetrics(), max_agents=50)
    for i in range(500):
        gate(p, call(i * 0.01, f"spiffe://corp/agents/spray-{i}", "fleet", "list_hosts"))
    assert len(p.engine.states) == 50 and p.states.evicted == 450
    assert p.metrics is not None
    evicted = "mcpmon_proxy_policy_agents_evicted_total"
    assert p.metrics.registry.get_sample_value(evicted) == 450
    assert not p.engine.dirty
    # a recently active agent keeps its history (the LRU end): its rate window still counts
    q = InlinePolicy([fleet_charter(limits={"max_calls_per_minute": 2})], "inline", max_agents=2)
    assert gate(q, c(0)).forward and gate(q, c(1)).forward
    gate(q, call(2, "spiffe://corp/agents/other", "fleet", "list_hosts"))
    assert not gate(q, c(3)).forward
