"""The proxy in the path: a real SDK client, the real fleet server, a real redis-server.

Calls pass through unchanged and each becomes one ``tool_call`` event; a call
whose credential, session, task or agent the revoker has denied is refused with
a JSON-RPC error and never reaches the server; an unreadable deny-list refuses
(fail closed) or forwards and counts (fail open).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import mcp.types as types
import orjson
import pytest
from mcp.shared.exceptions import MCPError
from structlog.testing import capture_logs

from monitor.proxy import refusal
from monitor.revoker.actuators.denylist import connect
from tests.proxy.support import AGENT, cancel_once_forwarded, deny, proxied
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
        "exit_now",
        "closed_error",
        "count",
        "sleep",
        "echo_meta",
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
        ("resources/read", "ok"),  # every request that reaches the upstream is an event
        ("prompts/get", "ok"),
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
    assert len({e["event_id"] for e in events}) == 4
    assert p.sample("mcpmon_proxy_calls_total", outcome="ok") == 1
    assert p.sample("mcpmon_proxy_calls_total", outcome="error") == 1
    assert p.sample("mcpmon_proxy_requests_total", method="resources/read", outcome="ok") == 1
    assert p.sample("mcpmon_proxy_events_emitted_total") == 4
    assert p.sample("mcpmon_proxy_call_seconds_count") == 2
    # two calls, one resource read, one prompt, and the listings (identity resolves: checked)
    assert p.sample("mcpmon_proxy_denylist_seconds_count") >= 4


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
    # the call, and the tools/list the SDK client sends to validate its result
    assert p.sample("mcpmon_proxy_denylist_fail_open_total") == 2


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


# ---------------------------------------------------------------- issue 13, item 3
REVOKED_AGENT = {"agent_id": "spiffe://corp/agents/A", "credential_id": "cred-A"}


async def _reached(p: Any) -> dict[str, int]:
    """How many guarded non-tool requests reached the fleet server (read around the proxy)."""
    result = await p.upstream_read("fleet://reads")
    return dict(orjson.loads(result.contents[0].text))


def test_resources_prompts_and_completions_are_guarded_like_tools(
    tmp_path: Path, redis_url: str
) -> None:
    revoke = command(command_id="cmd-A", scope="agent", credential_ids=[], **_agent("A"))

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with proxied(tmp_path, redis_url=redis_url, constants=REVOKED_AGENT) as p:
            out["read"] = await p.client.read_resource("fleet://hosts")
            out["prompt"] = await p.client.get_prompt("triage", {"host": "web-1"})
            ref = types.PromptReference(name="triage")
            out["done"] = await p.client.complete(ref, {"name": "host", "value": "web"})
            await deny(redis_url, revoke)
            refused = []
            for request in (
                p.client.read_resource("fleet://hosts"),
                p.client.get_prompt("triage", {"host": "web-1"}),
                p.client.complete(ref, {"name": "host", "value": "db"}),
                p.client.list_resources(),
            ):
                with pytest.raises(MCPError) as err:
                    await request
                refused.append(err.value)
            out["refused"], out["p"] = refused, p
            out["reached"] = await _reached(p)
        return out

    r = _run(go())
    assert r["read"].contents[0].text == "web-1\nweb-2\ndb-1"
    assert "Triage web-1" in r["prompt"].messages[0].content.text
    assert r["done"].completion.values == ["web-1", "web-2"]
    assert [e.code for e in r["refused"]] == [refusal.DENIED] * 4
    assert all(list(e.data["denied"]) == ["agent"] for e in r["refused"])
    # the refused ones never reached the server: each method ran once, before the revocation
    assert r["reached"] == {"resources/read": 1, "prompts/get": 1, "completion/complete": 1}
    events = r["p"].events()
    assert [(e["tool"], e["outcome"]) for e in events] == [
        ("resources/read", "ok"),
        ("prompts/get", "ok"),
        ("completion/complete", "ok"),
        ("resources/read", "denied"),
        ("prompts/get", "denied"),
        ("completion/complete", "denied"),
    ]
    assert events[0]["resources"] == ["fleet://hosts"] and events[0]["args"] == {
        "uri": "fleet://hosts"
    }
    assert events[1]["args"] == {"name": "triage", "arguments": {"host": "web-1"}}
    assert {e["agent_id"] for e in events} == {"spiffe://corp/agents/A"}
    assert r["p"].sample("mcpmon_proxy_refused_total", reason="denied") == 4
    assert r["p"].sample("mcpmon_proxy_requests_total", method="prompts/get", outcome="denied") == 1


def test_a_caller_without_identity_gets_no_resource_or_prompt(
    tmp_path: Path, redis_url: str
) -> None:
    async def go() -> tuple[Any, list[MCPError], dict[str, int]]:
        async with proxied(tmp_path, redis_url=redis_url, constants={}) as p:
            refused = []
            for request in (
                p.client.read_resource("fleet://hosts"),
                p.client.get_prompt("triage", {"host": "web-1"}),
            ):
                with pytest.raises(MCPError) as err:
                    await request
                refused.append(err.value)
            return p, refused, await _reached(p)

    p, refused, reached = _run(go())
    assert [e.code for e in refused] == [refusal.NO_IDENTITY] * 2
    assert all("no agent_id" in e.data["error"] for e in refused)
    assert reached == {"resources/read": 0, "prompts/get": 0, "completion/complete": 0}
    assert p.sample("mcpmon_proxy_refused_total", reason="no_identity") == 2


# ---------------------------------------------------------------- item 5: re-spelt identities
def _agent(name: str) -> dict[str, str]:
    return {"agent_id": f"spiffe://corp/agents/{name}"}


SPELLINGS = [
    "SPIFFE://corp/agents/A",
    "spiffe://CORP/agents/A",
    "spiffe://corp//agents/A",
    "spiffe://corp/agents/A/",
    "spiffe://corp/agents/%41",
    " spiffe://corp/agents/A",
    "spiffe://corp/agents/A\u200b",
    "spiffe://corp/agents/\uff21",
    "spiffe://corp/agents/A\x00",
    "spiffe://corp/./agents/A",
]


def test_an_agent_revocation_holds_against_every_re_spelling(
    tmp_path: Path, redis_url: str
) -> None:
    mapping = tmp_path / "identity.yaml"
    mapping.write_text(
        "fields:\n  agent_id: meta.agent\n  credential_id: meta.cred\n  task_id: meta.task\n"
    )
    revoke = command(command_id="cmd-A", scope="agent", credential_ids=[], **_agent("A"))

    async def go() -> tuple[Any, list[tuple[str, MCPError]], Any]:
        async with proxied(tmp_path, redis_url=redis_url, constants={}, mapping=mapping) as p:
            await deny(redis_url, revoke)
            out = []
            for i, spelling in enumerate(SPELLINGS):
                meta = {"agent": spelling, "cred": f"fresh-cred-{i}", "task": "t"}
                with pytest.raises(MCPError) as err:
                    await p.client.call_tool("count", {}, meta=meta)
                out.append((spelling, err.value))
            ok = await p.client.call_tool(
                "count", {}, meta={"agent": "spiffe://corp/agents/B", "cred": "c-b", "task": "t"}
            )
            return p, out, ok

    p, refused, ok = _run(go())
    assert ok.structured_content == {"result": 1}  # nothing refused reached the server
    for spelling, err in refused:
        if err.code == refusal.DENIED:  # the same identity, spelt otherwise: folded, denied
            assert spelling.lower().startswith("spiffe://corp/agents/a"), spelling
            assert list(err.data["denied"]) == ["agent"]
        else:  # a spelling that is bad input: refused, naming the field
            assert err.code == refusal.NO_IDENTITY, (spelling, err)
            assert err.data["field"] == "agent_id" and "agent_id: " in err.data["error"]
    events = p.events()
    # only canonical ids leave the proxy
    assert {e["agent_id"] for e in events} == {"spiffe://corp/agents/A", "spiffe://corp/agents/B"}


def test_a_task_revocation_holds_whatever_task_id_the_caller_sends(
    tmp_path: Path, redis_url: str
) -> None:
    mapping = tmp_path / "identity.yaml"
    mapping.write_text(
        "fields:\n  agent_id: meta.agent\n  credential_id: meta.cred\n  task_id: meta.task\n"
    )
    # a task-scoped command names the task's credentials: the revoker denies both
    revoke = command(scope="task", task_id="task-1", credential_ids=["cred-1"], **_agent("A"))
    agent = "spiffe://corp/agents/A"

    async def go() -> tuple[list[Any], Any]:
        async with proxied(tmp_path, redis_url=redis_url, constants={}, mapping=mapping) as p:
            await deny(redis_url, revoke)
            out = []
            for meta in (
                {"agent": agent, "cred": "cred-1", "task": "task-1"},
                {"agent": agent, "cred": "cred-1", "task": "task-2"},  # another task id
                {"agent": agent, "cred": "cred-1"},  # no task id
                {"agent": agent, "task": "task-2"},  # no credential: cannot be checked
            ):
                with pytest.raises(MCPError) as err:
                    await p.client.call_tool("count", {}, meta=meta)
                out.append(err.value)
            return out, await p.client.call_tool(
                "count", {}, meta={"agent": agent, "cred": "cred-9", "task": "task-9"}
            )

    refused, ok = _run(go())
    assert [sorted(e.data.get("denied", {})) for e in refused[:3]] == [
        ["credential", "task"],
        ["credential"],
        ["credential"],
    ]
    assert refused[3].code == refusal.NO_IDENTITY and refused[3].data["field"] == "credential_id"
    assert ok.structured_content == {"result": 1}  # another credential and task: allowed


# ---------------------------------------------------------------- item 7: deny entries of any type
@pytest.mark.parametrize(
    "write",
    [
        ("HSET", "mcpmon:deny:agent:agent-1", "command_id", "cmd-x"),
        ("RPUSH", "mcpmon:deny:credential:cred-1", "x"),
        ("SADD", "mcpmon:deny:task:task-1", "x"),
        ("SET", "mcpmon:deny:agent:agent-1", "not json"),
        ("SET", "mcpmon:deny:session:sess-1", "[1, 2]"),
    ],
)
@pytest.mark.parametrize("fail_mode", ["closed", "open"])
def test_anything_at_a_deny_key_denies(
    tmp_path: Path, redis_url: str, write: tuple[str, ...], fail_mode: Any
) -> None:
    async def go() -> tuple[Any, MCPError]:
        async with proxied(tmp_path, redis_url=redis_url, fail_mode=fail_mode) as p:
            client = connect(redis_url, 2.0)
            try:
                await client.execute_command(*write)
            finally:
                await client.aclose()
            with pytest.raises(MCPError) as err:
                await p.client.call_tool("count", {})
            return p, err.value

    p, err = _run(go())
    assert err.code == refusal.DENIED
    (entry,) = err.data["denied"].values()
    assert entry["scope"] == "unknown" and "deny-list" in entry["reason"]
    assert p.sample("mcpmon_proxy_denylist_fail_open_total") == 0


# ---------------------------------------------------------------- item 11: redaction
AWS = "AKIAIOSFODNN7EXAMPLE"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl"
SECRETS = [AWS, "MIIEowIBAAKCAQEA7", JWT, "hunter2-but-longer"]


def _secret_args() -> dict[str, Any]:
    return {
        "path": "/srv/app.py",
        "cmd": f"aws s3 ls --key {AWS}",
        "file": {"body": PEM, "lines": [f"Authorization: Bearer {JWT}"]},
        "password": "hunter2-but-longer",
    }


def test_arguments_are_redacted_before_the_event_leaves(tmp_path: Path) -> None:
    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None) as p:
            await p.client.call_tool("read_file", _secret_args())
            with pytest.raises(MCPError):  # no such resource: an upstream error, still an event
                await p.client.read_resource(f"fleet://hosts?token={JWT}")
            return p

    p = _run(go())
    raw = p.events_path.read_text()
    for secret in SECRETS:
        assert secret not in raw
    first = p.events()[0]
    assert first["args"]["path"] == "/srv/app.py"  # what is not a secret stays
    assert first["args"]["password"] == "[REDACTED:key-value]"
    assert "[REDACTED:aws-key]" in first["args"]["cmd"]
    assert "[REDACTED:private-key]" in first["args"]["file"]["body"]
    (resource,) = p.events()[1]["resources"]
    assert resource.startswith("fleet://hosts?token=[REDACTED:")
    assert os.stat(p.events_path).st_mode & 0o777 == 0o600


def test_an_event_that_cannot_be_written_is_logged_redacted(tmp_path: Path) -> None:
    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None, events_path=Path("/dev/full")) as p:
            with capture_logs() as logs:
                await p.client.call_tool("read_file", _secret_args())
            return p, logs

    p, logs = _run(go())
    (lost,) = [e for e in logs if e["event"] == "event_not_emitted"]
    assert lost["reason"] == "write_failed" and lost["tool_call"]["tool"] == "read_file"
    text = orjson.dumps(lost).decode()
    for secret in SECRETS:
        assert secret not in text
    assert p.sample("mcpmon_proxy_events_lost_total", reason="write_failed") == 1


def test_redaction_can_be_turned_off(tmp_path: Path) -> None:
    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None, redact=False) as p:
            await p.client.call_tool("read_file", {"path": "/x", "password": "hunter2"})
            return p

    (event,) = _run(go()).events()
    assert event["args"] == {"path": "/x", "password": "hunter2"}


def test_an_event_carries_digests_of_the_results_values_never_the_values(
    tmp_path: Path, redis_url: str
) -> None:
    """Provenance at the boundary: what the result carried, as digests; secrets skipped."""
    from monitor.core.values import value_digest, value_digests

    path = "/srv/AKIAIOSFODNN7EXAMPLE/mail-eve@x.example"

    async def go() -> Any:
        async with proxied(tmp_path, redis_url=redis_url) as p:
            await p.client.call_tool("read_file", {"path": path})
            await p.client.call_tool("read_file", {"path": "/forbidden/bob@y.example"})
            await p.client.read_resource("fleet://hosts")
            return p

    p = _run(go())
    ok, err, hosts = p.events()
    assert ok["result_digests"] == [value_digest("mail-eve@x.example")]
    assert ok["result_digests"] == value_digests(f"contents of {path}")
    assert value_digest("AKIAIOSFODNN7EXAMPLE") not in ok["result_digests"]  # a secret: skipped
    assert err["outcome"] == "error" and value_digest("bob@y.example") in err["result_digests"]
    assert hosts["result_digests"] == value_digests("web-1\nweb-2\ndb-1")
    assert all(
        len(d) == 16 and int(d, 16) >= 0 for d in ok["result_digests"] + err["result_digests"]
    )


def test_a_call_cancelled_once_forwarded_is_still_an_event_with_outcome_unknown(
    tmp_path: Path,
) -> None:
    """A caller that cancels its call, or goes away, after the proxy forwarded it: the
    server may act on it all the same, so the monitor must see it. Else a hijacked agent
    could hide any call by cancelling it at once."""

    async def go() -> tuple[Any, Any, list[Any]]:
        async with proxied(tmp_path, redis_url=None) as p:
            with capture_logs() as logs:
                await cancel_once_forwarded(p, lambda: bool(p.events()))
                after = await p.client.call_tool("list_hosts", {})
            return p, after, logs

    p, after, logs = _run(go())
    assert not after.is_error  # the proxy goes on
    assert [(e["tool"], e["outcome"], e["args"]) for e in p.events()] == [
        ("sleep", "unknown", {"seconds": 30}),
        ("list_hosts", "ok", {}),
    ]
    assert p.events()[0]["agent_id"] == "agent-1" and p.events()[0]["bytes_out"] == 0
    assert p.sample("mcpmon_proxy_calls_total", outcome="unknown") == 1
    assert [
        (e["event"], e["tool"], e["agent_id"]) for e in logs if e["event"] == "call_cancelled"
    ] == [("call_cancelled", "sleep", "agent-1")]


@pytest.mark.parametrize("session_id", [None, "sess-1"])
def test_calls_without_a_session_id_are_said_once(tmp_path: Path, session_id: str | None) -> None:
    """An HTTP client of protocol 2026-07-28 sends no Mcp-Session-Id: its events carry no
    session_id, which the operator must learn (session revocations need one), once."""

    async def go() -> tuple[Any, list[Any]]:
        async with proxied(tmp_path, redis_url=None, session_id=session_id) as p:
            with capture_logs() as logs:
                await p.client.call_tool("list_hosts", {})
                await p.client.call_tool("read_file", {"path": "/srv/a"})
            return p, logs

    p, logs = _run(go())
    told = [e for e in logs if e["event"] == "no_session_id"]
    assert [e.get("session_id") for e in p.events()] == [session_id, session_id]
    if session_id is None:
        assert [(e["tool"], e["agent_id"], e["log_level"]) for e in told] == [
            ("list_hosts", "agent-1", "warning")
        ]
        assert told[0]["why"] == (
            "the client has no checked Mcp-Session-Id (protocol 2026-07-28 has no sessions) and "
            "the mapping names no session_id: events carry none, so a session cannot be revoked "
            "alone; map it from a verified claim (session_id: claims.sid) or the task"
        )
    else:
        assert told == []
