"""Each branch of the gateway's guarded path, pinned: the four listings, completions, what a
refusal logs and counts, the charter decision's unavailable and redacted paths, and the
facts a result's event carries when one of them cannot be computed.

A real SDK client on the proxy's server, the real fleet server behind it (``proxied``);
bearer tokens are given to an :class:`IdentityResolver` in process (``Bearer``), as the
HTTP transport would hand over the ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import jwt
import mcp.types as types
import orjson
import pytest
from mcp.shared.exceptions import MCPError
from structlog.testing import capture_logs

from monitor.proxy import gateway as gateway_module
from monitor.proxy import refusal
from monitor.proxy.gateway import Gateway
from monitor.proxy.identity import IdentityResolver, JwtConfig
from monitor.proxy.metrics import ProxyMetrics
from monitor.proxy.policy import InlinePolicy, PolicyMode
from monitor.proxy.upstream import UpstreamLink
from monitor.runtime import configure_logging
from monitor.testing import charter
from tests.proxy.support import AGENT, cancel_once_forwarded, deny, proxied
from tests.revoker.support import command

SECRET = "a-test-hmac-secret-of-at-least-32-bytes!"
HS = JwtConfig(key=SECRET, algorithms=("HS256",), audience="mcp-fleet", issuer="https://idp.corp")
MAPPING = "fields:\n  agent_id: claims.sub\n  credential_id: claims.jti\n"
EXPIRED_AT = 1767225600  # 2026-01-01T00:00:00Z
LISTINGS = ("list_tools", "list_resources", "list_resource_templates", "list_prompts")
METHODS = ("tools/list", "resources/list", "resources/templates/list", "prompts/list")
AWS_KEY = "AKIAIOSFODNN7EXAMPLF"


class Bearer(IdentityResolver):
    """Every request carries ``Authorization: Bearer <token>``."""

    token = ""

    def resolve(
        self, tool: str, arguments: Any, meta: Any = None, headers: Any = None, **kw: Any
    ) -> Any:
        return super().resolve(
            tool, arguments, meta, {"Authorization": f"Bearer {self.token}"}, **kw
        )


def _token(**claims: Any) -> str:
    payload = {"sub": "agent:code/3", "jti": "tok-9", "aud": "mcp-fleet",
               "iss": "https://idp.corp", "exp": int(time.time()) + 600, **claims}  # fmt: skip
    return jwt.encode(payload, SECRET, "HS256")


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def _mapping(tmp_path: Path) -> Path:
    (tmp_path / "identity.yaml").write_text(MAPPING)
    return tmp_path / "identity.yaml"


def _bearer(tmp_path: Path, policy: InlinePolicy | None = None) -> Any:
    """A proxy whose caller sends ``Bearer.token``, verified, identity from its claims."""
    return proxied(tmp_path, redis_url=None, constants={}, mapping=_mapping(tmp_path), jwt=HS,
                   resolver=Bearer, policy=policy)  # fmt: skip


def _policy(mode: PolicyMode, agent: str = AGENT["agent_id"], **kw: Any) -> InlinePolicy:
    tools = [{"server": "fleet", "tool": t, "classes": ["read"]}
             for t in ("list_hosts", "read_file", "count")]  # fmt: skip
    return InlinePolicy([charter(agent, tools=tools, **kw)], mode)


# ---------------------------------------------------------------- listings


def test_every_listing_is_forwarded_with_its_params_and_emits_no_event(tmp_path: Path) -> None:
    """Each of the four listings reaches the upstream with the client's params (its cursor)
    and is answered with the upstream's listing; listings are not actions: no event."""

    async def go() -> tuple[Any, dict[str, Any], list[Any]]:
        async with proxied(tmp_path, redis_url=None) as p:
            session = p.upstream.session
            seen: dict[str, Any] = {}
            for name in LISTINGS:
                real = getattr(session, name)

                async def spy(*a: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
                    seen[_name] = kw.get("params")
                    return await _real(*a, **kw)

                setattr(session, name, spy)
            out = [await getattr(p.client, name)(cursor=f"page-{name}") for name in LISTINGS]
            return p, seen, out

    p, seen, out = _run(go())
    assert {name: params.cursor for name, params in seen.items()} == {
        name: f"page-{name}" for name in LISTINGS
    }
    tools, resources, templates, prompts = out
    assert [t.name for t in tools.tools][:2] == ["list_hosts", "read_file"]
    assert [str(r.uri) for r in resources.resources] == ["fleet://hosts", "fleet://reads"]
    assert templates.resource_templates == []
    assert [x.name for x in prompts.prompts] == ["triage"]
    assert p.events() == []


@pytest.mark.parametrize(("name", "method"), list(zip(LISTINGS, METHODS, strict=True)))
def test_a_listing_with_a_bad_token_is_refused_even_without_enforcement(
    tmp_path: Path, name: str, method: str
) -> None:
    """The catalogue is not for a caller whose token does not verify, deny-list or not."""
    Bearer.token = _token(key="x") + "tampered"

    async def go() -> tuple[Any, MCPError, list[Any]]:
        async with _bearer(tmp_path) as p:
            with capture_logs() as logs, pytest.raises(MCPError) as err:
                await getattr(p.client, name)()
            return p, err.value, logs

    p, err, logs = _run(go())
    assert err.code == refusal.NO_IDENTITY
    assert err.message.startswith(f"call to {method} refused: the caller's identity")
    assert err.data["field"] == "claims"
    [refused] = [x for x in logs if x["event"] == "call_refused"]
    assert refused == {
        "event": "call_refused",
        "log_level": "warning",
        "reason": "no_identity",
        "tool": method,
        "error": refused["error"],
    }
    assert refused["error"].startswith("bearer token rejected")
    assert p.sample("mcpmon_proxy_refused_total", reason="no_identity") == 1


@pytest.mark.parametrize("name", LISTINGS)
def test_a_listing_is_checked_under_the_identity_its_meta_names(
    tmp_path: Path, redis_url: str, name: str
) -> None:
    """A listing's ``_meta`` is read for its identity like a call's: a revoked agent named
    there may not read the catalogue, another may."""
    (tmp_path / "identity.yaml").write_text("fields:\n  agent_id: meta.agent\n")
    revoked = command(scope="agent", agent_id="agent-x", credential_ids=[])

    async def go() -> tuple[MCPError, Any]:
        async with proxied(tmp_path, redis_url=redis_url, constants={},
                           mapping=tmp_path / "identity.yaml") as p:  # fmt: skip
            await deny(redis_url, revoked)
            with pytest.raises(MCPError) as err:
                await getattr(p.client, name)(meta={"agent": "agent-x"})
            return err.value, await getattr(p.client, name)(meta={"agent": "agent-y"})

    err, other = _run(go())
    method = METHODS[LISTINGS.index(name)]
    assert err.code == refusal.DENIED and list(err.data["denied"]) == ["agent"]
    assert err.message.startswith(f"call to {method} refused")
    assert other is not None


def test_a_listing_whose_identity_does_not_resolve_is_forwarded_unless_the_token_is_bad(
    tmp_path: Path, redis_url: str
) -> None:
    """Clients send no ``_meta`` on a listing: an identity that does not resolve (no agent
    id) is forwarded, even when enforcing; only a bad token refuses it."""

    async def go() -> Any:
        async with proxied(tmp_path, redis_url=redis_url, constants={}) as p:
            return await p.client.list_prompts()

    assert [x.name for x in _run(go()).prompts] == ["triage"]


def test_an_expired_token_on_a_listing_is_refused_logged_and_counted(tmp_path: Path) -> None:
    Bearer.token = _token(exp=EXPIRED_AT)

    async def go() -> tuple[Any, MCPError, list[Any]]:
        async with _bearer(tmp_path) as p:
            with capture_logs() as logs, pytest.raises(MCPError) as err:
                await p.client.list_prompts()
            return p, err.value, logs

    p, err, logs = _run(go())
    assert err.code == refusal.TOKEN_EXPIRED
    assert (
        err.message
        == "call to prompts/list refused: the bearer token expired at 2026-01-01T00:00:00Z"
    )
    [refused] = [x for x in logs if x["event"] == "call_refused"]
    assert refused == {
        "event": "call_refused",
        "log_level": "info",
        "reason": "token_expired",
        "tool": "prompts/list",
        "expired_at": EXPIRED_AT,
        "agent_id": "agent:code/3",
        "credential_id": "tok-9",
        "server": "fleet",
        "session_id": "sess-1",
    }
    assert p.sample("mcpmon_proxy_refused_total", reason="token_expired") == 1
    assert p.events() == []  # a listing has no event, refused or not


def test_an_expired_tokens_call_event_is_denied_with_nothing_sent_or_received(
    tmp_path: Path,
) -> None:
    Bearer.token = _token(exp=EXPIRED_AT)

    async def go() -> Any:
        async with _bearer(tmp_path) as p:
            with pytest.raises(MCPError):
                await p.client.call_tool("count", {})
            return p

    p = _run(go())
    [event] = p.events()
    assert (event["outcome"], event["denied_by"], event["bytes_out"]) == (
        "denied",
        "token_expired",
        0,
    )
    assert p.sample("mcpmon_proxy_calls_total", outcome="denied") == 1


def test_calls_refused_for_an_expired_token_feed_the_charter_decision_as_the_worker_sees_them(
    tmp_path: Path,
) -> None:
    """The proxy's engine is fed every event the proxy emits, refusals included, as the worker
    is: two calls refused for an expired token count toward a limit of two a minute, so the
    third, with a good token, is over it."""
    policy = _policy("inline", "agent:code/3", limits={"max_calls_per_minute": 2})

    async def go() -> list[int]:
        codes = []
        async with _bearer(tmp_path, policy) as p:
            for token in (_token(exp=EXPIRED_AT), _token(exp=EXPIRED_AT), _token()):
                Bearer.token = token
                with pytest.raises(MCPError) as err:
                    await p.client.call_tool("count", {})
                codes.append(err.value.error.code)
        return codes

    assert _run(go()) == [refusal.TOKEN_EXPIRED, refusal.TOKEN_EXPIRED, refusal.POLICY]


# ---------------------------------------------------------------- unidentified callers


def test_a_bad_token_refuses_a_resource_read_counted_by_method(tmp_path: Path) -> None:
    Bearer.token = "not-a-jwt"

    async def go() -> tuple[Any, MCPError, list[Any], Any]:
        async with _bearer(tmp_path) as p:
            with capture_logs() as logs, pytest.raises(MCPError) as err:
                await p.client.read_resource("fleet://hosts")
            reads = await p.upstream.read_resource("fleet://reads")
            return p, err.value, logs, reads

    p, err, logs, reads = _run(go())
    assert err.code == refusal.NO_IDENTITY
    assert err.message.startswith("call to resources/read refused")
    assert p.sample("mcpmon_proxy_requests_total", method="resources/read", outcome="denied") == 1
    assert p.sample("mcpmon_proxy_calls_total", outcome="denied") == 0
    assert [x["tool"] for x in logs if x["event"] == "call_refused"] == ["resources/read"]
    assert '"resources/read": 0' in reads.contents[0].text  # it never reached the server


def test_a_monitoring_proxy_forwards_an_unidentified_call_and_logs_its_lost_event(
    tmp_path: Path,
) -> None:
    async def go() -> tuple[Any, Any, list[Any]]:
        async with proxied(tmp_path, redis_url=None, constants={}) as p:
            with capture_logs() as logs:
                ran = await p.client.call_tool("count", {})
            return p, ran, logs

    p, ran, logs = _run(go())
    assert ran.structured_content == {"result": 1}
    [lost] = [x for x in logs if x["event"] == "event_not_emitted"]
    assert lost == {
        "event": "event_not_emitted",
        "log_level": "error",
        "reason": "no_identity",
        "tool": "count",
        "error": lost["error"],
    }
    assert "agent_id" in lost["error"]
    assert p.sample("mcpmon_proxy_events_lost_total", reason="no_identity") == 1
    assert p.sample("mcpmon_proxy_calls_total", outcome="denied") == 0
    assert p.events() == []


def test_an_enforcing_proxy_refuses_an_unidentified_call_counted_as_denied(
    tmp_path: Path, redis_url: str
) -> None:
    async def go() -> Any:
        async with proxied(tmp_path, redis_url=redis_url, constants={}) as p:
            with pytest.raises(MCPError) as err:
                await p.client.call_tool("count", {})
            with pytest.raises(MCPError):
                await p.client.get_prompt("triage", {"host": "web-1"})
            return p, err.value

    p, err = _run(go())
    assert err.message.startswith("call to count refused: the caller's identity")
    assert p.sample("mcpmon_proxy_calls_total", outcome="denied") == 1
    assert p.sample("mcpmon_proxy_requests_total", method="prompts/get", outcome="denied") == 1
    assert p.sample("mcpmon_proxy_refused_total", reason="no_identity") == 2


# ---------------------------------------------------------------- completions


def test_a_completion_is_an_event_with_its_reference_and_argument(tmp_path: Path) -> None:
    async def go() -> tuple[Any, Any]:
        async with proxied(tmp_path, redis_url=None) as p:
            ref = types.PromptReference(type="ref/prompt", name="triage")
            done = await p.client.complete(ref, {"name": "host", "value": "we"})
            return p, done

    p, done = _run(go())
    assert done.completion.values == ["web-1", "web-2"]
    [event] = p.events()
    assert event["tool"] == "completion/complete"
    assert event["args"] == {
        "ref": {"type": "ref/prompt", "name": "triage"},
        "argument": {"name": "host", "value": "we"},
    }
    assert p.sample("mcpmon_proxy_requests_total", method="completion/complete", outcome="ok") == 1


# ---------------------------------------------------------------- the charter decision


def test_inline_counts_the_calls_it_allows_so_the_rate_limit_holds(tmp_path: Path) -> None:
    """Allowed calls are fed to the proxy's engine as they are decided: the third call in a
    minute over a limit of two is refused."""
    policy = _policy("inline", limits={"max_calls_per_minute": 2})

    async def go() -> tuple[Any, MCPError]:
        async with proxied(tmp_path, redis_url=None, policy=policy) as p:
            await p.client.call_tool("list_hosts", {})
            await p.client.call_tool("read_file", {"path": "/srv/a"})
            with pytest.raises(MCPError) as err:
                await p.client.call_tool("list_hosts", {})
            return p, err.value

    p, err = _run(go())
    assert err.code == refusal.POLICY and err.data["check"].startswith("rate_limit:")
    assert [e["outcome"] for e in p.events()] == ["ok", "ok", "denied"]


def test_shadow_counts_the_calls_it_would_refuse_so_the_rate_limit_holds(tmp_path: Path) -> None:
    policy = _policy("shadow", limits={"max_calls_per_minute": 2})

    async def go() -> tuple[Any, list[Any]]:
        async with proxied(tmp_path, redis_url=None, policy=policy) as p:
            with capture_logs() as logs:
                await p.client.call_tool("delete_repo", {"repo": "a"})  # not granted: would refuse
                await p.client.call_tool("list_hosts", {})
                await p.client.call_tool("list_hosts", {})
            return p, logs

    _, logs = _run(go())
    would = [x["check"] for x in logs if x["event"] == "policy_would_refuse"]
    assert would == ["out_of_charter_tool:tools", "rate_limit:limits.max_calls_per_minute"]


def test_a_refusals_detail_is_redacted_in_the_log_and_to_the_client(tmp_path: Path) -> None:
    """A finding's reason quotes what the call named (here a tool named with an AWS key):
    neither the log nor the refusal repeats the secret."""
    tool = f"exfil_{AWS_KEY}"

    async def go() -> tuple[Any, MCPError, list[Any]]:
        async with proxied(tmp_path, redis_url=None, policy=_policy("inline")) as p:
            with capture_logs() as logs, pytest.raises(MCPError) as err:
                await p.client.call_tool(tool, {})
            return p, err.value, logs

    p, err, logs = _run(go())
    [refused] = [x for x in logs if x["event"] == "call_refused"]
    assert AWS_KEY not in refused["detail"] and "[REDACTED" in refused["detail"]
    assert refused["reason"] == "policy" and refused["check"] == "out_of_charter_tool:tools"
    decision = refused["decision_us"]  # microseconds, to a tenth
    assert isinstance(decision, float) and 1.0 <= decision < 1e6 and round(decision, 1) == decision
    assert AWS_KEY not in err.message and AWS_KEY not in str(err.data)
    assert err.message.startswith("call to exfil_[REDACTED:aws-key] refused")
    assert refused["tool"] == "exfil_[REDACTED:aws-key]"
    [event] = p.events()
    assert event["tool"] == "exfil_[REDACTED:aws-key]"  # the event repeats no secret either
    assert (event["outcome"], event["bytes_out"]) == ("denied", 0)
    assert err.data["clause"] == {
        "key": "tools",
        "text": "grants 3 tools; not fleet/exfil_[REDACTED:aws-key]",
    }


@pytest.mark.parametrize(("mode", "forwarded"), [("inline", False), ("shadow", True)])
def test_a_call_whose_event_cannot_be_built_is_refused_inline_and_forwarded_in_shadow(
    tmp_path: Path, mode: PolicyMode, forwarded: bool
) -> None:
    async def go() -> tuple[Any, Any, list[Any]]:
        async with proxied(tmp_path, redis_url=None, policy=_policy(mode)) as p:
            with capture_logs() as logs:
                try:
                    out: Any = await p.client.read_resource("fleet://" + "h" * 5000)
                except MCPError as err:
                    out = err
            return p, out, logs

    p, out, logs = _run(go())
    result = "unavailable_forwarded" if forwarded else "unavailable_refused"
    assert p.sample("mcpmon_proxy_policy_decisions_total", result=result) == 1
    if forwarded:
        assert isinstance(out, MCPError) and out.code != refusal.POLICY_UNAVAILABLE  # upstream's
        [would] = [x for x in logs if x["event"] == "policy_would_refuse"]
        assert would["detail"] == "the call's event could not be built"
        return
    assert out.code == refusal.POLICY_UNAVAILABLE
    assert out.message.startswith(
        "call to resources/read refused: the charter decision could not be made "
        "(the call's event could not be built)"
    )
    [refused] = [x for x in logs if x["event"] == "call_refused"]
    assert refused["reason"] == "policy_unavailable" and refused["tool"] == "resources/read"
    assert p.sample("mcpmon_proxy_refused_total", reason="policy_unavailable") == 1


# ---------------------------------------------------------------- result facts


def test_a_fact_that_cannot_be_computed_is_left_out_the_others_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_: Any) -> list[str]:
        raise RuntimeError("no")

    monkeypatch.setattr(gateway_module, "result_digests", broken)

    async def go() -> tuple[Any, list[Any]]:
        async with proxied(tmp_path, redis_url=None, redact=False) as p:
            with capture_logs() as logs:
                await p.client.call_tool("read_file", {"path": f"/keys/{AWS_KEY}"})
            return p, logs

    p, logs = _run(go())
    [event] = p.events()
    assert "result_digests" not in event
    assert event["result_secrets"] == ["aws-key"]  # computed after the failed one
    assert [x for x in logs if x["event"] == "result_digests_failed"] == [
        {
            "event": "result_digests_failed",
            "log_level": "warning",
            "tool": "read_file",
            "error": "RuntimeError",
        }
    ]


