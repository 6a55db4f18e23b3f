"""secret_in_transit: a credential of a known family inside a call's arguments or result.

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

Redacted at the gateway: ``mcpmon proxy`` redacts arguments before its event
leaves it, so a secret reaches this detector as the redactor's own mark of its
family (``[REDACTED:aws-key]``, :func:`monitor.core.secret_rules.redacted`);
a mark of a family above counts as that family (``key-value``, ``email`` and a
deployment's ``custom-N`` marks do not: they are not token families). The
secret itself never left the proxy.

In the result: a call whose logged result held a secret carries the families'
names in ``tool_call.result_secrets`` (:func:`result_secrets`, run where the
result is seen: the proxy, and the tap's presets for gateways that log
response bodies); the alert says "in its result" — a tool handed the agent a
credential, which is now in the model's context and the agent's transcript.

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
from monitor.core.secret_rules import AUTH_SCHEME, REDACTED_MARK, TOKEN_RULES, token_like
from monitor.core.state import AgentState
from monitor.core.values import result_content
from monitor.events import ToolCall

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
#: whether a text holds any family's hint: one scan (most text holds none)
_ANY_HINT = re.compile("|".join(map(re.escape, _ALL_HINTS))).search
_UNHINTED = any(not hints for _, _, hints in _RULES)
#: every family this detector names; a redactor's mark of one of them counts as that family
FAMILIES = frozenset({*(name for name, _, _ in _RULES), "authorization"})
_MARK = "[REDACTED:"
#: most families named in ``tool_call.result_secrets``
MAX_RESULT_FAMILIES = 8


#: Where a string sits: the keys (``None`` for a key that is no string) and list indices
#: from the root. Written out (:func:`_path`) only for a string that holds a secret.
_Where = tuple[str | int | None, ...]


def _strings(v: Any, where: _Where = (), depth: int = 0) -> Iterator[tuple[_Where, str]]:
    if isinstance(v, str):
        yield where, v
    elif depth >= MAX_DEPTH:
        return
    elif isinstance(v, dict):
        for k, item in v.items():
            key = k if isinstance(k, str) else None
            if key is not None:
                yield where, key
            if isinstance(item, str):  # the common case, without a nested generator
                yield (*where, key), item
            else:
                yield from _strings(item, (*where, key), depth + 1)
    elif isinstance(v, list):
        for i, item in enumerate(v):
            yield from _strings(item, (*where, i), depth + 1)


def _path(root: str, where: _Where) -> str:
    """``args.to[0].body``: quoted in the alert, so never a secret in it (a key that may be
    one is ``…``)."""
    out = [root]
    for part in where:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part is not None and (
            len(part) < MIN_LENGTH or (len(part) <= 64 and not secret_families(part))
        ):
            out.append(f".{part}")
        else:
            out.append(".…")
    return "".join(out)


def secret_families(text: str) -> list[str]:
    """Names of the secret families found in ``text`` (never the secrets themselves)."""
    if len(text) < MIN_LENGTH:
        return []
    found = []
    if _UNHINTED or _ANY_HINT(text):  # most text: one C-level pass
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
    if _MARK in text:  # redacted upstream (the proxy): the mark names the family
        for m in REDACTED_MARK.finditer(text):
            if m["name"] in FAMILIES and m["name"] not in found:
                found.append(m["name"])
    return found


def find_secrets(args: dict[str, Any]) -> list[tuple[str, str]]:
    """``(family, argument path)`` for every secret in ``args``, in order, each pair once."""
    return _find(args, "args")


def result_secrets(result: Any) -> list[str]:
    """The families of the secrets in one MCP result (JSON-like data or the text a log
    wrote for it), sorted, at most :data:`MAX_RESULT_FAMILIES`: ``tool_call.result_secrets``.

    Read as :func:`monitor.core.values.result_digests` reads a result (metadata and
    base64 payloads skipped), within this module's bounds; never the secrets.

    >>> result_secrets({"content": [{"type": "text", "text": "key AKIAABCDEFGHIJKLMNOP"}]})
    ['aws-key']
    """
    families = sorted({f for f, _ in _find(result_content(result), "result")})
    return families[:MAX_RESULT_FAMILIES]


def _find(value: Any, root: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    texts: list[tuple[_Where, str]] = []
    budget = MAX_CHARS
    for n, (where, text) in enumerate(_strings(value)):
        if n >= MAX_STRINGS or budget <= 0:
            break
        if len(text) < MIN_LENGTH:
            continue
        if len(text) > budget:
            text = text[:budget]
        budget -= len(text)
        texts.append((where, text))
    if not texts:
        return out
    # one prefilter over everything (no hint holds "\0", so none spans two strings):
    # most calls hold no hint at all and stop here
    joined = "\0".join(t for _, t in texts)
    if not _UNHINTED and not _ANY_HINT(joined):
        low = joined.lower()
        if "bearer" not in low and "basic" not in low and _MARK not in joined:
            return out
    for where, text in texts:
        families = secret_families(text)
        if families:
            path = _path(root, where)
            for family in families:
                if (family, path) not in out:
                    out.append((family, path))
    return out


@register
class SecretInTransit(Detector):
    name = "secret_in_transit"

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        c = ctx.call
        out: list[Finding] = []
        found = find_secrets(c.args) if c.args else []
        if found:
            out.append(self._in_arguments(c, found))
        if c.result_secrets:
            out.append(self._in_result(c, sorted(set(c.result_secrets))))
        return out

    def _in_arguments(self, c: ToolCall, found: list[tuple[str, str]]) -> Finding:
        families = sorted({f for f, _ in found})
        paths = sorted({p for _, p in found})[:8]
        return Finding(
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

    def _in_result(self, c: ToolCall, families: list[str]) -> Finding:
        named = ", ".join(families)
        return Finding(
            self.name,
            "secret_in_transit",
            "credentials travel as credentials (issued to the caller), never inside a "
            "call's arguments or result",
            "high",
            f"{c.agent_id} received a secret ({named}) from {c.server}/{c.tool} in its result: "
            "the agent's context and transcript now hold it; rotate it",
            [c.event_id],
            task_id=c.task_id,
            session_id=c.session_id,
            dedup=f"secret-result:{','.join(families)}:{c.server}/{c.tool}",
            details={"families": ",".join(families), "in": "result"},
        )
