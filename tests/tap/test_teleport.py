"""``--format teleport``: field-by-field from the sample; request-only outcomes; user kinds."""

from __future__ import annotations

from typing import Any

import orjson

from tests.tap.support import SAMPLES, events, feed, lines_of, map_sample, preset, skipped


def sample_doc(n: int) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(SAMPLES["teleport"].read_bytes().splitlines()[n - 1])
    return doc


def one(doc: dict[str, Any], mapping: str | None = None) -> dict[str, Any]:
    got = events(feed(preset("teleport", mapping), lines_of([orjson.dumps(doc)])))
    assert len(got) == 1
    return got[0]


def test_a_humans_client_is_delegated_with_the_human_as_sponsor_field_by_field() -> None:
    e = events(map_sample("teleport"))[0]
    assert e == {
        "type": "tool_call",
        "event_id": "80400ed9-644e-4a6e-ab99-b264b34d0f55",  # uid
        "ts": "2026-08-20T09:14:05.512000Z",
        "agent_id": "alice@corp.example",
        "agent_kind": "delegated",  # user_kind 1
        "sponsor": "alice@corp.example",
        "session_id": "6593cf87-9839-4f18-abf8-c54873aaeb4e",  # sid
        "tenant": "corp.teleport.example",  # cluster_name
        "server": "github-mcp",  # app_name
        "tool": "search_code",
        "args": {"query": "retry budget", "repo": "corp/payments"},
        "resources": [],
        "outcome": "unknown",  # forwarded: Teleport logs no result
        "bytes_in": 0,
        "bytes_out": 0,
    }


def test_sample_outcomes_bots_are_autonomous_and_non_calls_are_skipped() -> None:
    out = map_sample("teleport")
    got = events(out)
    assert [(e["agent_id"], e["tool"], e["outcome"]) for e in got] == [
        ("alice@corp.example", "search_code", "unknown"),
        ("alice@corp.example", "delete_repo", "denied"),  # "access denied"
        ("bot-patcher", "apply_patch", "unknown"),
        ("bot-patcher", "reboot_hosts", "error"),  # HTTP 502
    ]
    assert got[2]["agent_kind"] == "autonomous" and "sponsor" not in got[2]
    assert [s.reason for s in skipped(out)] == [
        "event mcp.session.start",
        "event mcp.session.notification",
        "event mcp.session.start",
        "event mcp.session.end",
    ]


def test_impersonator_is_the_sponsor_and_traceparent_and_task_come_from_meta() -> None:
    doc = sample_doc(6)
    doc["impersonator"] = "carol@corp.example"
    doc["message"]["params"]["_meta"] = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "io.mcpmon/task_id": "TASK-77",
    }
    e = one(doc)
    assert (e["agent_kind"], e["sponsor"]) == ("delegated", "carol@corp.example")
    assert (e["trace_id"], e["task_id"]) == ("0af7651916cd43dd8448eb211c80319c", "TASK-77")


def test_mapping_can_take_the_bot_instance_as_agent_and_access_requests_as_task() -> None:
    doc = {**sample_doc(6), "access_requests": ["req-1"]}
    e = one(doc, "fields: {agent_id: bot_instance_id, task_id: access_requests.0}")
    assert (e["agent_id"], e["task_id"]) == ("7d3e9a10-44c1-4b6f-9a2e-5c8d0f1b2a39", "req-1")


def test_other_methods_are_skipped() -> None:
    doc = sample_doc(3)
    doc["message"]["method"] = "tools/list"
    out = feed(preset("teleport"), lines_of([orjson.dumps(doc)]))
    assert [s.reason for s in skipped(out)] == ["method tools/list"]
