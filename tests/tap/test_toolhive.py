"""``--format toolhive``: field-by-field from the sample, the delegation chain, outcomes."""

from __future__ import annotations

from typing import Any

import orjson

from tests.tap.support import SAMPLES, dead, events, feed, lines_of, map_sample, preset, skipped


def sample_doc(n: int) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(SAMPLES["toolhive"].read_bytes().splitlines()[n - 1])
    return doc


def one(doc: dict[str, Any], mapping: str | None = None) -> dict[str, Any]:
    got = events(feed(preset("toolhive", mapping), lines_of([orjson.dumps(doc)])))
    assert len(got) == 1
    return got[0]


def test_delegated_call_from_the_chain_field_by_field() -> None:
    e = events(map_sample("toolhive"))[0]
    request = sample_doc(2)["data"]["request"]
    assert e == {
        "type": "tool_call",
        "event_id": "7f4c2d8a-91b0-4e55-8d2e-6a3b1c9f0e27",  # audit_id
        "ts": "2026-08-20T09:14:05.910190Z",  # logged_at
        "agent_id": "agent:code-assistant/inst-31",  # delegation.chain[0].sub
        "agent_kind": "delegated",
        "sponsor": "alice@corp.example",  # subjects.user_id
        "server": "github-mcp",  # component
        "tool": "search_code",
        "args": {"query": "retry budget", "repo": "corp/payments"},
        "resources": [],
        "outcome": "ok",
        "bytes_in": len(orjson.dumps(request)),
        "bytes_out": 0,
    }


def test_sample_outcomes_and_the_autonomous_agent() -> None:
    out = map_sample("toolhive")
    got = events(out)
    assert [(e["tool"], e["outcome"]) for e in got] == [
        ("search_code", "ok"),
        ("read_file", "ok"),  # isError is logged as success without includeResponseData
        ("delete_repo", "denied"),
        ("apply_patch", "ok"),
        ("read_secret", "ok"),
        ("http_post", "error"),  # application_error
    ]
    patcher = got[3]
    assert patcher["agent_id"] == "spiffe://corp/agents/patcher-7"  # subjects.user_id
    assert "agent_kind" not in patcher and "sponsor" not in patcher
    assert patcher["server"] == "fleet-mcp"
    assert [s.reason for s in skipped(out)] == ["audit type mcp_initialize"]
    [d] = dead(out)
    assert (d.line.number, d.reason) == (
        8,
        "denied before MCP parsing (http_request, anonymous): no tool to map",
    )


def test_vmcp_backend_name_response_data_trace_and_task_from_baggage() -> None:
    doc = sample_doc(2)
    doc["metadata"]["extra"].update(backend_name="github-backend", response_size_bytes=812)
    doc["data"]["request"]["params"]["_meta"] = {
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "baggage": "task_id=TASK-4411,tenant=corp",
    }
    doc["data"]["response"] = {"jsonrpc": "2.0", "id": 12, "result": {"isError": True}}
    e = one(doc)
    assert (e["server"], e["bytes_out"], e["outcome"]) == ("github-backend", 812, "error")
    assert (e["trace_id"], e["task_id"]) == ("4bf92f3577b34da6a3ce929d0e0e4736", "TASK-4411")
    e = one(doc, "fields: {tenant: baggage.tenant}")  # any baggage key, by mapping
    assert e["tenant"] == "corp"


def test_application_error_unknown_tool_is_a_denial() -> None:
    doc = sample_doc(7)
    doc["metadata"]["extra"].update(
        jsonrpc_error_code=-32602, jsonrpc_error_message="Unknown tool: http_post"
    )
    assert one(doc)["outcome"] == "denied"
    doc["outcome"] = "failure"
    assert one(doc)["outcome"] == "error"
