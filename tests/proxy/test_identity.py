"""Who is calling: the proxy's identity mapping, its configuration errors and token claims."""

from __future__ import annotations

import re
from pathlib import Path

import jwt
import pytest

from monitor.errors import DecodeError
from monitor.proxy.exceptions import IdentityConfigError
from monitor.proxy.identity import IdentityResolver, JwtConfig

SECRET = "a-test-hmac-secret-of-at-least-32-bytes!"
HS = JwtConfig(key=SECRET, algorithms=("HS256",), audience="mcp-fleet")


def _mapping(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "identity.yaml"
    p.write_text(text)
    return p


def _bearer(claims: dict[str, object], key: str = SECRET) -> dict[str, str]:
    return {"Authorization": "Bearer " + jwt.encode(claims, key, algorithm="HS256")}


def test_paths_win_over_defaults_and_flags_over_file_defaults(tmp_path: Path) -> None:
    m = _mapping(
        tmp_path,
        "fields:\n  agent_id: [headers.x-agent-id, meta.com.example/agent]\n"
        "defaults: {agent_id: file-default, tenant: file-tenant, server: files}\n",
    )
    r = IdentityResolver.build(m, {"tenant": "flag-tenant"}, upstream_name="fleet")
    got = r.resolve("t", {}, {"com.example/agent": "from-meta"}, {"X-Agent-Id": "from-header"})
    assert got.ids["agent_id"] == "from-header"  # first path that resolves; any header case
    assert got.ids["tenant"] == "flag-tenant" and got.ids["server"] == "files"
    assert r.resolve("t", {}, {"com.example/agent": "m"}).ids["agent_id"] == "m"
    assert r.resolve("t", {}).ids["agent_id"] == "file-default"


def test_session_trace_and_server_fall_back_sensibly(tmp_path: Path) -> None:
    r = IdentityResolver.build(None, {"agent_id": "a"}, upstream_name="fleet", session_id="proc-1")
    got = r.resolve("t", {}, {"traceparent": "00-abc-def-01"})
    assert got.ids == {
        "agent_id": "a",
        "server": "fleet",
        "session_id": "proc-1",
        "trace_id": "00-abc-def-01",
    }
    http = r.resolve("t", {}, None, {"Mcp-Session-Id": "http-7"})
    assert http.ids["session_id"] == "http-7"  # the HTTP session, when the client has one


def test_resources_collect_every_path_that_resolves(tmp_path: Path) -> None:
    m = _mapping(tmp_path, "fields:\n  resources: [arguments.path, arguments.urls]\n")
    r = IdentityResolver.build(m, {"agent_id": "a"}, upstream_name="fleet")
    got = r.resolve("t", {"path": "file:///a", "urls": ["https://x", 3]})
    assert got.resources == ["file:///a", "https://x"]


def test_a_missing_agent_id_names_the_paths_tried(tmp_path: Path) -> None:
    m = _mapping(tmp_path, "fields:\n  agent_id: [headers.x-agent-id, meta.agent]\n")
    r = IdentityResolver.build(m, {}, upstream_name="fleet")
    with pytest.raises(
        DecodeError, match=re.escape("no agent_id: 'headers.x-agent-id', 'meta.agent'")
    ):
        r.resolve("t", {})


@pytest.mark.parametrize(
    ("text", "constants", "message"),
    [
        ("fields:\n  agent_id: body.params.x\n", {}, "fields.agent_id: path 'body.params.x'"),
        ("fields:\n  ts: meta.time\n", {}, "fields.ts: not used by the proxy"),
        ("body: body\n", {}, "body: not used by the proxy"),
        ("fields: [\n", {}, "not valid YAML"),
        ("fieldz: {}\n", {}, "fieldz"),
        ("", {"agent_kind": "robot"}, "agent_kind 'robot': must be one of delegated, autonomous"),
        ("fields:\n  agent_id: claims.sub\n", {}, "reads claims.* but no --jwt-key"),
    ],
)
def test_configuration_errors_name_the_key(
    tmp_path: Path, text: str, constants: dict[str, str], message: str
) -> None:
    m = _mapping(tmp_path, text)
    with pytest.raises(IdentityConfigError, match=re.escape(message)):
        IdentityResolver.build(m, constants, upstream_name="fleet")


def test_a_missing_mapping_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(IdentityConfigError, match=re.escape("nope.yaml")):
        IdentityResolver.build(tmp_path / "nope.yaml", {}, upstream_name="fleet")


def test_claims_come_from_a_verified_token_only(tmp_path: Path) -> None:
    m = _mapping(
        tmp_path,
        "fields:\n  agent_id: [claims.act.sub, claims.sub]\n  sponsor: claims.sub\n"
        "  credential_id: claims.jti\n",
    )
    r = IdentityResolver.build(m, {}, upstream_name="fleet", jwt=HS)
    delegated = {"sub": "alice@corp", "act": {"sub": "agent:code/3"}, "jti": "tok-1"}
    got = r.resolve("t", {}, None, _bearer({**delegated, "aud": "mcp-fleet"}))
    assert got.ids["agent_id"] == "agent:code/3"  # RFC 8693: the actor is the agent
    assert got.ids["sponsor"] == "alice@corp" and got.ids["credential_id"] == "tok-1"

    forged = _bearer({**delegated, "aud": "mcp-fleet"}, key="another-key-also-32-bytes-long-ok!")
    with pytest.raises(DecodeError, match="bearer token rejected: Signature verification failed"):
        r.resolve("t", {}, None, forged)
    with pytest.raises(DecodeError, match="bearer token rejected"):  # wrong audience
        r.resolve("t", {}, None, _bearer({**delegated, "aud": "elsewhere"}))
    with pytest.raises(DecodeError, match="not a bearer token"):
        r.resolve("t", {}, None, {"authorization": "Basic dXNlcjpwYXNz"})
    with pytest.raises(DecodeError, match="no agent_id"):  # no token: no claims, no identity
        r.resolve("t", {}, None, {})
