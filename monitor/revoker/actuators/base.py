"""The one interface every actuator implements, and the HTTP error mapping they share.

An actuator carries out one command against one system and returns a short
detail for the ack, or raises :class:`ActuatorError` saying whether another
attempt may help. Retries, idempotence and acks are not its business: the
:class:`monitor.revoker.revoker.Revoker` does those for all of them alike.
Every actuator must be idempotent at its target too (revoking a revoked
token, re-adding a deny-list entry), which closes the window between applying
a command and recording it in the ledger.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from monitor.output_contracts import RevocationCommand
from monitor.revoker.exceptions import ActuatorError


class Actuator(Protocol):
    #: stable name: it is the ack's ``actuator`` and half of the idempotence key
    name: str

    async def apply(self, command: RevocationCommand) -> str:
        """Carry ``command`` out; return a detail for the ack or raise ActuatorError."""
        ...

    async def aclose(self) -> None: ...


def http_error(name: str, err: httpx.HTTPError) -> ActuatorError:
    """Map an httpx transport error: every one of them is worth another attempt."""
    kind = type(err).__name__
    # str(err), not err: an exception is always true, and a timeout's text is often empty
    return ActuatorError(f"{name}: {kind}: {str(err) or 'no detail'}", retryable=True)


def check_status(name: str, resp: httpx.Response) -> None:
    """2xx passes; 408, 429 and 5xx are retryable; any other status is final."""
    if resp.is_success:
        return
    body = resp.text[:200].strip()
    retryable = resp.status_code in (408, 429) or resp.status_code >= 500
    raise ActuatorError(
        f"{name}: HTTP {resp.status_code} from {resp.request.url}: {body}", retryable=retryable
    )