# ---------------------------------------------------------------- what reaches the upstream


def test_a_calls_meta_reaches_the_upstream_without_its_progress_token(tmp_path: Path) -> None:
    """Progress is not relayed (the proxy answers for the call), so its token stays here;
    the rest of the client's ``_meta`` goes on to the server."""

    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None) as p:
            meta = {"progressToken": "tok-1", "com.example/trace": "t-9"}
            return await p.client.call_tool("echo_meta", {}, meta=meta)

    seen = _run(go()).structured_content
    assert seen["com.example/trace"] == "t-9"
    assert "progressToken" not in seen and "progress_token" not in seen


def test_redact_args_leaves_an_events_arguments_out(tmp_path: Path) -> None:
    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None, redact_args=True) as p:
            await p.client.call_tool("read_file", {"path": "/srv/a"})
            return p

    [event] = _run(go()).events()
    assert (event["tool"], event["args"]) == ("read_file", {})


def test_an_event_that_cannot_be_built_is_logged_naming_the_field_and_counted(
    tmp_path: Path,
) -> None:
    async def go() -> tuple[Any, list[Any]]:
        async with proxied(tmp_path, redis_url=None) as p:
            with capture_logs() as logs, pytest.raises(MCPError):
                await p.client.read_resource("fleet://" + "h" * 5000)
            return p, logs

    p, logs = _run(go())
    [lost] = [x for x in logs if x["event"] == "event_not_emitted"]
    assert lost == {
        "event": "event_not_emitted",
        "log_level": "error",
        "reason": "invalid event: resources.0: String should have at most 4096 characters",
        "tool": "resources/read",
        "outcome": "error",
        **AGENT,
        "server": "fleet",
        "session_id": "sess-1",
    }
    assert p.sample("mcpmon_proxy_events_lost_total", reason="invalid") == 1
    assert p.events() == []


