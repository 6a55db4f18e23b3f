"""Who is calling: the proxy's identity mapping, its configuration errors and token claims."""

from __future__ import annotations

import re
import time
from pathlib import Path

import jwt
import pytest

from monitor.errors import DecodeError
from monitor.proxy.exceptions import IdentityConfigError
from monitor.proxy.identity import IdentityResolver, JwtConfig

SECRET = "a-test-hmac-secret-of-at-least-32-bytes!"
HS = JwtConfig(key=SECRET, algorithms=("HS256",), audience="mcp-fleet", issuer="https://idp.corp")
GOOD = {"aud": "mcp-fleet", "iss": "https://idp.corp", "exp": int(time.time()) + 3600}


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
    http = r.resolve("t", {}, None, {"Mcp-Session-Id": "http-7"}, session_header=True)
    assert http.ids["session_id"] == "http-7"  # the HTTP session, when the client has one
    # a header the transport did not issue and check (protocol 2026-07-28 has no sessions)
    # is the caller's word: not the session
    told = r.resolve("t", {}, None, {"Mcp-Session-Id": "http-7"})
    assert told.ids["session_id"] == "proc-1"
    none = IdentityResolver.build(None, {"agent_id": "a"}, upstream_name="fleet")
    assert "session_id" not in none.resolve("t", {}, None, {"Mcp-Session-Id": "http-7"}).ids


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
    got = r.resolve("t", {}, None, _bearer({**delegated, **GOOD}))
    assert got.ids["agent_id"] == "agent:code/3"  # RFC 8693: the actor is the agent
    assert got.ids["sponsor"] == "alice@corp" and got.ids["credential_id"] == "tok-1"

    forged = _bearer({**delegated, **GOOD}, key="another-key-also-32-bytes-long-ok!")
    with pytest.raises(DecodeError, match="bearer token rejected: Signature verification failed"):
        r.resolve("t", {}, None, forged)
    with pytest.raises(DecodeError, match="bearer token rejected"):  # wrong audience
        r.resolve("t", {}, None, _bearer({**delegated, **GOOD, "aud": "elsewhere"}))
    with pytest.raises(DecodeError, match="not a bearer token"):
        r.resolve("t", {}, None, {"authorization": "Basic dXNlcjpwYXNz"})
    with pytest.raises(DecodeError, match="no bearer token"):  # no token: refused
        r.resolve("t", {}, None, {})


# ---------------------------------------------------------------- issue 13, item 7: tokens
@pytest.mark.parametrize(
    ("drop", "change", "message"),
    [
        ("exp", {}, 'Token is missing the "exp" claim'),
        ("aud", {}, 'Token is missing the "aud" claim'),
        ("iss", {}, 'Token is missing the "iss" claim'),
        (None, {"iss": "https://evil.example"}, "Invalid issuer"),
        (None, {"exp": int(time.time()) - 3600}, "Signature has expired"),
    ],
)
def test_a_token_needs_exp_audience_and_issuer(
    tmp_path: Path, drop: str | None, change: dict[str, object], message: str
) -> None:
    m = _mapping(tmp_path, "fields:\n  agent_id: claims.sub\n")
    r = IdentityResolver.build(m, {}, upstream_name="fleet", jwt=HS)
    claims: dict[str, object] = {"sub": "agent:code/3", **GOOD, **change}
    claims.pop(drop or "", None)
    with pytest.raises(DecodeError, match=re.escape(message)) as refused:
        r.resolve("t", {}, None, _bearer(claims))
    assert refused.value.field == "claims"


def test_audience_and_issuer_are_required_unless_turned_off_by_name() -> None:
    with pytest.raises(IdentityConfigError, match="--jwt-audience AUD is required"):
        JwtConfig(key=SECRET, algorithms=("HS256",), issuer="https://idp.corp")
    with pytest.raises(IdentityConfigError, match="--jwt-issuer ISS is required"):
        JwtConfig(key=SECRET, algorithms=("HS256",), audience="mcp-fleet")
    with pytest.raises(IdentityConfigError, match="exactly one of --jwt-key FILE and"):
        JwtConfig(algorithms=("HS256",), no_audience=True, no_issuer=True)
    loose = JwtConfig(key=SECRET, algorithms=("HS256",), no_audience=True, no_issuer=True)
    token = _bearer({"sub": "s", "aud": "anything", "exp": GOOD["exp"]})
    assert loose.claims(token)["sub"] == "s"  # turned off explicitly: any aud / iss
    with pytest.raises(DecodeError, match='missing the "exp" claim'):  # exp: always
        loose.claims(_bearer({"sub": "s"}))


