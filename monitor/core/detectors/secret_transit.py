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
:data:`MAX_DEPTH`) and :data:`MAX_CHARS` characters per call; strings shorter
than :data:`MIN_LENGTH` are skipped; each is tested first for its families' literal hints
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
#: characters scanned per call (an accidental paste is near the top; an agent that means to
#: smuggle a key out can encode it anyway, which no pattern sees)
MAX_CHARS = 64 * 1024
#: shorter strings hold no secret of any family (the shortest, ``a://:pw@h``, is 9)
MIN_LENGTH = 9
MAX_DEPTH = 8
#: families whose value is an address a tool is meant to be given: a Slack webhook URL is
#: posted *to* (the simulator's benign coding assistants do); redacted in alerts all the same
NOT_IN_TRANSIT = frozenset({"slack-webhook"})
_RULES = tuple(
    (r.name, re.compile(r.pattern, re.DOTALL), r.hints)
    for r in TOKEN_RULES
    if r.name not in NOT_IN_TRANSIT
)
_ALL_HINTS = tuple(sorted({h for _, _, hints in _RULES for h in hints}))
_UNHINTED = any(not hints for _, _, hints in _RULES)


def _strings(v: Any, path: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    if isinstance(v, str):
        yield path, v
    elif depth >= MAX_DEPTH:
        return
    elif isinstance(v, dict):
        for k, item in v.items():
            name = "…"
            if isinstance(k, str):
                yield path, k
                # the path is quoted in the alert: never a secret in it
                if len(k) < MIN_LENGTH or (len(k) <= 64 and not secret_families(k)):
                    name = k
            if isinstance(item, str):  # the common case, without a nested generator
                yield f"{path}.{name}", item
            else:
                yield from _strings(item, f"{path}.{name}", depth + 1)
    elif isinstance(v, list):
        for i, item in enumerate(v):
            yield from _strings(item, f"{path}[{i}]", depth + 1)


def secret_families(text: str) -> list[str]:
    """Names of the secret families found in ``text`` (never the secrets themselves)."""
    if len(text) < MIN_LENGTH:
        return []
    found = []
    if _UNHINTED or any(map(text.__contains__, _ALL_HINTS)):  # most text: one C-level pass
        found = [
            name
            for name, rx, hints in _RULES
            if (not hints or any(map(text.__contains__, hints))) and rx.search(text)
        ]
    low = text.lower()  # one pass, then substring tests: the scheme regex is only run when needed
    if ("bearer" in low or "basic" in low) and any(
        token_like(m["secret"]) for m in AUTH_SCHEME.finditer(text)
    ):
        found.append("authorization")  # "basic authentication" is prose, not a credential
    return found


def find_secrets(args: dict[str, Any]) -> list[tuple[str, str]]:
    """``(family, argument path)`` for every secret in ``args``, in order, each pair once."""
    out: list[tuple[str, str]] = []
    texts: list[tuple[str, str]] = []
    budget = MAX_CHARS
    for n, (path, text) in enumerate(_strings(args, "args")):
        if n >= MAX_STRINGS or budget <= 0:
            break
        if len(text) < MIN_LENGTH:
            continue
        if len(text) > budget:
            text = text[:budget]
        budget -= len(text)
        texts.append((path, text))
    if not texts:
        return out
    # one prefilter over everything (no hint holds "\0", so none spans two strings):
    # most calls hold no hint at all and stop here
    joined = "\0".join(t for _, t in texts)
    if not _UNHINTED and not any(map(joined.__contains__, _ALL_HINTS)):
        low = joined.lower()
        if "bearer" not in low and "basic" not in low:
            return out
    for path, text in texts:
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