def test_a_readable_deny_list_is_no_fail_open_and_its_lookups_are_timed(
    tmp_path: Path, redis_url: str
) -> None:
    async def go() -> tuple[Any, list[Any]]:
        async with proxied(tmp_path, redis_url=redis_url, fail_mode="open") as p:
            with capture_logs() as logs:
                await p.client.call_tool("list_hosts", {})
                await p.client.call_tool("list_hosts", {})
            return p, logs

    p, logs = _run(go())
    assert p.sample("mcpmon_proxy_denylist_fail_open_total") == 0
    assert [x for x in logs if x["event"] == "denylist_unavailable_fail_open"] == []
    assert p.sample("mcpmon_proxy_denylist_seconds_count") >= 2  # and any listing the client made
    assert 0 < p.sample("mcpmon_proxy_denylist_seconds_sum") < 5  # seconds it took, not a clock


def test_an_unreadable_deny_list_failing_open_is_logged_and_counted(tmp_path: Path) -> None:
    async def go() -> tuple[Any, Any, list[Any]]:
        async with proxied(tmp_path, redis_url="redis://127.0.0.1:1/0", fail_mode="open",
                           timeout=0.2) as p:  # fmt: skip
            with capture_logs() as logs:
                ran = await p.client.call_tool("count", {})
            return p, ran, logs

    p, ran, logs = _run(go())
    assert ran.structured_content == {"result": 1}
    warned = [x for x in logs if x["event"] == "denylist_unavailable_fail_open"]
    [call] = [x for x in warned if x["tool"] == "count"]
    assert call["agent_id"] == "agent-1" and call["error"]  # what failed, named
    assert p.sample("mcpmon_proxy_denylist_fail_open_total") == len(warned) >= 1


