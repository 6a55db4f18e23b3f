"""Settings → actuators, ledger and retry policy; configuration errors name the variable."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest

from monitor.revoker.actuators.base import Actuator
from monitor.revoker.actuators.webhook import sign
from monitor.revoker.build import (
    actuator_names,
    build_actuator,
    build_ledger,
    build_revoker,
    retry_policy,
)
from monitor.revoker.exceptions import ActuatorError, LedgerUnavailable, RevokerError
from monitor.revoker.ledger import MemoryLedger, RedisLedger
from monitor.settings import load_settings
from tests.revoker.servers import Behaviour, HTTPServer, RedisServer, Reply
from tests.revoker.support import command

Start = Callable[[Behaviour], HTTPServer]


def settings(**env: str):  # type: ignore[no-untyped-def]
    return load_settings(env={f"MCPMON_{k.upper()}": v for k, v in env.items()})


async def apply(act: Actuator, **kw: Any) -> str:
    try:
        return await act.apply(command(**kw))
    finally:
        await act.aclose()


def test_defaults_build_a_denylist_with_a_redis_ledger() -> None:
    r = build_revoker(settings())
    try:
        assert [a.name for a in r.actuators] == ["denylist"]
        assert isinstance(r.ledger, RedisLedger)
        assert r.policy.schedule() == (0.5, 1.0, 2.0, 4.0)
    finally:
        asyncio.run(r.aclose())  # no connection was opened: closing is instant


def test_every_actuator_from_settings() -> None:
    s = settings(
        revoker_actuators="denylist, oauth,webhook,vault,oauth",
        revoker_ledger="memory",
        revoker_oauth_url="http://127.0.0.1:1/revoke",
        revoker_oauth_client_id="mcpmon",
        revoker_webhook_url="http://127.0.0.1:1/hook",
        revoker_webhook_secret="k",
        revoker_vault_addr="http://127.0.0.1:1",
        revoker_vault_token="t",
    )
    r = build_revoker(s)
    try:
        assert [a.name for a in r.actuators] == ["denylist", "oauth", "webhook", "vault"]
        assert isinstance(r.ledger, MemoryLedger)
    finally:
        asyncio.run(r.aclose())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"revoker_actuators": "denylist,ldap"}, "unknown actuator(s) ldap"),
        ({"revoker_actuators": " , "}, "names no actuator"),
        (
            {"revoker_actuators": "oauth"},
            "MCPMON_REVOKER_OAUTH_URL, MCPMON_REVOKER_OAUTH_CLIENT_ID",
        ),
        (
            {"revoker_actuators": "webhook", "revoker_webhook_url": "http://x"},
            "MCPMON_REVOKER_WEBHOOK_SECRET",
        ),
        ({"revoker_actuators": "vault"}, "MCPMON_REVOKER_VAULT_ADDR"),
    ],
)
def test_configuration_errors_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(RevokerError) as err:
        build_revoker(settings(**env))
    assert message in str(err.value)


def test_retry_policy_from_settings() -> None:
    p = retry_policy(
        settings(
            revoker_retry_attempts="3",
            revoker_retry_base_seconds="2",
            revoker_retry_max_seconds="3",
        )
    )
    assert p.schedule() == (2.0, 3.0)
    assert actuator_names(settings()) == ["denylist"]


def test_secrets_do_not_show_in_settings_repr() -> None:
    s = settings(revoker_webhook_secret="hunter2", revoker_oauth_client_secret="pw")
    assert "hunter2" not in repr(s) and "pw'" not in repr(s)


# ------------------------------------------------------------------ configuration errors
def test_unknown_actuators_are_named_with_the_known_ones() -> None:
    with pytest.raises(RevokerError) as err:
        actuator_names(settings(revoker_actuators="denylist,ldap,kerberos"))
    assert str(err.value) == (
        "unknown actuator(s) ldap, kerberos in MCPMON_REVOKER_ACTUATORS; "
        "known: denylist, oauth, webhook, vault"
    )


def test_an_empty_actuator_list_names_the_variable() -> None:
    with pytest.raises(RevokerError) as err:
        actuator_names(settings(revoker_actuators=" , "))
    assert str(err.value) == "MCPMON_REVOKER_ACTUATORS names no actuator"


def test_build_actuator_refuses_an_unknown_name() -> None:
    with pytest.raises(RevokerError) as err:
        build_actuator(settings(), "ldap")
    assert str(err.value) == "unknown actuator 'ldap'"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("oauth", "actuator oauth needs MCPMON_REVOKER_OAUTH_URL, MCPMON_REVOKER_OAUTH_CLIENT_ID"),
        (
            "webhook",
            "actuator webhook needs MCPMON_REVOKER_WEBHOOK_URL, MCPMON_REVOKER_WEBHOOK_SECRET",
        ),
        ("vault", "actuator vault needs MCPMON_REVOKER_VAULT_ADDR, MCPMON_REVOKER_VAULT_TOKEN"),
    ],
)
def test_build_actuator_names_the_actuator_and_every_missing_variable(
    name: str, message: str
) -> None:
    """build_actuator alone (not only build_revoker) checks an actuator's configuration."""
    with pytest.raises(RevokerError) as err:
        build_actuator(settings(), name)
    assert str(err.value) == message


