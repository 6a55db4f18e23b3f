"""The proxy in the path: a real SDK client, the real fleet server, a real redis-server.

Calls pass through unchanged and each becomes one ``tool_call`` event; a call
whose credential, session, task or agent the revoker has denied is refused with
a JSON-RPC error and never reaches the server; an unreadable deny-list refuses
(fail closed) or forwards and counts (fail open).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from structlog.testing import capture_logs

from monitor.proxy import refusal
from tests.proxy.support import AGENT, deny, proxied
from tests.revoker.servers import closed_url
from tests.revoker.support import command


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_calls_pass_through_and_each_is_one_event(tmp_path: Path, redis_url: str) -> None:
    async def go() -> dict[str, Any]:
        async with proxied(tmp_path, redis_url=redis_url) as p:
            tools = await p.client.list_tools()
            ok = await p.client.call_tool("read_file", {"path": "/srv/app.py"})
            err = await p.client.call_tool("read_file", {"path": "/forbidden/key"})
            hosts = await p.client.read_resource("fleet://hosts")
            prompt = await p.client.get_prompt("triage", {"host": "web-1"})
            return {"p": p, "tools": tools, "ok": ok, "err": err, "hosts": hosts, "prompt": prompt}

    r = _run(go())
    assert [t.name for t in r["tools"].tools] == [
        "list_hosts",
        "read_file",
        "delete_repo",
        "crash",
        "count",
    ]
    assert not r["ok"].is_error and r["ok"].structured_content == {
        "result": "contents of /srv/app.py"
    }
    assert r["err"].is_error and "permission denied" in r["err"].content[0].text
    assert r["hosts"].contents[0].text == "web-1\nweb-2\ndb-1"
    assert "Triage web-1" in r["prompt"].messages[0].content.text

    p = r["p"]
    events = p.events()
    assert [(e["tool"], e["outcome"]) for e in events] == [
        ("read_file", "ok"),
        ("read_file", "error"),
    ]
    first = events[0]
    assert first["type"] == "tool_call"
    assert {
        k: first[k] for k in ("agent_id", "credential_id", "task_id", "session_id", "server")
    } == {
        **AGENT,
        "session_id": "sess-1",
        "server": "fleet",  # the upstream's serverInfo name
    }
    assert first["args"] == {"path": "/srv/app.py"}
    assert first["bytes_in"] > 0 and first["bytes_out"] > 0
    assert len({e["event_id"] for e in events}) == 2
    assert p.sample("mcpmon_proxy_calls_total", outcome="ok") == 1
    assert p.sample("mcpmon_proxy_calls_total", outcome="error") == 1
    assert p.sample("mcpmon_proxy_events_emitted_total") == 2
    assert p.sample("mcpmon_proxy_call_seconds_count") == 2
    assert p.sample("mcpmon_proxy_denylist_seconds_count") == 2


@pytest.mark.parametrize(
    ("scope", "kw", "kind"),
    [
        ("credential", {"credential_ids": ["cred-1"]}, "credential"),
        ("task", {"credential_ids": [], "task_id": "task-1"}, "task"),
        ("session", {"credential_ids": [], "session_id": "sess-1"}, "session"),
        ("agent", {"credential_ids": []}, "agent"),
    ],
)
def test_a_revoked_call_is_refused_naming_what_denied_it(
    tmp_path: Path, redis_url: str, scope: str, kw: dict[str, Any], kind: str
) -> None:
    cmd = command(command_id=f"cmd-{scope}", scope=scope, agent_id="agent-1", **kw)

    async def go() -> tuple[Any, Any, MCPError]:
        async with proxied(tmp_path, redis_url=redis_url) as p:
            before = await p.client.call_tool("count", {})
            await deny(redis_url, cmd)  # as the revoker's actuator writes it
            with pytest.raises(MCPError) as refused:
                await p.client.call_tool("count", {})
            return p, before, refused.value

    p, before, err = _run(go())
    assert before.structured_content == {"result": 1}
    assert err.code == refusal.DENIED
    assert err.data["reason"] == "denied"
    assert list(err.data["denied"]) == [kind]
    assert err.data["denied"][kind]["command_id"] == f"cmd-{scope}"
    assert "access revoked" in err.message
    assert [e["outcome"] for e in p.events()] == ["ok", "denied"]
    assert p.sample("mcpmon_proxy_refused_total", reason="denied") == 1
    assert p.sample("mcpmon_proxy_calls_total", outcome="denied") == 1


def test_refused_calls_do_not_reach_the_server(tmp_path: Path, redis_url: str) -> None:
    async def go() -> list[Any]:
        async with proxied(tmp_path, redis_url=redis_url) as p:
            await p.client.call_tool("count", {})
            await deny(redis_url, command(scope="credential", credential_ids=["cred-1"]))
            for _ in range(3):
                with pytest.raises(MCPError):
                    await p.client.call_tool("count", {})
            # the entry expires / is lifted: the next call reaches the server as its 2nd count
            await _flush(redis_url)
            return [await p.client.call_tool("count", {})]

    (after,) = _run(go())
    assert after.structured_content == {"result": 2}


async def _flush(url: str) -> None:
    from monitor.revoker.actuators.denylist import connect

    client = connect(url, 2.0)
    try:
        await client.flushall()
    finally:
        await client.aclose()


def test_an_unreadable_denylist_refuses_when_failing_closed(tmp_path: Path) -> None:
    async def go() -> tuple[Any, MCPError]:
        async with proxied(tmp_path, redis_url=_closed_redis(), timeout=0.3) as p:
            with pytest.raises(MCPError) as refused:
                await p.client.call_tool("count", {})
            return p, refused.value

    p, err = _run(go())
    assert err.code == refusal.DENYLIST_UNAVAILABLE
    assert err.data["reason"] == "denylist_unavailable" and err.data["error"]
    assert "fails closed" in err.message
    assert [e["outcome"] for e in p.events()] == ["denied"]
    assert p.sample("mcpmon_proxy_refused_total", reason="denylist_unavailable") == 1


def test_an_unreadable_denylist_forwards_and_counts_when_failing_open(tmp_path: Path) -> None:
    async def go() -> tuple[Any, Any]:
        async with proxied(tmp_path, redis_url=_closed_redis(), timeout=0.3, fail_mode="open") as p:
            return p, await p.client.call_tool("count", {})

    p, result = _run(go())
    assert result.structured_content == {"result": 1}
    assert [e["outcome"] for e in p.events()] == ["ok"]
    assert p.sample("mcpmon_proxy_denylist_fail_open_total") == 1


def test_a_call_without_identity_is_refused_naming_what_is_missing(
    tmp_path: Path, redis_url: str
) -> None:
    async def go() -> tuple[Any, MCPError]:
        async with proxied(tmp_path, redis_url=redis_url, constants={}) as p:
            with pytest.raises(MCPError) as refused:
                await p.client.call_tool("count", {})
            return p, refused.value

    p, err = _run(go())
    assert err.code == refusal.NO_IDENTITY
    assert "no agent_id" in err.data["error"]
    assert p.events() == []  # no agent to key an event by
    assert p.sample("mcpmon_proxy_refused_total", reason="no_identity") == 1


def test_without_enforcement_a_call_without_identity_goes_on_and_its_event_is_counted_lost(
    tmp_path: Path,
) -> None:
    async def go() -> tuple[Any, Any, Any]:
        async with proxied(tmp_path, redis_url=None, constants={}) as p:
            with capture_logs() as logs:
                result = await p.client.call_tool("count", {})
            return p, result, logs

    p, result, logs = _run(go())
    assert result.structured_content == {"result": 1}
    assert p.events() == []
    assert p.sample("mcpmon_proxy_events_lost_total", reason="no_identity") == 1
    assert [e["reason"] for e in logs if e["event"] == "event_not_emitted"] == ["no_identity"]


def test_identity_and_resources_from_meta_and_arguments(tmp_path: Path) -> None:
    mapping = tmp_path / "identity.yaml"
    mapping.write_text(
        "fields:\n"
        "  agent_id: [meta.com.example/agent_id]\n"
        "  task_id: meta.com.example/task_id\n"
        "  resources: [arguments.path]\n"
        "defaults: {server: files, tenant: corp, agent_kind: delegated}\n"
    )
    meta = {"com.example/agent_id": "agent:code/7", "com.example/task_id": "TASK-9"}

    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None, constants={}, mapping=mapping) as p:
            await p.client.call_tool("read_file", {"path": "file:///repo/.env"}, meta=meta)
            return p

    (event,) = _run(go()).events()
    assert event["agent_id"] == "agent:code/7" and event["task_id"] == "TASK-9"
    assert event["server"] == "files" and event["tenant"] == "corp"
    assert event["agent_kind"] == "delegated"
    assert event["resources"] == ["file:///repo/.env"]


def _closed_redis() -> str:
    return closed_url().replace("http://", "redis://").rstrip("/") + "/0"
