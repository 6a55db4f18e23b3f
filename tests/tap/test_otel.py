"""``--format otel``: OTLP/JSON spans, field-by-field; identity from resource or claims."""

from __future__ import annotations

from typing import Any

import orjson

from monitor.tap.formats.otel import any_value, attributes
from tests.tap.support import SAMPLES, dead, events, feed, lines_of, map_sample, preset, skipped


def sample_doc(n: int) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(SAMPLES["otel"].read_bytes().splitlines()[n - 1])
    return doc


def span_of(doc: dict[str, Any]) -> dict[str, Any]:
    span: dict[str, Any] = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    return span


def test_client_span_with_agent_and_enduser_on_the_resource_field_by_field() -> None:
    e = events(map_sample("otel"))[0]
    assert e == {
        "type": "tool_call",
        "event_id": "otel-4bf92f3577b34da6a3ce929d0e0e4736-9a3b6c5d2e1f0a9b",
        "ts": "2026-08-20T09:14:11.638000Z",  # startTimeUnixNano
        "agent_id": "agent:code-assistant/inst-31",  # resource gen_ai.agent.id
        "agent_kind": "delegated",
        "sponsor": "alice@corp.example",  # resource enduser.id
        "session_id": "4f2a9c1e8b7d4e0f9a3b6c5d2e1f0a9b",
        "server": "mcp.corp.example",  # server.address (client span)
        "tool": "delete_repo",
        "args": {"owner": "corp", "repo": "payments"},  # JSON text of the opt-in attribute
        "resources": [],
        "outcome": "denied",  # error.type -32602 + "Unknown tool:"
        "bytes_in": 0,
        "bytes_out": 0,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }


def test_gateway_spans_and_spans_without_identity() -> None:
    out = map_sample("otel")
    got = events(out)
    agw, forge = got[1], got[2]
    assert (agw["agent_id"], agw["server"], agw["tool"], agw["outcome"]) == (
        "spiffe://corp/agents/patcher-7",  # jwt.sub attribute
        "vault",  # mcp.target
        "read_secret",
        "ok",
    )
    assert agw["event_id"] == "otel-0af7651916cd43dd8448eb211c80319c-e0b4c128d51f27a6"
    assert (forge["agent_id"], forge["tool"]) == ("bob@corp.example", "jira-create-issue")
    reasons = {d.line.number: d.reason for d in dead(out)}
    assert sorted(reasons) == [1, 2, 5, 6]  # semconv server spans, Docker, Kuadrant: no caller
    assert all(r.startswith("no agent_id: 'gen_ai.agent.id'") for r in reasons.values())
    assert dead(out)[0].extra == {"spanId": "6e0b4c128d51f27a"}


def test_with_a_default_agent_every_sample_span_maps_and_outcomes_follow_error_type() -> None:
    got = events(map_sample("otel", "defaults: {agent_id: unknown-caller}"))
    assert [(e["tool"], e["server"], e["outcome"]) for e in got] == [
        ("apply_patch", "fleet-mcp", "ok"),  # service.name of a server span
        ("read_file", "filesystem-mcp", "error"),  # error.type tool_error
        ("delete_repo", "mcp.corp.example", "denied"),
        ("read_secret", "vault", "ok"),
        ("search_code", "github-official", "ok"),  # Docker mcp.tool.name / mcp.server.name
        ("get_forecast", "weather", "ok"),  # Kuadrant mcp.server
        ("jira-create-issue", "mcpgateway", "ok"),
    ]
    assert got[1]["ts"] == "2026-08-20T09:14:09.300000Z"


def test_several_spans_in_one_line_and_a_non_tool_span() -> None:
    doc = sample_doc(4)
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    second = orjson.loads(orjson.dumps(spans[0]))
    second["spanId"] = "1111111111111111"
    listing = orjson.loads(orjson.dumps(spans[0]))
    listing["spanId"] = "2222222222222222"
    for a in listing["attributes"]:
        if a["key"] == "mcp.method.name":
            a["value"] = {"stringValue": "tools/list"}
    spans += [second, listing]
    out = feed(preset("otel"), lines_of([orjson.dumps(doc)]))
    assert [e["event_id"][-16:] for e in events(out)] == ["e0b4c128d51f27a6", "1111111111111111"]
    assert [s.reason for s in skipped(out)] == ["span tools/list"]


def test_claims_and_task_from_attributes_and_a_span_without_id() -> None:
    doc = sample_doc(4)
    span = span_of(doc)
    span["attributes"] += [
        {"key": "jwt.act", "value": {"kvlistValue": {"values": [
            {"key": "sub", "value": {"stringValue": "agent:x"}}]}}},
        {"key": "task.id", "value": {"stringValue": "TASK-1"}},
        {"key": "jwt.jti", "value": {"stringValue": "jti-9"}},
    ]  # fmt: skip
    [e] = events(feed(preset("otel"), lines_of([orjson.dumps(doc)])))
    assert (e["agent_id"], e["agent_kind"], e["sponsor"]) == (
        "agent:x",
        "delegated",
        "spiffe://corp/agents/patcher-7",
    )
    assert (e["task_id"], e["credential_id"]) == ("TASK-1", "jti-9")
    del span["spanId"]
    [d] = dead(feed(preset("otel"), lines_of([orjson.dumps(doc)])))
    assert d.reason.startswith("spanId: a span without an id")


def test_any_value_decodes_every_otlp_kind() -> None:
    assert any_value({"intValue": "41876"}) == 41876
    assert any_value({"boolValue": False}) is False
    assert any_value({"doubleValue": 0.5}) == 0.5
    assert any_value({"arrayValue": {"values": [{"stringValue": "a"}]}}) == ["a"]
    assert attributes([{"key": "k", "value": {"stringValue": "v"}}, {"bad": 1}]) == {"k": "v"}