class _Link(UpstreamLink):
    """An upstream link on its seventh connection that records what is reported lost."""

    def __init__(self) -> None:
        super().__init__(None, "fleet", ProxyMetrics())  # type: ignore[arg-type]
        self.generation = 7
        self.reports: list[Any] = []

    def lost(self, generation: int) -> None:
        self.reports.append(generation)


@pytest.mark.parametrize(
    ("code", "reported"),
    [(types.CONNECTION_CLOSED, [7]), (types.INTERNAL_ERROR, []), (types.INVALID_PARAMS, [])],
)
def test_only_a_closed_connection_is_reported_to_the_link_under_the_generation_it_used(
    code: int, reported: list[int]
) -> None:
    """A closed connection (-32000; a server's own -32000 is told apart by the link's probe) is
    reported under the generation the request used, as a report under a newer one would close a
    good connection; any other error is the server's own answer, not reported."""
    link = _Link()
    identity = IdentityResolver.build(None, AGENT, upstream_name="fleet", jwt=None)
    gateway = Gateway(link, identity, None, link.metrics)  # type: ignore[arg-type]

    async def forward() -> Any:
        link.generation = 8  # the link reopened while the request was under way
        raise MCPError(code, "no answer")

    with pytest.raises(MCPError) as err:
        _run(gateway._forward(forward))
    assert err.value.error.code == code and link.reports == reported


