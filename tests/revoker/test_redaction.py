"""What the revoker says about a command carries no secret: alerts, acks, logs, refusals.

The webhook actuator quotes its URL (whose query may hold the receiver's token)
and the receiver's reply (which may echo a key) in its errors; before redaction
both reached the ``revocation_failed`` alert, the ack and the log line.
"""

from __future__ import annotations

import asyncio

import httpx
import orjson
from structlog.testing import capture_logs

from monitor.retry import RetryPolicy
from monitor.revoker.actuators.webhook import SignedWebhook
from monitor.revoker.gate import CommandGate, refused_alert
from monitor.revoker.ledger import MemoryLedger
from monitor.revoker.plan import failure_alert
from monitor.revoker.revoker import Revoker
from monitor.signing import parse_keyring
from tests.core.secret_corpus import FAMILIES
from tests.revoker.support import T0, command

URL_TOKEN = "Hk3vQ9zXw2LmN7pR4tY8"  # a receiver's token, in the webhook URL's query
URL = f"https://hooks.example/revoke?token={URL_TOKEN}&team=sec"
REPLY_KEY = FAMILIES["api-key"][3]  # an Anthropic-style key the receiver echoes
REPLY = orjson.dumps({"error": "upstream rejected", "api_key": REPLY_KEY}).decode()
SECRETS = (URL_TOKEN, REPLY_KEY)


def _webhook(status: int, body: str) -> SignedWebhook:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(reply))
    return SignedWebhook(URL, "signing-secret", client=client)


def _handle(status: int, body: str) -> tuple[bytes, list[dict[str, object]]]:
    r = Revoker(
        [_webhook(status, body)],
        MemoryLedger(),
        RetryPolicy(attempts=2, base_seconds=0.0),
        sleep=lambda _s: asyncio.sleep(0),
        clock=lambda: T0,
    )
    with capture_logs() as logs:
        out = asyncio.run(r.handle(command()))
    text = b"".join(a.to_json() for a in out.acks) + b"".join(a.to_json() for a in out.alerts)
    return text, logs


def test_a_failed_webhook_leaks_neither_its_url_token_nor_the_reply() -> None:
    text, logs = _handle(503, REPLY)
    assert b'"revocation_failed"' in text and b"HTTP 503" in text  # the alert is there
    assert b"hooks.example/revoke" in text and b"upstream rejected" in text  # and says why
    logged = orjson.dumps(logs, default=str)
    for s in SECRETS:
        assert s.encode() not in text, s
        assert s.encode() not in logged, s


def test_a_delivered_webhook_ack_does_not_quote_the_url_token() -> None:
    text, logs = _handle(200, "ok")
    assert b"delivered to https://hooks.example/revoke" in text
    assert URL_TOKEN.encode() not in text
    assert URL_TOKEN.encode() not in orjson.dumps(logs, default=str)


def test_failure_alert_redacts_the_command_reason_from_the_bus() -> None:
    """A command on the bus is not always the engine's (no command keys): its reason too."""
    gh = FAMILIES["github-token"][0]
    a = failure_alert(command(reason=f"lingering_access: {gh}"), "oauth", "oauth: HTTP 400", 1, T0)
    assert gh not in a.reason and "[REDACTED:github-token]" in a.reason
    assert a.alert_id == failure_alert(command(), "oauth", "x", 1, T0).alert_id  # id unchanged


def test_a_refused_command_quoting_a_secret_as_its_key_id_is_redacted() -> None:
    keys = parse_keyring("mon-1:0123456789abcdef0123")
    assert keys is not None
    gl = FAMILIES["gitlab-token"][0]
    forged = command(signature=f"hmac-sha256:{gl}:AAAA", reason=f"password={gl}")
    why = CommandGate(keys).check(forged, T0)  # logged and dead-lettered as it is
    assert why is not None and why.startswith("unknown key id") and gl not in why
    alert = refused_alert(forged, forged.to_json(), f"unknown key id {gl!r}", T0)
    assert gl.encode() not in alert.to_json()
    assert alert.details["command_id"] == "cmd-1"
