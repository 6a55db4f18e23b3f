"""``--format agentgateway``: field-by-field from the sample, claims, outcomes, overrides."""

from __future__ import annotations

import orjson

from tests.tap.support import dead, events, feed, lines_of, map_sample, preset, skipped

BASE = {
    "level": "info",
    "time": "2026-08-20T09:14:05.902771Z",
    "scope": "request",
    "route": "default/mcp",
    "http.status": 200,
    "trace.id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span.id": "a3ce929d0e0e4736",
    "protocol": "mcp",
    "mcp.method.name": "tools/call",
    "gen_ai.tool.name": "search_code",
    "duration": "3ms",
}


def one(doc: dict[str, object], mapping: str | None = None) -> dict[str, object]:
    got = events(feed(preset("agentgateway", mapping), lines_of([orjson.dumps(doc)])))
    assert len(got) == 1
    return got[0]


def test_delegated_call_from_the_custom_cel_fields_field_by_field() -> None:
    e = events(map_sample("agentgateway"))[0]
    assert e == {
        "type": "tool_call",
        "event_id": "agw-4bf92f3577b34da6a3ce929d0e0e4736-a3ce929d0e0e4736",
        "ts": "2026-08-20T09:14:05.902771Z",
        "agent_id": "agent:code-assistant/inst-31",
        "agent_kind": "delegated",
        "sponsor": "alice@corp.example",
        "task_id": "TASK-4411",
        "session_id": "4f2a9c1e8b7d4e0f9a3b6c5d2e1f0a9b",
        "credential_id": "jti-7c1e2a90",
        "tenant": "corp",
        "server": "github",
        "tool": "search_code",
        "args": {"query": "retry budget", "repo": "corp/payments"},
        "resources": [],
        "outcome": "ok",
        "bytes_in": 0,
        "bytes_out": 0,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }


def test_sample_outcomes_and_the_autonomous_agent() -> None:
    out = map_sample("agentgateway")
    got = events(out)
    assert [(e["tool"], e["outcome"]) for e in got] == [
        ("search_code", "ok"),
        ("read_file", "error"),  # custom tool.is_error: true
        ("delete_repo", "denied"),  # -32602 "Unknown tool: delete_repo"
        ("apply_patch", "ok"),
        ("read_secret", "ok"),
        ("http_post", "error"),  # -32603
    ]
    assert got[1]["resources"] == ["file:///srv/app/.env"]
    patcher = got[3]
    assert patcher["agent_id"] == "spiffe://corp/agents/patcher-7"
    assert "agent_kind" not in patcher and "sponsor" not in patcher  # the charter decides
    assert patcher["credential_id"] == "jti-e41b09d3" and patcher["server"] == "fleet"
    assert [s.reason for s in skipped(out)] == ["method initialize", "method tools/list"]


def test_identity_from_raw_jwt_claims_act_means_delegated_with_the_human_as_sponsor() -> None:
    e = one(
        {
            **BASE,
            "jwt.sub": "alice@corp.example",
            "jwt.act": {"sub": "agent:code-assistant/inst-31", "iss": "https://sts"},
            "jwt.jti": "jti-1",
            "jwt.task_id": "TASK-9",
            "jwt.tenant": "corp",
        }
    )
    assert (e["agent_id"], e["agent_kind"], e["sponsor"]) == (
        "agent:code-assistant/inst-31",
        "delegated",
        "alice@corp.example",
    )
    assert (e["credential_id"], e["task_id"], e["tenant"]) == ("jti-1", "TASK-9", "corp")
    assert e["server"] == "default/mcp"  # no mcp.target: the route


def test_workload_identity_without_act_is_not_delegated() -> None:
    e = one({**BASE, "jwt.sub": "spiffe://corp/agents/patcher-7"})
    assert e["agent_id"] == "spiffe://corp/agents/patcher-7"
    assert "agent_kind" not in e and "sponsor" not in e
    e = one({**BASE, "src.identity": "spiffe://corp/ns/agents/sa/patcher"})
    assert e["agent_id"] == "spiffe://corp/ns/agents/sa/patcher"  # mTLS peer, no JWT


def test_the_users_mapping_replaces_a_preset_default_per_target() -> None:
    doc = {**BASE, "jwt.sub": "alice@corp.example", "x.agent": "bot-7", "x.task": "T-1"}
    e = one(doc, "fields: {agent_id: x.agent, task_id: x.task}\ndefaults: {tenant: acme}")
    assert (e["agent_id"], e["task_id"], e["tenant"]) == ("bot-7", "T-1", "acme")
    assert e["server"] == "default/mcp"  # targets the file does not name keep the preset's


def test_outcome_rules() -> None:
    doc = {**BASE, "jwt.sub": "a"}
    assert one({**doc, "tool.is_error": False})["outcome"] == "ok"
    assert one({**doc, "mcp.error.code": -32602, "mcp.error.message": "bad"})["outcome"] == "error"
    assert one({**doc, "error": "upstream connect timeout"})["outcome"] == "error"
    assert one({**doc, "http.status": 403})["outcome"] == "denied"
    assert one({**doc, "http.status": 502})["outcome"] == "error"


def test_http_denial_before_mcp_is_a_dead_letter_and_a_line_without_identity_too() -> None:
    refused = {k: v for k, v in BASE.items() if not k.startswith(("mcp.", "gen_ai."))}
    refused.update({"http.status": 401, "reason": "JwtAuth"})
    out = feed(preset("agentgateway"), lines_of([orjson.dumps(refused), orjson.dumps(BASE)]))
    d = dead(out)
    assert d[0].reason == "denied before MCP parsing (JwtAuth): no tool to map"
    assert d[1].reason.startswith("no agent_id: 'agent.id', 'jwt.act.sub', 'jwt.sub'")