# ------------------------------------------------------------------ the settings reach them
# Each actuator built from settings, run against a real server: the values an operator set
# (URL, prefix, expiry, client, token, namespace, template, timeout) are the ones used.


def test_denylist_uses_the_configured_redis_prefix_and_expiry(
    redis_server: RedisServer, redis_url: str
) -> None:
    s = settings(
        revoker_redis_url=redis_url,
        revoker_denylist_prefix="acme:deny:",
        revoker_denylist_ttl_seconds="1234",
    )
    # a task command naming no credential is held for the configured expiry
    asyncio.run(apply(build_actuator(s, "denylist"), credential_ids=[]))
    assert redis_server.command("EXISTS", "mcpmon:deny:task:task-1") == b":0\r\n"
    ttl = int(redis_server.command("TTL", "acme:deny:task:task-1")[1:])
    assert 1224 < ttl <= 1234


def test_oauth_uses_the_configured_endpoint_client_and_token_type_hint(http_server: Start) -> None:
    srv = http_server(lambda r: Reply(200))
    s = settings(
        revoker_oauth_url=srv.url("/oauth2/revoke"),
        revoker_oauth_client_id="mcpmon",
        revoker_oauth_client_secret="s3cret",
        revoker_oauth_token_type_hint="refresh_token",
    )
    detail = asyncio.run(apply(build_actuator(s, "oauth"), credential_ids=["cred-1"]))
    assert detail == f"revoked 1 token(s) at {srv.url('/oauth2/revoke')}"
    (req,) = srv.requests
    assert req.path == "/oauth2/revoke"
    assert req.headers["authorization"] == "Basic " + base64.b64encode(b"mcpmon:s3cret").decode()
    assert parse_qs(req.body.decode()) == {
        "token": ["cred-1"],
        "token_type_hint": ["refresh_token"],
    }


def test_webhook_posts_to_the_configured_url_signed_with_the_configured_secret(
    http_server: Start,
) -> None:
    srv = http_server(lambda r: Reply(202))
    s = settings(revoker_webhook_url=srv.url("/soar"), revoker_webhook_secret="k3y")
    detail = asyncio.run(apply(build_actuator(s, "webhook")))
    assert detail == f"delivered to {srv.url('/soar')} (HTTP 202)"
    (req,) = srv.requests
    assert req.path == "/soar" and req.headers["x-mcpmon-signature"] == sign(b"k3y", req.body)


def test_vault_uses_the_configured_token_namespace_and_prefix_template(http_server: Start) -> None:
    srv = http_server(lambda r: Reply(204))
    s = settings(
        revoker_vault_addr=srv.url(""),
        revoker_vault_token="hvs.test",
        revoker_vault_namespace="team-a",
        revoker_vault_prefix_template="mcp/creds/{agent_id}/",
    )
    detail = asyncio.run(
        apply(build_actuator(s, "vault"), scope="agent", agent_id="a1", credential_ids=[])
    )
    assert detail == "revoked 0 lease(s) and prefix mcp/creds/a1/"
    (req,) = srv.requests
    assert (req.method, req.path) == ("PUT", "/v1/sys/leases/revoke-prefix/mcp/creds/a1/")
    assert req.headers["x-vault-token"] == "hvs.test"
    assert req.headers["x-vault-namespace"] == "team-a"


