"""A generic signed webhook, for SOAR playbooks and ticketing.

POSTs the command's JSON (exactly the ``mcp.revocations`` contract) with

* ``X-MCPMon-Signature: sha256=<hex HMAC-SHA256 of the raw body, key from settings>``
  — the receiver recomputes it over the bytes it got and compares in constant time;
* ``Idempotency-Key: <command_id>`` — the receiver drops repeats (a crash between
  a delivery and the ledger write can resend one).

Any 2xx is success; 408 / 429 / 5xx and transport errors are retried.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx

from monitor.output_contracts import RevocationCommand
from monitor.revoker.actuators.base import check_status, http_error

SIGNATURE_HEADER = "X-MCPMon-Signature"


def sign(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(key: bytes, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(key, body), signature)


class SignedWebhook:
    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the webhook needs a signing secret")
        self.url = url
        self._key = secret.encode()
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def apply(self, command: RevocationCommand) -> str:
        body = command.to_json()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._key, body),
            "Idempotency-Key": command.command_id,
        }
        try:
            resp = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as err:
            raise http_error(self.name, err) from None
        check_status(self.name, resp)
        return f"delivered to {self.url} (HTTP {resp.status_code})"

    async def aclose(self) -> None:
        await self._client.aclose()