def test_a_secret_a_caller_sends_as_its_identity_is_not_in_the_proxys_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An identity the proxy cannot take is quoted in its log line (``agent_kind 'x' is not one
    of ...``); a key sent there (by mistake or to plant it in the log) is redacted in the line
    ``mcpmon proxy`` writes (its own logging set-up, not a capture)."""
    configure_logging("info", in_process=True)
    mapping = tmp_path / "identity.yaml"
    mapping.write_text("fields:\n  agent_kind: meta.kind\n")

    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None, mapping=mapping) as p:
            return await p.client.call_tool("count", {}, meta={"kind": AWS_KEY})

    assert _run(go()).structured_content == {"result": 1}  # monitoring only: it goes on
    err = capsys.readouterr().err
    [line] = [orjson.loads(x) for x in err.splitlines() if '"event_not_emitted"' in x]
    assert line["error"] == "agent_kind '[REDACTED:aws-key]' is not one of delegated, autonomous"
    assert AWS_KEY not in err


def test_a_deny_list_refusal_is_an_event_and_a_log_line_naming_what_denied_it(
    tmp_path: Path, redis_url: str
) -> None:
    """The event says the deny-list refused it (``denied_by``, nothing came back); the log
    line names the call, the entries that matched (in order) and no error."""
    credential = command(command_id="cmd-c", scope="credential", credential_ids=["cred-1"])
    agent = command(command_id="cmd-a", scope="agent", agent_id="agent-1", credential_ids=[])

    async def go() -> tuple[Any, list[Any]]:
        async with proxied(tmp_path, redis_url=redis_url) as p:
            await deny(redis_url, credential)
            await deny(redis_url, agent)
            with capture_logs() as logs, pytest.raises(MCPError):
                await p.client.call_tool("count", {})
            return p, logs

    p, logs = _run(go())
    [event] = p.events()
    assert (event["outcome"], event["denied_by"], event["bytes_out"]) == ("denied", "denylist", 0)
    [line] = [x for x in logs if x["event"] == "call_refused"]
    assert {k: line[k] for k in ("reason", "tool", "denied", "error", "agent_id")} == {
        "reason": "denied",
        "tool": "count",
        "denied": ["agent", "credential"],
        "error": None,
        "agent_id": "agent-1",
    }


def test_an_unreadable_deny_list_failing_closed_is_an_event_and_a_log_line_naming_the_error(
    tmp_path: Path,
) -> None:
    async def go() -> tuple[Any, list[Any], Any]:
        async with proxied(tmp_path, redis_url="redis://127.0.0.1:1/0", timeout=0.2) as p:
            with capture_logs() as logs, pytest.raises(MCPError) as refused:
                await p.client.call_tool("count", {})
            return p, logs, refused.value.error

    p, logs, error = _run(go())
    assert error.code == refusal.DENYLIST_UNAVAILABLE
    assert error.message.startswith("call to count refused: the deny-list could not be checked")
    [event] = p.events()
    assert (event["outcome"], event["denied_by"], event["bytes_out"]) == (
        "denied",
        "denylist_unavailable",
        0,
    )
    [line] = [x for x in logs if x["event"] == "call_refused"]
    assert (line["reason"], line["tool"], line["denied"]) == ("denylist_unavailable", "count", [])
    assert line["error"] and line["error"] == error.data["error"]  # what failed, named to both
    assert f"({line['error']})" in error.message


def test_bytes_in_is_the_size_of_the_request_as_sent(tmp_path: Path) -> None:
    """Two calls that differ only by 1,000 characters of one argument differ by 1,000 bytes in."""

    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None) as p:
            await p.client.call_tool("read_file", {"path": "/srv/a"})
            await p.client.call_tool("read_file", {"path": "/srv/a" + "b" * 1000})
            return p

    p = _run(go())
    short, long = (e["bytes_in"] for e in p.events())
    assert long - short == 1000
    assert short > len('{"name":"read_file","arguments":{"path":"/srv/a"}}')
    assert 0 < p.sample("mcpmon_proxy_call_seconds_sum") < 30  # two calls' seconds, not a clock


def test_the_identity_mapping_reads_the_name_of_the_tool_called(tmp_path: Path) -> None:
    """``tool`` is one of the document's roots (``params.name``), as the tap's mappings read it."""
    mapping = tmp_path / "identity.yaml"
    mapping.write_text("fields:\n  task_id: tool\n")

    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None, mapping=mapping) as p:
            await p.client.call_tool("count", {})
            return p

    assert [e["task_id"] for e in _run(go()).events()] == ["count"]


def test_an_upstream_failure_is_an_error_event_and_a_redacted_message(tmp_path: Path) -> None:
    """A failure other than a JSON-RPC error (a result the SDK cannot read: its text quotes
    the result) reaches neither the client nor the log with a secret in it."""
    secret = "AKIAIOSFODNN7EXAMPLE"

    async def go() -> tuple[Any, MCPError]:
        async with proxied(tmp_path, redis_url=None) as p:
            session = p.upstream.session

            async def unreadable(*_a: Any, **_kw: Any) -> Any:
                raise ValueError(f"1 validation error: input_value='key {secret}'")

            session.call_tool = unreadable  # type: ignore[method-assign]
            with pytest.raises(MCPError) as err:
                await p.client.call_tool("count", {})
            return p, err.value

    with capture_logs() as logs:
        p, err = _run(go())
    assert err.error.code == types.INTERNAL_ERROR
    assert err.error.message.startswith("upstream server failed: ValueError: 1 validation error")
    (failed,) = [e for e in logs if e["event"] == "upstream_failed"]
    assert failed["log_level"] == "error" and failed["tool"] == "count"
    assert failed["error"] in err.error.message
    assert secret not in err.error.message and secret not in repr(logs)
    assert [(e["tool"], e["outcome"]) for e in p.events()] == [("count", "error")]


def test_an_unidentified_callers_cancelled_call_is_logged_without_ids(tmp_path: Path) -> None:
    """Monitoring only, a caller whose identity does not resolve is forwarded (no event can be
    keyed); cancelled once forwarded, the cancel is still logged, naming the tool alone."""

    async def go() -> list[Any]:
        async with proxied(tmp_path, redis_url=None, constants={}) as p:
            with capture_logs() as logs:
                await cancel_once_forwarded(
                    p, lambda: any(x["event"] == "call_cancelled" for x in logs)
                )
            return logs

    cancelled = [x for x in _run(go()) if x["event"] == "call_cancelled"]
    assert cancelled == [{"event": "call_cancelled", "log_level": "warning", "tool": "sleep"}]


def test_without_redaction_an_inline_decision_judges_the_call_as_sent(tmp_path: Path) -> None:
    """``--no-redact`` with ``--policy inline``: the call's event, arguments as sent, is judged
    and allowed (it is not a policy the proxy cannot evaluate)."""

    async def go() -> tuple[Any, Any]:
        async with proxied(tmp_path, redis_url=None, redact=False,
                           policy=_policy("inline")) as p:  # fmt: skip
            return p, await p.client.call_tool("read_file", {"path": "/srv/a"})

    p, done = _run(go())
    assert not done.is_error
    assert [(e["outcome"], e["args"]) for e in p.events()] == [("ok", {"path": "/srv/a"})]
    assert p.sample("mcpmon_proxy_policy_decisions_total", result="allow") == 1


def test_the_client_sees_the_upstreams_name_version_title_and_instructions(tmp_path: Path) -> None:
    """The proxy's server presents itself as the upstream does, so a client's server list and
    its model's instructions are those of the server it meant to reach."""

    async def go() -> tuple[Any, Any, Any]:
        async with proxied(tmp_path, redis_url=None) as p:
            return p.client.server_info, p.client.instructions, p.link.server_info

    seen, instructions, upstream = _run(go())
    assert (upstream.name, upstream.version, upstream.title) == ("fleet", "1.2.3", "Fleet")
    assert (seen.name, seen.version, seen.title) == ("fleet", "1.2.3", "Fleet")
    assert instructions == "Fleet tools for the proxy tests."


def test_an_upstream_that_names_no_server_is_served_under_the_proxys_name() -> None:
    """Protocol 2026-07-28's serverInfo stamp is optional (the SDK reads it absent as None):
    the proxy then serves as ``mcpmon-proxy``, with no version or title of its own."""

    class Nameless:
        server_capabilities = types.ServerCapabilities(tools=types.ToolsCapability())
        server_info = None
        instructions = None

    identity = IdentityResolver.build(None, AGENT, upstream_name=None, jwt=None)
    server = Gateway(Nameless(), identity, None, ProxyMetrics()).server()  # type: ignore[arg-type]
    assert (server.name, server.version, server.title, server.instructions) == (
        "mcpmon-proxy",
        "",
        None,
        None,
    )
