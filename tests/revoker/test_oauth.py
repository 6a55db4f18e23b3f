"""RFC 7009 revocation against a real local authorization-server endpoint."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from urllib.parse import parse_qs

import pytest

from monitor.retry import RetryPolicy
from monitor.revoker.actuators.oauth import OAuthRevocation
from monitor.revoker.exceptions import ActuatorError
from monitor.revoker.ledger import MemoryLedger
from monitor.revoker.revoker import Revoker
from tests.revoker.servers import Behaviour, HTTPServer, Reply, Request, closed_url
from tests.revoker.support import command

Start = Callable[[Behaviour], HTTPServer]


class AuthServer:
    """RFC 7009 §2: form POST, client auth, 200 whether or not the token was known."""

    def __init__(self, client_id: str = "mcpmon", secret: str = "s3cret") -> None:
        self.expect = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        self.known = {"cred-1"}
        self.revoked: list[tuple[str, str]] = []

    def __call__(self, req: Request) -> Reply:
        if req.method != "POST" or req.path != "/oauth2/revoke":
            return Reply(404)
        if req.headers.get("authorization") != self.expect:
            return Reply(401, b'{"error":"invalid_client"}')
        if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return Reply(400, b'{"error":"invalid_request"}')
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        if "token" not in form:
            return Reply(400, b'{"error":"invalid_request"}')
        self.revoked.append((form["token"], form.get("token_type_hint", "")))
        self.known.discard(form["token"])
        return Reply(200)


def actuator(url: str, secret: str = "s3cret", timeout: float = 2.0) -> OAuthRevocation:
    return OAuthRevocation(url, "mcpmon", secret, timeout=timeout)


async def apply(act: OAuthRevocation, **kw: object):  # type: ignore[no-untyped-def]
    try:
        return await act.apply(command(**kw))
    finally:
        await act.aclose()


def test_revokes_every_credential_with_client_auth(http_server: Start) -> None:
    auth = AuthServer()
    srv = http_server(auth)
    detail = asyncio.run(apply(actuator(srv.url("/oauth2/revoke"))))
    assert sorted(auth.revoked) == [("cred-1", "access_token"), ("cred-2", "access_token")]
    assert detail == f"revoked 2 token(s) at {srv.url('/oauth2/revoke')}"
    # unknown tokens (cred-2) and repeats get 200 too: revoking again is harmless
    asyncio.run(apply(actuator(srv.url("/oauth2/revoke"))))
    assert len(auth.revoked) == 4


def test_nothing_to_revoke_sends_nothing(http_server: Start) -> None:
    srv = http_server(AuthServer())
    detail = asyncio.run(apply(actuator(srv.url("/oauth2/revoke")), credential_ids=[]))
    assert detail.startswith("nothing to revoke") and srv.requests == []


def test_bad_client_credentials_are_final(http_server: Start) -> None:
    srv = http_server(AuthServer())
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(actuator(srv.url("/oauth2/revoke"), secret="wrong")))
    assert not err.value.retryable and "HTTP 401" in str(err.value)
    assert "invalid_client" in str(err.value)


def test_503_is_retryable(http_server: Start) -> None:
    srv = http_server(lambda r: Reply(503, b'{"error":"temporarily_unavailable"}'))
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(actuator(srv.url("/oauth2/revoke"))))
    assert err.value.retryable and "HTTP 503" in str(err.value)


def test_server_down_is_retryable() -> None:
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(actuator(closed_url("/oauth2/revoke"))))
    assert err.value.retryable and "ConnectError" in str(err.value)


def test_slow_server_times_out_retryably(http_server: Start) -> None:
    # the reply is late by far more than the timeout, and the timeout is long enough that a
    # loaded machine (the unit tests run on two processes) still connects within it: with
    # 0.1 s the connect itself sometimes timed out and the ReadTimeout check failed
    srv = http_server(lambda r: Reply(200, delay=5.0))
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(actuator(srv.url("/oauth2/revoke"), timeout=1.0)))
    assert err.value.retryable and "ReadTimeout" in str(err.value)


def test_revoker_rides_out_an_outage_and_acks_what_happened(http_server: Start) -> None:
    auth = AuthServer()
    calls = {"n": 0}

    def flaky(req: Request) -> Reply:
        calls["n"] += 1
        return Reply(503) if calls["n"] <= 4 else auth(req)  # two attempts of two tokens

    srv = http_server(flaky)

    async def go():  # type: ignore[no-untyped-def]
        r = Revoker(
            [actuator(srv.url("/oauth2/revoke"))],
            MemoryLedger(),
            RetryPolicy(attempts=4, base_seconds=0.01),
        )
        try:
            return await r.handle(command()), await r.handle(command())
        finally:
            await r.aclose()

    first, again = asyncio.run(go())
    assert first.acks[0].status == "applied" and "(attempt 3)" in first.acks[0].detail
    assert again.acks[0].status == "already_applied"
    assert sorted(t for t, _ in auth.revoked) == ["cred-1", "cred-2"]  # nothing lost, nothing twice


def test_errors_name_the_oauth_actuator(http_server: Start) -> None:
    """The ack and the revocation_failed alert say which actuator failed, and where."""
    srv = http_server(AuthServer())
    url = srv.url("/oauth2/revoke")
    with pytest.raises(ActuatorError) as status:
        asyncio.run(apply(actuator(url, secret="wrong")))
    assert str(status.value) == f'oauth: HTTP 401 from {url}: {{"error":"invalid_client"}}'
    with pytest.raises(ActuatorError) as down:
        asyncio.run(apply(actuator(closed_url("/oauth2/revoke"))))
    assert str(down.value).startswith("oauth: ConnectError: ")


def test_a_failed_attempt_reports_the_first_credential_whatever_answered_first(
    http_server: Start,
) -> None:
    """The tokens are revoked together, but an attempt ends when every request has its
    answer, and the failure it reports is that of the first failing credential in the
    command's order: the ack and the alert do not depend on which answer came first."""

    def replies(req: Request) -> Reply:
        token = parse_qs(req.body.decode())["token"][0]
        if token == "cred-1":  # the first credential is refused, late
            return Reply(400, b'{"error":"unsupported_token_type"}', delay=0.5)
        return Reply(503, b'{"error":"temporarily_unavailable"}')  # the second: at once

    srv = http_server(replies)
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(actuator(srv.url("/oauth2/revoke"))))
    assert not err.value.retryable
    assert "HTTP 400" in str(err.value) and "unsupported_token_type" in str(err.value)
    assert len(srv.requests) == 2
