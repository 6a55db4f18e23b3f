"""secret_in_transit: a credential of a known family inside a call's arguments.

An API key pasted into a prompt, a private key handed to a tool, a bearer
token in a request body: the secret is now in the tool's hands and in every
log of the call. The families are the redactor's own token rules
(:data:`monitor.core.secret_rules.TOKEN_RULES`: private keys, JWTs, AWS,
GitHub, GitLab, Slack, Stripe, OpenAI/Anthropic, … keys) plus ``Bearer``/
``Basic`` authorization values, so what this detector calls a secret is
exactly what the redactor would take out of an alert — less
:data:`NOT_IN_TRANSIT` (``slack-webhook``: a webhook URL is where an
``http_post`` is meant to go, not a leak). Assignments whose *name*
says secret (``password=…``) are not flagged: tools legitimately take
passwords as named parameters; a token family is a secret wherever it is.

The secret never leaves the process: the finding names the family and the
argument it sat in (``args.prompt``), never the value, never a hash or prefix
of it; the decision step then redacts the reason and details like every
alert's. No revocation is suggested: the leaked secret is not the agent's own
credential (revoking the agent does not un-leak it); the alert says to
rotate it. Severity high: ``private-key`` and cloud keys are a breach in
progress whatever the caller meant.

Cost: at most :data:`MAX_STRINGS` strings (keys and values, depth
:data:`MAX_DEPTH`) per call, each tested first for its families' literal hints
(most text holds none, so most rules cost a substring test); the expressions
are linear (see :mod:`monitor.core.secret_rules`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from monitor.core.detectors.base import CallContext, Detector, Finding, register
from monitor.core.secret_rules import AUTH_SCHEME, TOKEN_RULES, token_like
from monitor.core.state import AgentState

MAX_STRINGS = 512
MAX_DEPTH = 8
#: families whose value is an address a tool is meant to be given: a Slack webhook URL is
#: posted *to* (the simulator's benign coding assistants do); redacted in alerts all the same
NOT_IN_TRANSIT = frozenset({"slack-webhook"})
_RULES = tuple(
    (r.name, re.compile(r.pattern, re.DOTALL), r.hints)
    for r in TOKEN_RULES
    if r.name not in NOT_IN_TRANSIT
)


def _strings(v: Any, path: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    if isinstance(v, str):
        yield path, v
    elif depth >= MAX_DEPTH:
        return
    elif isinstance(v, dict):
        for k, item in v.items():
            name = k if isinstance(k, str) and len(k) <= 64 else "…"
            if isinstance(k, str):
                yield path, k
                if secret_families(k):
                    name = "…"  # the path is quoted in the alert: never a secret in it
            yield from _strings(item, f"{path}.{name}", depth + 1)
    elif isinstance(v, list):
        for i, item in enumerate(v):
            yield from _strings(item, f"{path}[{i}]", depth + 1)


def secret_families(text: str) -> list[str]:
    """Names of the secret families found in ``text`` (never the secrets themselves)."""
    found = [
        name
        for name, rx, hints in _RULES
        if (not hints or any(h in text for h in hints)) and rx.search(text)
    ]
    if any(token_like(m["secret"]) for m in AUTH_SCHEME.finditer(text)):
        found.append("authorization")  # "basic authentication" is prose, not a credential
    return found


def find_secrets(args: dict[str, Any]) -> list[tuple[str, str]]:
    """``(family, argument path)`` for every secret in ``args``, in order, each pair once."""
    out: list[tuple[str, str]] = []
    for n, (path, text) in enumerate(_strings(args, "args")):
        if n >= MAX_STRINGS:
            break
        for family in secret_families(text):
            if (family, path) not in out:
                out.append((family, path))
    return out


@register
class SecretInTransit(Detector):
    name = "secret_in_transit"

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        c = ctx.call
        if not c.args:
            return ()
        found = find_secrets(c.args)
        if not found:
            return ()
        families = sorted({f for f, _ in found})
        paths = sorted({p for _, p in found})[:8]
        return [
            Finding(
                self.name,
                "secret_in_transit",
                "credentials travel as credentials (issued to the caller), never inside a "
                "call's arguments",
                "high",
                f"{c.agent_id} passed a secret ({', '.join(families)}) to {c.server}/{c.tool} "
                f"in {', '.join(paths)}: the tool and its logs now hold it; rotate it",
                [c.event_id],
                task_id=c.task_id,
                session_id=c.session_id,
                dedup=f"secret:{','.join(families)}:{c.server}/{c.tool}",
                details={"families": ",".join(families), "arguments": ",".join(paths)},
            )
        ]
