"""Redaction of secrets in what leaves the monitor: alerts and revocation reasons.

An attacker who controls an agent controls its arguments and the URIs it
touches, and those end up quoted in alert reasons and details (a resource
outside the charter, a novel destination). Alerts go to a SIEM that many people
read, so anything that looks like a credential is replaced before an alert is
built, by rules that are plain regular expressions:

- on by default (``secrets``): JWTs, bearer/basic authorization values, AWS,
  GitHub, Slack, Google, Stripe and ``sk-`` style API keys, PEM private key
  blocks, the password in ``scheme://user:password@host``, and the value of any
  ``key=value`` / ``"key": "value"`` pair whose key says password, secret,
  token, api key, access key, private key, client secret, session, cookie,
  signature or authorization;
- on request (``emails``): e-mail addresses, wherever they appear (including
  the alert's ``sponsor`` field);
- extra patterns of the deployment's own (``extra``): each whole match goes.

What is kept: identifiers the alert is about and that revocation needs
(``agent_id``, ``credential_id`` unless it itself looks like a token, event ids).
A redacted value reads ``[REDACTED:<rule>]``, so an analyst sees that something
was there and which rule took it out.

>>> r = Redactor(RedactionRules())
>>> r("GET https://api.example/v1?api_key=abc123def456&q=1")
'GET https://api.example/v1?api_key=[REDACTED:key-value]&q=1'
>>> Redactor(RedactionRules(emails=True))("mail x@evil.example")
'mail [REDACTED:email]'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_SECRET_KEYS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|client[_-]?secret|(?:access|refresh|id|auth|api|bearer)"
    r"[_-]?token|token|api[_-]?key|apikey|access[_-]?key(?:[_-]?id)?|secret[_-]?key|"
    r"private[_-]?key|session(?:[_-]?id)?|cookie|signature|sig|authorization|credentials?"
)

#: (rule name, pattern, replacement); a replacement may keep groups (e.g. the key name).
_SECRET_RULES: tuple[tuple[str, str, str], ...] = (
    (
        "private-key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
        "[REDACTED:private-key]",
    ),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*", "[REDACTED:jwt]"),
    (
        "authorization",
        r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}",
        r"\1 [REDACTED:authorization]",
    ),
    ("aws-key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b", "[REDACTED:aws-key]"),
    (
        "github-token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
        "[REDACTED:github-token]",
    ),
    ("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", "[REDACTED:slack-token]"),
    ("google-key", r"\bAIza[0-9A-Za-z_-]{35}\b", "[REDACTED:google-key]"),
    ("stripe-key", r"\b[rsp]k_(?:live|test)_[0-9A-Za-z]{16,}", "[REDACTED:stripe-key]"),
    ("api-key", r"\bsk-(?:[A-Za-z0-9]+-)?[A-Za-z0-9_-]{20,}", "[REDACTED:api-key]"),
    (
        "url-password",
        r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):[^/\s@]+@",
        r"\1:[REDACTED:url-password]@",
    ),
    (
        "key-value",
        # key, separator (=, :, "key": "…"), value up to a delimiter
        rf"(?i)(\b(?:{_SECRET_KEYS})\b[\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED|(?:bearer|basic|token)\s)([^\s\"'&,;}}\]\)]+)",
        r"\1[REDACTED:key-value]",
    ),
)

_EMAIL = (
    "email",
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "[REDACTED:email]",
)


@dataclass(frozen=True, slots=True)
class RedactionRules:
    """Which rules apply. Plain values: the shell builds this from its settings."""

    secrets: bool = True
    emails: bool = False
    extra: tuple[str, ...] = ()  # regular expressions of the deployment's own


class Redactor:
    """Applies :class:`RedactionRules` to text; compiled once, called per alert."""

    __slots__ = ("_rules",)

    def __init__(self, rules: RedactionRules) -> None:
        chosen: list[tuple[str, str, str]] = []
        if rules.secrets:
            chosen.extend(_SECRET_RULES)
        if rules.emails:
            chosen.append(_EMAIL)
        for i, pattern in enumerate(rules.extra):
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"redaction pattern {i + 1} {pattern!r}: {err}") from None
            chosen.append((f"custom-{i + 1}", pattern, f"[REDACTED:custom-{i + 1}]"))
        self._rules = [(re.compile(p, re.DOTALL), repl) for _, p, repl in chosen]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def __call__(self, text: str) -> str:
        for rx, repl in self._rules:
            text = rx.sub(repl, text)
        return text

    def value(self, v: Any) -> Any:
        """Redact a detail value: strings are redacted, other JSON scalars pass through."""
        return self(v) if isinstance(v, str) else v

    def optional(self, v: str | None) -> str | None:
        return None if v is None else self(v)


#: The defaults: secrets redacted, e-mail addresses kept.
DEFAULT_REDACTION = RedactionRules()
