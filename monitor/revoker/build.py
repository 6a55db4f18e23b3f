"""Build the revoker's actuators, ledger and retry policy from the one settings object."""

from __future__ import annotations

from monitor.core.redact import Redactor
from monitor.retry import RetryPolicy
from monitor.revoker.actuators.base import Actuator
from monitor.revoker.actuators.denylist import RedisDenyList, connect
from monitor.revoker.actuators.oauth import OAuthRevocation
from monitor.revoker.actuators.vault import VaultLeases
from monitor.revoker.actuators.webhook import SignedWebhook
from monitor.revoker.exceptions import RevokerError
from monitor.revoker.ledger import Ledger, MemoryLedger, RedisLedger
from monitor.revoker.revoker import Revoker
from monitor.settings import RevokerSettings, Settings

ACTUATORS = ("denylist", "oauth", "webhook", "vault")
#: the settings (of settings.revoker) an actuator cannot work without
_NEEDS = {
    "oauth": ("oauth_url", "oauth_client_id"),
    "webhook": ("webhook_url", "webhook_secret"),
    "vault": ("vault_addr", "vault_token"),
}


def actuator_names(settings: Settings) -> list[str]:
    names = [n.strip() for n in settings.revoker.actuators.split(",") if n.strip()]
    bad = [n for n in names if n not in ACTUATORS]
    if bad:
        raise RevokerError(
            f"unknown actuator(s) {', '.join(bad)} in MCPMON_REVOKER_ACTUATORS; "
            f"known: {', '.join(ACTUATORS)}"
        )
    if not names:
        raise RevokerError("MCPMON_REVOKER_ACTUATORS names no actuator")
    return list(dict.fromkeys(names))


def _need(settings: RevokerSettings, actuator: str, *fields: str) -> None:
    missing = []
    for f in fields:
        v = getattr(settings, f)
        if not (v.get_secret_value() if hasattr(v, "get_secret_value") else v):
            missing.append(RevokerSettings.variable(f))
    if missing:
        raise RevokerError(f"actuator {actuator} needs {', '.join(missing)}")


def build_actuator(settings: Settings, name: str) -> Actuator:
    t = settings.revoker.timeout_seconds
    if name == "denylist":
        return RedisDenyList(
            settings.revoker.redis_url,
            prefix=settings.revoker.denylist_prefix,
            ttl_seconds=settings.revoker.denylist_ttl_seconds,
            timeout=t,
        )
    if name == "oauth":
        _need(settings.revoker, name, *_NEEDS[name])
        return OAuthRevocation(
            settings.revoker.oauth_url,
            settings.revoker.oauth_client_id,
            settings.revoker.oauth_client_secret.get_secret_value(),
            token_type_hint=settings.revoker.oauth_token_type_hint,
            timeout=t,
        )
    if name == "webhook":
        _need(settings.revoker, name, *_NEEDS[name])
        return SignedWebhook(
            settings.revoker.webhook_url,
            settings.revoker.webhook_secret.get_secret_value(),
            timeout=t,
        )
    if name == "vault":
        _need(settings.revoker, name, *_NEEDS[name])
        return VaultLeases(
            settings.revoker.vault_addr,
            settings.revoker.vault_token.get_secret_value(),
            prefix_template=settings.revoker.vault_prefix_template,
            namespace=settings.revoker.vault_namespace,
            timeout=t,
        )
    raise RevokerError(f"unknown actuator {name!r}")


def build_ledger(settings: Settings) -> Ledger:
    if settings.revoker.ledger == "memory":
        return MemoryLedger()
    return RedisLedger(
        connect(settings.revoker.redis_url, settings.revoker.timeout_seconds),
        ttl_seconds=settings.revoker.ledger_ttl_seconds,
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        attempts=settings.revoker.retry_attempts,
        base_seconds=settings.revoker.retry_base_seconds,
        max_seconds=settings.revoker.retry_max_seconds,
    )


def build_revoker(settings: Settings) -> Revoker:
    names = actuator_names(settings)
    for n in names:  # check every configuration before opening any connection
        if n != "denylist":
            _need(settings.revoker, n, *_NEEDS[n])
    return Revoker(
        [build_actuator(settings, n) for n in names],
        build_ledger(settings),
        retry_policy(settings),
        attempt_timeout=settings.revoker.timeout_seconds * 2 + 1,
        redact=Redactor(settings.redaction()),
    )
