"""Settings → actuators, ledger and retry policy; configuration errors name the variable."""

from __future__ import annotations

import asyncio

import pytest

from monitor.revoker.build import actuator_names, build_revoker, retry_policy
from monitor.revoker.exceptions import RevokerError
from monitor.revoker.ledger import MemoryLedger, RedisLedger
from monitor.settings import load_settings


def settings(**env: str):  # type: ignore[no-untyped-def]
    return load_settings(env={f"MCPMON_{k.upper()}": v for k, v in env.items()})


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
