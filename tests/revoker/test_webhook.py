"""The signed webhook against a real local receiver that verifies the signature."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from monitor.output_contracts import RevocationCommand
from monitor.revoker.actuators.webhook import SIGNATURE_HEADER, SignedWebhook, sign, verify
from monitor.revoker.exceptions import ActuatorError
from tests.revoker.servers import Behaviour, HTTPServer, Reply, Request, closed_url
from tests.revoker.support import command

Start = Callable[[Behaviour], HTTPServer]
KEY = "whsec-test"


class Receiver:
    """A SOAR endpoint: rejects bad signatures (401), drops repeats by Idempotency-Key."""

    def __init__(self) -> None:
        self.accepted: list[RevocationCommand] = []
        self.seen: set[str] = set()

    def __call__(self, req: Request) -> Reply:
        if not verify(KEY.encode(), req.body, req.headers.get(SIGNATURE_HEADER.lower(), "")):
            return Reply(401, b'{"error":"bad signature"}')
        key = req.headers["idempotency-key"]
        if key not in self.seen:
            self.seen.add(key)
            self.accepted.append(RevocationCommand.model_validate_json(req.body))
        return Reply(202)


def hook(url: str, secret: str = KEY, timeout: float = 2.0) -> SignedWebhook:
    return SignedWebhook(url, secret, timeout=timeout)


async def apply(act: SignedWebhook) -> str:
    try:
        return await act.apply(command())
    finally:
        await act.aclose()


def test_signature_is_hmac_sha256_of_the_body() -> None:
    # RFC 4231 test case 2
    assert sign(b"Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    assert not verify(b"Jefe", b"what do ya want for nothing!", sign(b"Jefe", b"x"))


def test_delivers_the_signed_command(http_server: Start) -> None:
    rx = Receiver()
    srv = http_server(rx)
    detail = asyncio.run(apply(hook(srv.url("/soar"))))
    assert detail == f"delivered to {srv.url('/soar')} (HTTP 202)"
    assert rx.accepted == [command()]
    (req,) = srv.requests
    assert req.headers["content-type"] == "application/json"
    assert req.headers["idempotency-key"] == "cmd-1"
    assert req.body == command().to_json()


def test_wrong_key_is_a_final_error(http_server: Start) -> None:
    rx = Receiver()
    srv = http_server(rx)
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(hook(srv.url("/soar"), secret="other")))
    assert not err.value.retryable and "HTTP 401" in str(err.value) and rx.accepted == []


def test_server_error_is_retryable(http_server: Start) -> None:
    srv = http_server(lambda r: Reply(500, b"oops"))
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(hook(srv.url("/soar"))))
    assert err.value.retryable and "HTTP 500" in str(err.value) and "oops" in str(err.value)


def test_server_down_is_retryable() -> None:
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(hook(closed_url("/soar"))))
    assert err.value.retryable


def test_slow_receiver_times_out_retryably(http_server: Start) -> None:
    srv = http_server(lambda r: Reply(202, delay=0.6))
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(hook(srv.url("/soar"), timeout=0.1)))
    assert err.value.retryable and "Timeout" in str(err.value)


def test_a_secret_is_required() -> None:
    """An unsigned delivery could be forged by anyone who can reach the receiver."""
    with pytest.raises(ValueError, match=r"^the webhook needs a signing secret$"):
        SignedWebhook("http://127.0.0.1:1/", "")


def test_errors_name_the_webhook_actuator(http_server: Start) -> None:
    """The ack and the revocation_failed alert say which actuator failed, and where."""
    srv = http_server(Receiver())
    with pytest.raises(ActuatorError) as status:
        asyncio.run(apply(hook(srv.url("/soar"), secret="other")))
    assert (
        str(status.value)
        == f'webhook: HTTP 401 from {srv.url("/soar")}: {{"error":"bad signature"}}'
    )
    with pytest.raises(ActuatorError) as down:
        asyncio.run(apply(hook(closed_url("/soar"))))
    assert str(down.value).startswith("webhook: ConnectError: ")
