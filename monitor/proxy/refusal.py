"""How the proxy refuses a request: a JSON-RPC error, never a tool result.

The same for every guarded method (``tools/call``, ``resources/read``, ``prompts/get`` ...).

Why an error and not ``CallToolResult(isError=true)``: ``isError`` tells the
*model* that the tool ran and failed, so an agent loop reads it and tries
something else; a refusal is an authorization decision about the caller, which
the client software (not the model) must see and stop on. The SDK turns an
:class:`~mcp.shared.exceptions.MCPError` raised by a handler into a JSON-RPC
error response, which every client surfaces as an exception.

Codes are in the implementation-defined band -32000..-32019 (the SDK uses
-32000 and -32001; -32002 is retired by the spec), so a client can tell the
three refusals apart; ``data`` says why, in keys that are stable:

======  ==================  ==================================================
code    ``data.reason``     when
======  ==================  ==================================================
-32010  ``denied``          the call's credential, agent, session or task is
                            on the deny-list (``data.denied``: kind →
                            ``{command_id, scope, reason, ts}``)
-32011  ``denylist_unavailable``  the deny-list could not be read in time and
                            the proxy fails closed (``data.error``)
-32012  ``no_identity``     the call's identity could not be resolved, its
                            bearer token is missing or bad, or an identity
                            field is not canonical (``data.error`` says why,
                            ``data.field`` names the field: ``agent_id`` ...,
                            ``claims`` for the token)
-32013  ``policy``          ``--policy inline``: the charter refuses the call
                            before it is forwarded (``data.check``:
                            ``<detector>:<clause key>``, ``data.clause``:
                            ``{key, text}``, ``data.detail``: why, redacted)
-32014  ``policy_unavailable``  ``--policy inline``: the charter decision
                            could not be made (``data.error``); fails closed
-32015  ``token_expired``   the bearer token verifies but is past its own
                            ``exp`` (``data.check``: ``token_expired``,
                            ``data.expired_at``: RFC 3339); in every mode
======  ==================  ==================================================

A refusal at the gateway carries, on its ``tool_call`` event, ``outcome:
denied`` and ``denied_by``: ``denylist``, ``denylist_unavailable``,
``token_expired``, or the charter check (``<detector>:<clause key>``,
``policy_unavailable``). A ``no_identity`` refusal has no event: there is no
verified identity to key it by.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mcp.shared.exceptions import MCPError

DENIED = -32010
DENYLIST_UNAVAILABLE = -32011
NO_IDENTITY = -32012
POLICY = -32013
POLICY_UNAVAILABLE = -32014
TOKEN_EXPIRED = -32015


def denied(tool: str, entries: dict[str, dict[str, Any]]) -> MCPError:
    kinds = ", ".join(sorted(entries))
    first = entries[sorted(entries)[0]]
    why = first.get("reason") or "revoked by the monitor"
    return MCPError(
        DENIED,
        f"call to {tool} refused: access revoked ({kinds} on the deny-list): {why}",
        {"reason": "denied", "denied": entries},
    )


def unavailable(tool: str, error: str) -> MCPError:
    return MCPError(
        DENYLIST_UNAVAILABLE,
        f"call to {tool} refused: the deny-list could not be checked ({error}); "
        "this proxy fails closed",
        {"reason": "denylist_unavailable", "error": error},
    )


def no_identity(tool: str, error: str, field: str | None = None) -> MCPError:
    data: dict[str, Any] = {"reason": "no_identity", "error": error}
    if field is not None:
        data["field"] = field
    return MCPError(
        NO_IDENTITY,
        f"call to {tool} refused: the caller's identity is unknown or refused ({error})",
        data,
    )


def policy(tool: str, check: str, key: str, clause: str, detail: str) -> MCPError:
    return MCPError(
        POLICY,
        f"call to {tool} refused by the agent's charter ({key}: {clause}): {detail}",
        {
            "reason": "policy",
            "check": check,
            "clause": {"key": key, "text": clause},
            "detail": detail,
        },
    )


def policy_unavailable(tool: str, error: str) -> MCPError:
    return MCPError(
        POLICY_UNAVAILABLE,
        f"call to {tool} refused: the charter decision could not be made ({error}); "
        "--policy inline fails closed",
        {"reason": "policy_unavailable", "error": error},
    )


def token_expired(tool: str, expired_at: float) -> MCPError:
    when = datetime.fromtimestamp(expired_at, UTC).isoformat().replace("+00:00", "Z")
    return MCPError(
        TOKEN_EXPIRED,
        f"call to {tool} refused: the bearer token expired at {when}",
        {"reason": "token_expired", "check": "token_expired", "expired_at": when},
    )
