"""HashiCorp Vault lease revocation over its HTTP API.

* ``PUT /v1/sys/leases/revoke`` with ``{"lease_id": ...}`` for every credential
  id of the command (credentials minted by a Vault secrets engine are leases);
* ``PUT /v1/sys/leases/revoke-prefix/<prefix>`` when a prefix template is
  configured and the scope is wider than one credential: e.g. the template
  ``mcp/creds/{agent_path}/`` revokes every lease issued to the agent
  (placeholders: ``agent_id``, ``agent_path``, ``task_id``, ``session_id``, ``scope``).

``agent_path`` is the agent id as a path: a SPIFFE ID's trust domain and path
(``spiffe://corp/agents/a1`` → ``corp/agents/a1``), any other id as it is. The
ids come from traffic, so a hostile one is expected: a value is put into the
URL only when it is made of path-safe characters (``A-Z a-z 0-9 . _ ~ : @ + = -``;
``/`` between the segments of ``agent_path`` alone) and has no ``.`` or ``..``
segment. Anything else is refused, finally, and nothing is sent: a ``..`` would
climb out of the prefix (httpx resolves dot segments before the request leaves),
a ``?`` or ``#`` would cut it short, and either would revoke far more than asked
— every lease under the parent, or another API's path with the revoker's token.

Authenticated with ``X-Vault-Token``. Vault answers 204 on success; revoking
a lease that is already gone is not an error to it, so repeats are harmless.
"""

from __future__ import annotations

import asyncio
import re

import httpx

from monitor.output_contracts import RevocationCommand
from monitor.revoker.actuators.base import check_status, http_error
from monitor.revoker.exceptions import ActuatorError

#: One path segment a value may fill: no separator, query, fragment, escape or white space.
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9._~:@+=-]+")
_SPIFFE = "spiffe://"


def _segments_safe(value: str) -> bool:
    """Whether ``value`` is ``/``-separated safe segments, none of them ``.`` or ``..``."""
    return all(_SAFE_SEGMENT.fullmatch(p) and p not in (".", "..") for p in value.split("/"))


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
        agent = command.agent_id
        values = {
            "agent_id": agent,
            "agent_path": agent[len(_SPIFFE) :] if agent.startswith(_SPIFFE) else agent,
            "task_id": command.task_id or "",
            "session_id": command.session_id or "",
            "scope": command.scope,
        }
        for key, value in values.items():
            # an empty value is left to the empty-part check below, which names the prefix
            ok = _segments_safe(value) and (key == "agent_path" or "/" not in value)
            if value and not ok and f"{{{key}" in self.prefix_template:
                raise ActuatorError(
                    f"vault: refusing {key} {value!r} in the revoke prefix: it is not a path-safe"
                    " segment (A-Z a-z 0-9 . _ ~ : @ + = -)"
                    + ("; use {agent_path} for a SPIFFE ID" if key == "agent_id" else ""),
                    retryable=False,
                )
        try:
            prefix = self.prefix_template.format(**values)
        except (KeyError, IndexError, ValueError) as err:
            raise ActuatorError(
                f"vault: bad prefix template {self.prefix_template!r}: {err}", retryable=False
            ) from None
        # a prefix with an empty part (no task id) would revoke far more than asked, and so
        # would a dot segment or a character that ends the path, from the template itself
        if "//" in prefix or prefix.startswith("/") or not _segments_safe(prefix.strip("/")):
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
        refused: ActuatorError | None = None
        try:
            prefix = self.prefix_for(command)
        except ActuatorError as err:
            # the command's own leases are still revoked, by id: a hostile task id that
            # cannot be put in a path must not keep the agent's credentials alive
            prefix, refused = None, err
        if not leases and prefix is None and refused is None:
            return "nothing to revoke: no lease ids and no prefix for this scope"
        calls = [self._put("/v1/sys/leases/revoke", {"lease_id": lease}) for lease in leases]
        if prefix is not None:
            calls.append(self._put(f"/v1/sys/leases/revoke-prefix/{prefix}", None))
        # independent requests, sent together: one attempt takes one timeout
        for r in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(r, BaseException):
                raise r
        if refused is not None:
            if leases:
                raise ActuatorError(
                    f"{refused}; its {len(leases)} lease(s) revoked", retryable=False
                )
            raise refused
        done = [f"{len(leases)} lease(s)"] + ([f"prefix {prefix}"] if prefix else [])
        return "revoked " + " and ".join(done)

    async def aclose(self) -> None:
        await self._client.aclose()
