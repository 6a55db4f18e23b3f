"""HashiCorp Vault lease revocation over its HTTP API.

* ``PUT /v1/sys/leases/revoke`` with ``{"lease_id": ...}`` for every credential
  id of the command (credentials minted by a Vault secrets engine are leases);
* ``PUT /v1/sys/leases/revoke-prefix/<prefix>`` when a prefix template is
  configured and the scope is wider than one credential: e.g. the template
  ``mcp/creds/{agent_id}/`` revokes every lease issued to the agent
  (placeholders: ``agent_id``, ``task_id``, ``session_id``, ``scope``).

Authenticated with ``X-Vault-Token``. Vault answers 204 on success; revoking
a lease that is already gone is not an error to it, so repeats are harmless.
"""

from __future__ import annotations

import asyncio

import httpx

from monitor.output_contracts import RevocationCommand
from monitor.revoker.actuators.base import check_status, http_error
from monitor.revoker.exceptions import ActuatorError


class VaultLeases:
    name = "vault"

    def __init__(
        self,
        addr: str,
        token: str,
        *,
        prefix_template: str = "",
        namespace: str = "",
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.addr = addr.rstrip("/")
        self.prefix_template = prefix_template
        headers = {"X-Vault-Token": token}
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        self._headers = headers
        self._client = client or httpx.AsyncClient(timeout=timeout)

    def prefix_for(self, command: RevocationCommand) -> str | None:
        if not self.prefix_template or command.scope == "credential":
            return None
        values = {
            "agent_id": command.agent_id,
            "task_id": command.task_id or "",
            "session_id": command.session_id or "",
            "scope": command.scope,
        }
        try:
            prefix = self.prefix_template.format(**values)
        except (KeyError, IndexError, ValueError) as err:
            raise ActuatorError(
                f"vault: bad prefix template {self.prefix_template!r}: {err}", retryable=False
            ) from None
        # a prefix with an empty part (no task id) would revoke far more than asked
        if "//" in prefix or prefix.startswith("/") or not prefix.strip("/"):
            raise ActuatorError(f"vault: refusing unsafe prefix {prefix!r}", retryable=False)
        return prefix

    async def _put(self, path: str, body: dict[str, str] | None) -> None:
        try:
            resp = await self._client.put(f"{self.addr}{path}", json=body, headers=self._headers)
        except httpx.HTTPError as err:
            raise http_error(self.name, err) from None
        check_status(self.name, resp)

    async def apply(self, command: RevocationCommand) -> str:
        leases = list(dict.fromkeys(command.credential_ids))
        prefix = self.prefix_for(command)
        if not leases and prefix is None:
            return "nothing to revoke: no lease ids and no prefix for this scope"
        calls = [self._put("/v1/sys/leases/revoke", {"lease_id": lease}) for lease in leases]
        if prefix is not None:
            calls.append(self._put(f"/v1/sys/leases/revoke-prefix/{prefix}", None))
        # independent requests, sent together: one attempt takes one timeout
        for r in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(r, BaseException):
                raise r
        done = [f"{len(leases)} lease(s)"] + ([f"prefix {prefix}"] if prefix else [])
        return "revoked " + " and ".join(done)

    async def aclose(self) -> None:
        await self._client.aclose()