@pytest.mark.parametrize("name", ["oauth", "webhook", "vault"])
def test_http_actuators_give_up_a_request_after_the_configured_timeout(
    http_server: Start, name: str
) -> None:
    """MCPMON_REVOKER_TIMEOUT_SECONDS bounds each request: a reply later than it is a
    retryable timeout, not a success after a longer (default or unbounded) wait."""
    srv = http_server(lambda r: Reply(204, delay=0.6))
    s = settings(
        revoker_timeout_seconds="0.1",
        revoker_oauth_url=srv.url("/revoke"),
        revoker_oauth_client_id="mcpmon",
        revoker_webhook_url=srv.url("/soar"),
        revoker_webhook_secret="k",
        revoker_vault_addr=srv.url(""),
        revoker_vault_token="t",
    )
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(build_actuator(s, name)))
    assert err.value.retryable and "Timeout" in str(err.value)


def test_denylist_and_ledger_give_up_on_redis_after_the_configured_timeout(
    redis_server: RedisServer, redis_url: str
) -> None:
    """A Redis that does not answer (paused 400 ms) is a timeout after 0.1 s, for the
    deny-list (retryable) and the ledger (LedgerUnavailable), not a late success."""
    s = settings(revoker_redis_url=redis_url, revoker_timeout_seconds="0.1")

    async def ledger_applied() -> str | None:
        ledger = build_ledger(s)
        try:
            return await ledger.applied("cmd-1", "denylist")
        finally:
            await ledger.aclose()

    assert redis_server.command("CLIENT", "PAUSE", "400", "ALL") == b"+OK\r\n"
    try:
        with pytest.raises(ActuatorError) as err:
            asyncio.run(apply(build_actuator(s, "denylist")))
        assert err.value.retryable and "Timeout" in str(err.value)
    finally:
        redis_server.command("CLIENT", "UNPAUSE")
    assert redis_server.command("CLIENT", "PAUSE", "400", "ALL") == b"+OK\r\n"
    try:
        with pytest.raises(LedgerUnavailable, match="Timeout"):
            asyncio.run(ledger_applied())
    finally:
        redis_server.command("CLIENT", "UNPAUSE")


def test_the_redis_ledger_keeps_an_entry_for_the_configured_time(
    redis_server: RedisServer, redis_url: str
) -> None:
    s = settings(revoker_redis_url=redis_url, revoker_ledger_ttl_seconds="4321")

    async def record() -> str:
        ledger = build_ledger(s)
        assert isinstance(ledger, RedisLedger)
        try:
            await ledger.record("cmd-1", "denylist", "denied 1 key(s)")
            return ledger.key("cmd-1", "denylist")
        finally:
            await ledger.aclose()

    key = asyncio.run(record())
    ttl = int(redis_server.command("TTL", key)[1:])
    assert 4311 < ttl <= 4321


def test_an_attempt_may_take_two_requests_and_a_second() -> None:
    """The revoker's own bound on one attempt: 2 x MCPMON_REVOKER_TIMEOUT_SECONDS + 1 s (an
    actuator may make two requests in one attempt), so the actuator's timeout fires first."""
    r = build_revoker(settings(revoker_timeout_seconds="3", revoker_ledger="memory"))
    try:
        assert r.attempt_timeout == 7.0
    finally:
        asyncio.run(r.aclose())


def test_the_revoker_redacts_with_the_deployments_rules(http_server: Start) -> None:
    """MCPMON_REDACT_PATTERNS and MCPMON_REDACT_EMAILS apply to what the revoker says: the
    receiver's reply quoted in a failed ack and in the alert."""
    srv = http_server(lambda r: Reply(400, b"account acct-12345 locked; ask ops@example.com"))
    s = settings(
        revoker_actuators="webhook",
        revoker_ledger="memory",
        revoker_webhook_url=srv.url("/soar"),
        revoker_webhook_secret="k",
        redact_patterns='["acct-[0-9]+"]',
        redact_emails="true",
    )
    r = build_revoker(s)

    async def go():  # type: ignore[no-untyped-def]
        try:
            return await r.handle(command())
        finally:
            await r.aclose()

    out = asyncio.run(go())
    (ack,) = out.acks
    assert ack.status == "failed"
    assert "account [REDACTED:custom-1] locked; ask [REDACTED:email]" in ack.detail
    text = b"".join(x.to_json() for x in [*out.acks, *out.alerts])
    assert b"acct-12345" not in text and b"ops@example.com" not in text
