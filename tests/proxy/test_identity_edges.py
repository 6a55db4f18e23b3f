"""Edges of the proxy's identity resolution that a caller or an operator can observe.

The texts pinned here are what people read: a configuration error is what the
operator sees when ``mcpmon proxy`` refuses to start, and a call's refusal
reason travels to the client (``data.error`` of -32012 ``no_identity``) with
the field it names (``data.field``). That field is also a decision: the gateway
refuses a call whose ``DecodeError.field`` is ``"claims"`` (a missing or bad
bearer token) even when it only monitors (``gateway.py``: ``_unidentified`` and
``_listing``), so a token error that named another field, or none, would let a
call without a good token through a monitoring-only proxy.
"""

from __future__ import annotations

import queue
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from monitor.errors import DecodeError
from monitor.proxy.exceptions import IdentityConfigError
from monitor.proxy.identity import IdentityResolver, JwtConfig, TokenExpired

SECRET = "a-test-hmac-secret-of-at-least-32-bytes!"
HS = JwtConfig(key=SECRET, algorithms=("HS256",), audience="mcp-fleet", issuer="https://idp.corp")
LOOSE = JwtConfig(key=SECRET, algorithms=("HS256",), no_audience=True, no_issuer=True)
LIVE = {"aud": "mcp-fleet", "iss": "https://idp.corp", "exp": int(time.time()) + 3600}


def _mapping(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "identity.yaml"
    p.write_text(text)
    return p


def _token(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


# ---------------------------------------------------------------- JwtConfig: start errors
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"no_audience": True, "no_issuer": True},
            "bearer-token verification needs exactly one of --jwt-key FILE and "
            "--jwt-jwks-url URL",
        ),
        (
            {"key": SECRET, "jwks_url": "http://127.0.0.1:1/jwks", "no_audience": True,
             "no_issuer": True},
            "bearer-token verification needs exactly one of --jwt-key FILE and "
            "--jwt-jwks-url URL",
        ),
        (
            {"key": SECRET, "issuer": "https://idp.corp"},
            "--jwt-audience AUD is required: the audience this proxy's tokens are minted for "
            "(or --jwt-no-audience to accept tokens minted for any service)",
        ),
        (
            {"key": SECRET, "audience": "mcp-fleet"},
            "--jwt-issuer ISS is required: the issuer whose tokens are accepted "
            "(or --jwt-no-issuer to accept any issuer holding the key)",
        ),
        (
            {"key": SECRET, "audience": "mcp-fleet", "no_audience": True, "no_issuer": True},
            "--jwt-audience and --jwt-no-audience contradict each other",
        ),
        (
            {"key": SECRET, "issuer": "https://idp.corp", "no_issuer": True, "no_audience": True},
            "--jwt-issuer and --jwt-no-issuer contradict each other",
        ),
        (
            {"jwks_url": "file:///etc/jwks.json", "no_audience": True, "no_issuer": True},
            "--jwt-jwks-url file:///etc/jwks.json: Invalid JWKS URI scheme 'file': only "
            "'http' and 'https' are supported.",
        ),
    ],
    ids=["no-key", "two-keys", "audience", "issuer", "aud-contradiction",
         "iss-contradiction", "jwks-scheme"],
)  # fmt: skip
def test_jwt_start_errors_tell_the_operator_which_flag_to_give(
    kwargs: dict[str, Any], message: str
) -> None:
    """The exact text the operator reads when the proxy refuses to start: names the flags."""
    with pytest.raises(IdentityConfigError) as refused:
        JwtConfig(algorithms=("HS256",), **kwargs)
    assert str(refused.value) == message