# ---------------------------------------------------------------- item 4: identity by choice
@pytest.mark.parametrize("path", ["headers.x-agent-id", "meta.com.example/agent_id"])
def test_with_verified_tokens_who_calls_never_comes_from_the_callers_word(
    tmp_path: Path, path: str
) -> None:
    m = _mapping(tmp_path, f"fields:\n  agent_id: [claims.act.sub, {path}]\n")
    with pytest.raises(IdentityConfigError, match=re.escape(f"fields.agent_id: path '{path}'")):
        IdentityResolver.build(m, {}, upstream_name="fleet", jwt=HS)
    m = _mapping(tmp_path, f"fields:\n  agent_id: claims.sub\n  credential_id: {path}\n")
    with pytest.raises(IdentityConfigError, match=re.escape("fields.credential_id")):
        IdentityResolver.build(m, {}, upstream_name="fleet", jwt=HS)


def test_a_valid_token_without_the_claim_does_not_let_the_caller_name_itself(
    tmp_path: Path,
) -> None:
    m = _mapping(tmp_path, "fields:\n  agent_id: claims.act.sub\n  task_id: meta.task\n")
    r = IdentityResolver.build(m, {}, upstream_name="fleet", jwt=HS)
    no_act = _bearer({"sub": "alice@corp", **GOOD})
    with pytest.raises(DecodeError, match="no agent_id"):
        r.resolve("t", {}, {"agent_id": "spiffe://corp/agents/admin"}, no_act)
    assert r.unverified_sources() == {"task_id": ["meta.task"]}  # only the task: a warning


def test_unverified_sources_are_reported_for_the_start_warning(tmp_path: Path) -> None:
    m = _mapping(
        tmp_path,
        "fields:\n  agent_id: [headers.x-agent-id, meta.agent]\n  credential_id: headers.x-cred\n",
    )
    r = IdentityResolver.build(m, {}, upstream_name="fleet")
    assert r.unverified_sources() == {
        "agent_id": ["headers.x-agent-id", "meta.agent"],
        "credential_id": ["headers.x-cred"],
    }
    assert (
        IdentityResolver.build(None, {"agent_id": "a"}, upstream_name="f").unverified_sources()
        == {}
    )


# ---------------------------------------------------------------- item 5: canonical identity
def test_identity_fields_are_canonical_or_refused_naming_the_field(tmp_path: Path) -> None:
    m = _mapping(
        tmp_path,
        "fields:\n  agent_id: meta.agent\n  credential_id: meta.cred\n  task_id: meta.task\n",
    )
    r = IdentityResolver.build(m, {}, upstream_name="fleet")
    got = r.resolve("t", {}, {"agent": "SPIFFE://Corp/agents/A", "cred": "c1", "task": "T-1"})
    assert got.ids["agent_id"] == "spiffe://corp/agents/A"
    for field, value in [
        ("agent_id", "spiffe://corp/agents/A/"),
        ("agent_id", "spiffe://corp//agents/A"),
        ("agent_id", "spiffe://corp/agents/%41"),
        ("agent_id", " spiffe://corp/agents/A"),
        ("agent_id", "spiffe://corp/agents/A\u200b"),
        ("agent_id", "spiffe://corp/agents/\uff21"),
        ("agent_id", "spiffe://corp/agents/A\x00"),
        ("credential_id", "c1\u200b"),
        ("task_id", "T-1\x00"),
    ]:
        meta = {"agent": "spiffe://corp/agents/A", "cred": "c1", "task": "T-1"}
        meta[{"agent_id": "agent", "credential_id": "cred", "task_id": "task"}[field]] = value
        with pytest.raises(DecodeError) as refused:
            r.resolve("t", {}, meta)
        assert refused.value.field == field, value
        assert refused.value.reason.startswith(f"{field}: "), value


def test_a_mapped_credential_is_required(tmp_path: Path) -> None:
    m = _mapping(tmp_path, "fields:\n  agent_id: meta.agent\n  credential_id: meta.cred\n")
    r = IdentityResolver.build(m, {}, upstream_name="fleet")
    with pytest.raises(DecodeError, match=re.escape("no credential_id: 'meta.cred'")):
        r.resolve("t", {}, {"agent": "a"})


def test_flag_constants_are_canonical_or_a_start_error() -> None:
    r = IdentityResolver.build(None, {"agent_id": "SPIFFE://CORP/agents/A"}, upstream_name="f")
    assert r.resolve("t", {}).ids["agent_id"] == "spiffe://corp/agents/A"
    with pytest.raises(IdentityConfigError, match="--agent-id: agent_id: SPIFFE ID ends with"):
        IdentityResolver.build(None, {"agent_id": "spiffe://corp/agents/A/"}, upstream_name="f")
