"""``--policy inline|shadow`` in the proxy's path: a real SDK client, the real fleet server.

Inline, the violating request itself is refused with -32013 before it reaches the
server (the server's own counter shows it), its event says ``denied`` and which
check; every guarded method is judged, not only ``tools/call``; a worker replaying
the emitted events agrees. Shadow forwards and logs what it would refuse.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from mcp.shared.exceptions import MCPError
from structlog.testing import capture_logs

from monitor.charter import Charter
from monitor.core import Engine
from monitor.proxy import refusal
from monitor.proxy.policy import InlinePolicy, PolicyMode
from monitor.replay import replay_file
from monitor.testing import charter
from tests.proxy.support import AGENT, proxied

CHARTER = charter(
    AGENT["agent_id"],
    tools=[
        {"server": "fleet", "tool": "list_hosts", "classes": ["read"]},
        {"server": "fleet", "tool": "read_file", "classes": ["read"]},
        {"server": "fleet", "tool": "prompts/get", "classes": ["read"]},
    ],
)


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def _policy(mode: PolicyMode, *charters: Charter) -> InlinePolicy:
    return InlinePolicy(charters or [CHARTER], mode)


def test_inline_refuses_the_violating_call_before_the_server_and_the_worker_agrees(
    tmp_path: Path,
) -> None:
    async def go() -> dict[str, Any]:
        async with proxied(tmp_path, redis_url=None, policy=_policy("inline")) as p:
            ok = await p.client.call_tool("list_hosts", {})
            with pytest.raises(MCPError) as tool:
                await p.client.call_tool("count", {})
            with pytest.raises(MCPError) as res:
                await p.client.read_resource("fleet://hosts")
            prompt = await p.client.get_prompt("triage", {"host": "web-1"})
            reached = await p.upstream.call_tool("count", {})  # around the proxy
            return {"p": p, "ok": ok, "tool": tool.value, "res": res.value, "prompt": prompt,
                    "reached": reached}  # fmt: skip

    r = _run(go())
    assert not r["ok"].is_error and r["prompt"].messages
    err = r["tool"]
    assert err.code == refusal.POLICY
    assert err.data["reason"] == "policy"
    assert err.data["check"] == "out_of_charter_tool:tools"
    assert err.data["clause"]["key"] == "tools"
    assert "fleet/count" in err.data["detail"]
    assert r["res"].code == refusal.POLICY  # resources/read is granted like a tool, or not
    assert r["reached"].structured_content == {"result": 1}  # the refused count never ran

    p = r["p"]
    events = p.events()
    assert [(e["tool"], e["outcome"], e.get("denied_by")) for e in events] == [
        ("list_hosts", "ok", None),
        ("count", "denied", "out_of_charter_tool:tools"),
        ("resources/read", "denied", "out_of_charter_tool:tools"),
        ("prompts/get", "ok", None),
    ]
    assert p.sample("mcpmon_proxy_refused_total", reason="policy") == 2
    assert p.sample("mcpmon_proxy_calls_total", outcome="denied") == 1
    assert p.sample("mcpmon_proxy_policy_decisions_total", result="refuse") == 2
    assert p.sample("mcpmon_proxy_policy_decisions_total", result="allow") == 2
    assert p.sample("mcpmon_proxy_policy_seconds_count") == 4

    # the worker, replaying what the proxy emitted, raises the same check on the same events
    replay_file(str(p.events_path), Engine([CHARTER]), tmp_path / "out")
    alerts = [
        orjson.loads(x) for x in (tmp_path / "out" / "alerts.jsonl").read_bytes().splitlines()
    ]
    for e in events:
        hits = [a for a in alerts if e["event_id"] in a["evidence"]]
        if e["outcome"] == "denied":
            [a] = hits
            assert f"{a['detector']}:{a['clause']['key']}" == e["denied_by"]
            assert a["severity"] == "medium"  # the gateway did its job: nothing to revoke
        else:
            assert hits == []
    assert (tmp_path / "out" / "revocations.jsonl").read_bytes() == b""


def test_shadow_forwards_the_violation_and_logs_would_refuse(tmp_path: Path) -> None:
    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None, policy=_policy("shadow")) as p:
            with capture_logs() as logs:
                ran = await p.client.call_tool("count", {})
            return p, ran, logs

    p, ran, logs = _run(go())
    assert ran.structured_content == {"result": 1}  # it reached the server
    [event] = p.events()
    assert event["outcome"] == "ok" and "denied_by" not in event
    [would] = [x for x in logs if x["event"] == "policy_would_refuse"]
    assert would["check"] == "out_of_charter_tool:tools" and would["mode"] == "shadow"
    assert p.sample("mcpmon_proxy_policy_decisions_total", result="would_refuse") == 1
    assert p.sample("mcpmon_proxy_refused_total", reason="policy") == 0


def test_inline_fails_closed_for_an_agent_no_charter_covers(tmp_path: Path) -> None:
    other = charter("spiffe://corp/agents/someone-else", tools=CHARTER.tools)

    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None, policy=_policy("inline", other)) as p:
            with pytest.raises(MCPError) as err:
                await p.client.call_tool("list_hosts", {})
            return p, err.value

    p, err = _run(go())
    assert err.code == refusal.POLICY
    assert err.data["check"] == "out_of_charter_tool:charter"
    assert "no charter covers" in err.data["detail"]
    assert [e["denied_by"] for e in p.events()] == ["out_of_charter_tool:charter"]


def test_inline_without_the_deny_list_still_refuses_a_caller_it_cannot_identify(
    tmp_path: Path,
) -> None:
    """--no-enforce --policy inline: no identity, no charter to judge by: refused, not
    forwarded unjudged (on base, such a call went through)."""

    async def go() -> Any:
        pol = _policy("inline")
        async with proxied(tmp_path, redis_url=None, constants={}, policy=pol) as p:
            with pytest.raises(MCPError) as err:
                await p.client.call_tool("count", {})
            reached = await p.upstream.call_tool("count", {})  # the refused one never ran
            return err.value, reached

    err, reached = _run(go())
    assert err.code == refusal.NO_IDENTITY and err.data["field"] == "agent_id"
    assert reached.structured_content == {"result": 1}


def test_inline_refuses_a_request_whose_event_cannot_be_built_and_counts_it_lost_once(
    tmp_path: Path,
) -> None:
    """A resource URI over the event's 4096-character limit: no event to judge, so no
    decision: inline fails closed (-32014); the event is logged and counted lost once."""

    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None, policy=_policy("inline")) as p:
            with pytest.raises(MCPError) as err:
                await p.client.read_resource("fleet://" + "h" * 5000)
            return p, err.value

    p, err = _run(go())
    assert err.code == refusal.POLICY_UNAVAILABLE
    assert err.data["reason"] == "policy_unavailable"
    assert p.sample("mcpmon_proxy_events_lost_total", reason="invalid") == 1
    assert p.sample("mcpmon_proxy_policy_decisions_total", result="unavailable_refused") == 1
    assert p.events() == []