def test_a_jwks_endpoint_that_never_answers_is_given_up_after_the_configured_timeout() -> None:
    """--jwt-jwks-timeout bounds a key fetch: a JWKS that accepts and never answers refuses
    the call (no_identity), it does not hold it (PyJWT's own default waits 30 s)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the kernel completes the handshake; nothing ever reads or answers
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/jwks"
    cfg = JwtConfig(jwks_url=url, audience="mcp-fleet", issuer="https://idp.corp",
                    jwks_timeout=0.5)  # fmt: skip
    token = jwt.encode({**LIVE, "sub": "a"}, SECRET, "HS256", headers={"kid": "k1"})
    got: queue.Queue[BaseException | dict[str, Any]] = queue.Queue()

    def verify() -> None:
        try:
            got.put(cfg.claims({"Authorization": f"Bearer {token}"}))
        except BaseException as err:  # handed to the test thread
            got.put(err)

    threading.Thread(target=verify, daemon=True).start()
    try:
        outcome = got.get(timeout=10)  # a guard, not a measurement: the timeout is 0.5 s
    except queue.Empty:
        pytest.fail("a JWKS that never answers held the call past 10 s")
    finally:
        listener.close()  # resets the pending connection: a stuck fetch ends too
    assert isinstance(outcome, DecodeError) and outcome.field == "claims"
    assert outcome.reason.startswith("bearer token rejected: Fail to fetch data from the url")
    assert "timed out" in outcome.reason


# ---------------------------------------------------------------- JwtConfig.claims
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (None, "no bearer token (Authorization: Bearer ...)"),
        ({}, "no bearer token (Authorization: Bearer ...)"),
        ({"Authorization": ""}, "no bearer token (Authorization: Bearer ...)"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Authorization header is not a bearer token"),
        ({"authorization": "Bearer    "}, "Authorization header is not a bearer token"),
        ({"AUTHORIZATION": "Bearer"}, "Authorization header is not a bearer token"),
    ],
)
def test_a_missing_or_malformed_authorization_is_refused_naming_the_token(
    headers: dict[str, str] | None, reason: str
) -> None:
    """The reason the client reads, and ``field == "claims"``: what makes the gateway refuse
    the call even when it only monitors."""
    with pytest.raises(DecodeError) as refused:
        HS.claims(headers)
    assert (refused.value.reason, refused.value.field) == (reason, "claims")
    assert not isinstance(refused.value, TokenExpired)


def test_white_space_around_the_token_is_not_part_of_it() -> None:
    """``Bearer`` is split from the token at the first space; extra spaces before or after
    the token (some clients send them) do not make a good token a bad header."""
    token = _token({**LIVE, "sub": "agent:code/3"})
    for value in (f"Bearer  {token}", f"Bearer {token} ", f"bearer \t{token}"):
        assert HS.claims({"Authorization": value})["sub"] == "agent:code/3", repr(value)


def test_turned_off_audience_and_issuer_accept_a_token_that_carries_neither() -> None:
    """--jwt-no-audience / --jwt-no-issuer: the operator said there is none to check, so a
    token without ``aud`` or ``iss`` is a credential; ``exp`` is still required."""
    exp = LIVE["exp"]
    assert LOOSE.claims({"Authorization": f"Bearer {_token({'sub': 's', 'exp': exp})}"}) == {
        "sub": "s",
        "exp": exp,
    }
    only_aud = JwtConfig(key=SECRET, algorithms=("HS256",), no_audience=True, issuer="https://i")
    with_iss = _token({"sub": "s", "iss": "https://i", "exp": exp})
    assert only_aud.claims({"Authorization": f"Bearer {with_iss}"})["sub"] == "s"
    with pytest.raises(DecodeError, match=re.escape('Token is missing the "iss" claim')):
        only_aud.claims({"Authorization": f"Bearer {_token({'sub': 's', 'exp': exp})}"})


def test_a_payload_that_is_not_a_json_object_is_refused_as_a_bad_token() -> None:
    """A signed token whose payload is a JSON array has no claims: refused by PyJWT's own
    check, as any token that does not verify (field ``claims``)."""
    token = jwt.api_jws.encode(b'["agent:admin"]', SECRET, "HS256")
    with pytest.raises(DecodeError) as refused:
        LOOSE.claims({"Authorization": f"Bearer {token}"})
    assert refused.value.field == "claims"
    assert refused.value.reason == (
        "bearer token rejected: Invalid payload string: must be a json object"
    )


# ---------------------------------------------------------------- IdentityResolver: start
def test_a_mapping_reading_nested_claims_without_verification_does_not_start(
    tmp_path: Path,
) -> None:
    """``claims.act.sub`` (the RFC 8693 actor) is a claim too: read only once verified."""
    m = _mapping(tmp_path, "fields:\n  agent_id: claims.act.sub\n")
    with pytest.raises(IdentityConfigError) as refused:
        IdentityResolver.build(m, {}, upstream_name="fleet")
    assert str(refused.value) == (
        "the identity mapping reads claims.* but no --jwt-key / --jwt-jwks-url is given: "
        "the proxy never uses the claims of a token it has not verified"
    )


def test_the_callers_word_for_who_calls_is_refused_with_the_reason(tmp_path: Path) -> None:
    m = _mapping(tmp_path, "fields:\n  agent_id: [claims.act.sub, headers.x-agent-id]\n")
    with pytest.raises(IdentityConfigError) as refused:
        IdentityResolver.build(m, {}, upstream_name="fleet", jwt=HS)
    assert str(refused.value) == (
        "fields.agent_id: path 'headers.x-agent-id' is the caller's word; with bearer tokens "
        "verified, who calls comes from claims.* (or configuration) only: a caller without a "
        "token, or whose token lacks the claim, would name its own agent_id"
    )


def test_an_unverified_meta_key_with_dots_is_reported_for_the_start_warning(
    tmp_path: Path,
) -> None:
    """MCP ``_meta`` keys hold dots (``com.example/agent``): the root is the first segment."""
    m = _mapping(tmp_path, "fields:\n  agent_id: meta.com.example/agent\n")
    r = IdentityResolver.build(m, {}, upstream_name="fleet")
    assert r.unverified_sources() == {"agent_id": ["meta.com.example/agent"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("body: params\n", "body: not used by the proxy (remove it)"),
        (
            "fields:\n  ts: meta.time\n",
            "fields.ts: not used by the proxy (events carry the proxy's clock)",
        ),
        (
            "fields:\n  agent_id: body.params.x\n",
            "fields.agent_id: path 'body.params.x' starts with 'body'; a proxy path starts "
            "with one of meta, headers, claims, arguments, tool, transport",
        ),
    ],
)
def test_mapping_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    m = _mapping(tmp_path, text)
    with pytest.raises(IdentityConfigError) as refused:
        IdentityResolver.build(m, {}, upstream_name="fleet")
    assert str(refused.value) == f"{m}: {message}"


@pytest.mark.parametrize(
    ("constants", "message"),
    [
        ({"agentid": "a"}, "unknown identity constant 'agentid'"),
        ({"credential_id": "c1\u200b"}, "--credential-id: credential_id: invisible character U+200B"),
        ({"task_id": " T-1"}, "--task-id: task_id: leading or trailing white space"),
        (
            {"agent_kind": "robot"},
            "agent_kind 'robot': must be one of delegated, autonomous (or left out: the "
            "charter decides)",
        ),
    ],
)  # fmt: skip
def test_flag_constant_errors_name_the_flag_and_the_field(
    constants: dict[str, str], message: str
) -> None:
    with pytest.raises(IdentityConfigError) as refused:
        IdentityResolver.build(None, constants, upstream_name="fleet")
    assert str(refused.value) == message


def test_configured_session_and_trace_paths_come_before_the_fallbacks(tmp_path: Path) -> None:
    """The fallbacks (transport session, ``meta.traceparent``) are tried after the mapping's
    own paths for ``session_id`` and ``trace_id``, not instead of them."""
    m = _mapping(tmp_path, "fields:\n  session_id: meta.conversation\n  trace_id: meta.trace\n")
    r = IdentityResolver.build(m, {"agent_id": "a"}, upstream_name="fleet", session_id="proc-1")
    got = r.resolve("t", {}, {"conversation": "conv-9", "trace": "tr-1", "traceparent": "00-x"})
    assert (got.ids["session_id"], got.ids["trace_id"]) == ("conv-9", "tr-1")
    fallback = r.resolve("t", {}, {"traceparent": "00-x"})
    assert (fallback.ids["session_id"], fallback.ids["trace_id"]) == ("proc-1", "00-x")


# ---------------------------------------------------------------- IdentityResolver: per call
ROOTS_MAPPING = (
    "fields:\n  task_id: headers.x-task\n"
    "  resources: [tool, arguments.path, meta.resource, transport.session_id]\n"
)


def test_every_root_of_the_request_document_resolves(tmp_path: Path) -> None:
    """``tool``, ``arguments``, ``meta``, ``headers`` and ``transport``: each root a mapping
    may name reads what the call carries."""
    r = IdentityResolver.build(_mapping(tmp_path, ROOTS_MAPPING), {"agent_id": "a"},
                               upstream_name="fleet")  # fmt: skip
    got = r.resolve(
        "read_file",
        {"path": "/srv/app.py"},
        {"resource": "repo://app"},
        {"X-Task": "T-7", "Mcp-Session-Id": "http-3"},
        session_header=True,
    )
    assert got.ids["task_id"] == "T-7"
    assert got.resources == ["read_file", "/srv/app.py", "repo://app", "http-3"]


def test_an_expired_tokens_identity_is_resolved_from_the_whole_request(tmp_path: Path) -> None:
    """The denied event of an expired token carries what the call carries (task, trace,
    resources, session), as any other event, under the identity its verified claims name."""
    m = _mapping(
        tmp_path,
        "fields:\n  agent_id: claims.sub\n  task_id: meta.task\n  trace_id: headers.x-trace\n"
        "  resources: [tool, arguments.path]\n",
    )
    r = IdentityResolver.build(m, {}, upstream_name="fleet", jwt=HS, session_id="proc-1")
    token = _token({**LIVE, "sub": "agent:code/3", "exp": int(time.time()) - 60})
    headers = {"Authorization": f"Bearer {token}", "X-Trace": "tr-5", "Mcp-Session-Id": "h-2"}
    with pytest.raises(TokenExpired) as expired:
        r.resolve("read_file", {"path": "/srv/app.py"}, {"task": "T-7"}, headers,
                  session_header=True)  # fmt: skip
    who = expired.value.identity
    assert who is not None
    assert who.ids == {
        "agent_id": "agent:code/3",
        "task_id": "T-7",
        "trace_id": "tr-5",
        "session_id": "h-2",
        "server": "fleet",
    }
    assert who.resources == ["read_file", "/srv/app.py"]


def test_an_agent_kind_from_the_request_must_be_a_known_kind(tmp_path: Path) -> None:
    r = IdentityResolver.build(_mapping(tmp_path, "fields:\n  agent_kind: meta.kind\n"),
                               {"agent_id": "a"}, upstream_name="fleet")  # fmt: skip
    assert r.resolve("t", {}, {"kind": "autonomous"}).ids["agent_kind"] == "autonomous"
    with pytest.raises(DecodeError) as refused:
        r.resolve("t", {}, {"kind": "robot"})
    assert (refused.value.reason, refused.value.field) == (
        "agent_kind 'robot' is not one of delegated, autonomous",
        "agent_kind",
    )


def test_an_identity_field_may_be_512_characters_and_not_one_more(tmp_path: Path) -> None:
    r = IdentityResolver.build(_mapping(tmp_path, "fields:\n  task_id: meta.task\n"),
                               {"agent_id": "a"}, upstream_name="fleet")  # fmt: skip
    assert r.resolve("t", {}, {"task": "T" * 512}).ids["task_id"] == "T" * 512
    with pytest.raises(DecodeError) as refused:
        r.resolve("t", {}, {"task": "T" * 513})
    assert (refused.value.reason, refused.value.field) == (
        "task_id: longer than 512 characters",
        "task_id",
    )


def test_an_overlong_agent_kind_is_refused_by_its_length_without_being_quoted(
    tmp_path: Path,
) -> None:
    """The refusal of an unknown kind quotes it, to the client and in the log: a 1 MB header
    is refused as too long first, so no refusal repeats more than 512 characters of it."""
    r = IdentityResolver.build(_mapping(tmp_path, "fields:\n  agent_kind: meta.kind\n"),
                               {"agent_id": "a"}, upstream_name="fleet")  # fmt: skip
    with pytest.raises(DecodeError) as refused:
        r.resolve("t", {}, {"kind": "robot" * 200_000})
    assert (refused.value.reason, refused.value.field) == (
        "agent_kind: longer than 512 characters",
        "agent_kind",
    )


def test_a_missing_credential_names_every_path_tried(tmp_path: Path) -> None:
    m = _mapping(tmp_path, "fields:\n  credential_id: [meta.cred, meta.credential]\n")
    r = IdentityResolver.build(m, {"agent_id": "a"}, upstream_name="fleet")
    with pytest.raises(DecodeError) as refused:
        r.resolve("t", {}, {})
    assert refused.value.field == "credential_id"
    assert refused.value.reason == (
        "no credential_id: 'meta.cred', 'meta.credential' not in the request (a call the "
        "deny-list cannot check by its credential is refused)"
    )
