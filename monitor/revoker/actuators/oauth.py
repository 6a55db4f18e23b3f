"""OAuth 2.0 Token Revocation (RFC 7009) at an authorization server.

One form POST per credential: ``token=<credential id>`` and
``token_type_hint``, with client authentication by HTTP Basic
(``client_secret_basic``, RFC 7009 §2.1 / RFC 6749 §2.3.1). The server answers
200 whether or not it knew the token (§2.2), so revoking twice is harmless.
``503`` (§2.2.1) and other 5xx / 429 are retried; any other status — e.g. 400
``unsupported_token_type`` or 401 ``invalid_client`` — is final.

Deployments where ``credential_id`` is not the token itself (a ``jti``) need
an authorization server that accepts it as the revocation handle; the
deny-list actuator ends access either way.
"""

from __future__ import annotations

import asyncio

import httpx

from monitor.output_contracts import RevocationCommand
from monitor.revoker.actuators.base import check_status, http_error


class OAuthRevocation:
    name = "oauth"

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        token_type_hint: str = "access_token",
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.token_type_hint = token_type_hint
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def apply(self, command: RevocationCommand) -> str:
        creds = list(dict.fromkeys(command.credential_ids))
        if not creds:
            return "nothing to revoke: the command names no credential"
        # independent requests, sent together: one attempt takes one timeout, not one per token
        results = await asyncio.gather(*(self._revoke(t) for t in creds), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return f"revoked {len(creds)} token(s) at {self.url}"

    async def _revoke(self, token: str) -> None:
        try:
            resp = await self._client.post(
                self.url,
                data={"token": token, "token_type_hint": self.token_type_hint},
                auth=self._auth,
            )
        except httpx.HTTPError as err:
            raise http_error(self.name, err) from None
        check_status(self.name, resp)

    async def aclose(self) -> None:
        await self._client.aclose()
