"""Presets whose gateways log response bodies fill ``result_secrets``: families, never secrets.

The same presets as ``result_digests`` (test_result_digests.py): jsonrpc, toolhive
with ``includeResponseData``, OTel's opt-in result attribute and agentgateway's
custom ``mcp.result``. A result without a secret leaves the field out.
"""

from __future__ import annotations

from typing import Any

import orjson

from tests.core.secret_corpus import FAMILIES
from tests.tap.support import SAMPLES, events, feed, jsonrpc, lines_of, preset

GH = FAMILIES["github-token"][0]
PEM = FAMILIES["private-key"][0]
LEAK = {"content": [{"type": "text", "text": f"GITHUB_TOKEN={GH}\n{PEM}"}], "isError": False}
FAMILIES_FOUND = ["github-token", "private-key"]
PLAIN = {"content": [{"type": "text", "text": "contents of /srv/app.py"}], "isError": False}


def _no_secret(e: dict[str, Any]) -> None:
    raw = orjson.dumps(e).decode()
    assert GH not in raw and "PRIVATE KEY" not in raw


def test_jsonrpc_pairs_name_the_families_of_their_result() -> None:
    mapping = "defaults: {agent_id: agent:a-1, server: gw}\n"
    req = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
           "params": {"name": "read_env", "arguments": {"path": ".env"}}}  # fmt: skip
    for result, expected in ((LEAK, FAMILIES_FOUND), (PLAIN, None)):
        resp = {"jsonrpc": "2.0", "id": 9, "result": result}
        [e] = events(feed(jsonrpc(mapping), lines_of([orjson.dumps(req), orjson.dumps(resp)])))
        assert e.get("result_secrets") == expected
        _no_secret(e)


def test_toolhive_with_include_response_data() -> None:
    doc = orjson.loads(SAMPLES["toolhive"].read_bytes().splitlines()[1])
    doc["data"]["response"] = {"jsonrpc": "2.0", "id": 1, "result": LEAK}
    [e] = events(feed(preset("toolhive"), lines_of([orjson.dumps(doc)])))
    assert e["result_secrets"] == FAMILIES_FOUND
    _no_secret(e)


def test_otel_opt_in_result_attribute_as_json_text() -> None:
    doc = orjson.loads(SAMPLES["otel"].read_bytes().splitlines()[2])
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"].append(
        {"key": "gen_ai.tool.call.result", "value": {"stringValue": orjson.dumps(LEAK).decode()}}
    )
    [e] = events(feed(preset("otel"), lines_of([orjson.dumps(doc)])))
    assert e["result_secrets"] == FAMILIES_FOUND
    _no_secret(e)


def test_agentgateway_custom_result_field_and_none_without_a_secret() -> None:
    base = {
        "level": "info", "time": "2026-08-20T09:14:05.902771Z", "scope": "request",
        "http.status": 200, "trace.id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span.id": "a3ce929d0e0e4736", "protocol": "mcp", "mcp.method.name": "tools/call",
        "gen_ai.tool.name": "read_env", "agent.id": "agent:a-1", "mcp.target": "files",
    }  # fmt: skip
    [plain] = events(
        feed(preset("agentgateway"), lines_of([orjson.dumps(base | {"mcp.result": PLAIN})]))
    )
    assert "result_secrets" not in plain
    [e] = events(
        feed(preset("agentgateway"), lines_of([orjson.dumps(base | {"mcp.result": LEAK})]))
    )
    assert e["result_secrets"] == FAMILIES_FOUND
    _no_secret(e)
