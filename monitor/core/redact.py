"""Redaction of secrets in what leaves the monitor: alerts and revocation reasons.

An attacker who controls an agent controls its arguments and the URIs it
touches, and those end up quoted in alert reasons and details (a resource
outside the charter, a novel destination). Alerts go to a SIEM that many people
read, so anything that looks like a credential is replaced before an alert is
built, by rules that are plain regular expressions:

- on by default (``secrets``): the token families of
  :mod:`monitor.core.secret_rules` (JWTs; AWS, GitHub, GitLab, npm, Slack,
  Google, Stripe, OpenAI/Anthropic, Hugging Face, PyPI, Vault, DigitalOcean,
  SendGrid and Azure keys and tokens; PEM private key blocks, multi-line),
  bearer/basic authorization values, the password in
  ``scheme://user:password@host`` (also ``redis://:password@host``), and the
  value of any assignment whose name says secret (:func:`secret_name`:
  ``_password``, ``DB_PASS``, ``MYSQL_PWD``, ``aws_session_token``,
  ``X-Api-Key``, ...) in any of its spellings (``k=v``, ``k: v``, JSON, YAML,
  env file, URL query, URL-encoded ``password%3D...``). A quoted value goes
  whole, spaces and all; an unquoted one up to ``&``, ``;``, a quote, the end
  of the line or the next ``name=`` (in a URL query: the next space);
- on request (``emails``): e-mail addresses, wherever they appear (including
  the alert's ``sponsor`` field);
- extra patterns of the deployment's own (``extra``): each whole match goes.

Every rule is linear in the length of the text (see
:mod:`monitor.core.secret_rules`): an attacker's 100 KB argument costs
milliseconds, not minutes.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from monitor.core.secret_rules import (
    AUTH_SCHEME,
    NAME_BEFORE,
    NAME_HINTS,
    OPENING,
    SEPARATOR,
    TOKEN_RULES,
    redacted,
    secret_name,
    token_like,
)
from monitor.output_contracts import Alert

#: levels of nesting :meth:`Redactor.structure` walks (a call's arguments, a log line's fields)
MAX_DEPTH = 64

KEY_VALUE = "[REDACTED:key-value]"

#: Where an unquoted value ends for certain: a delimiter of URLs, statements,
#: quoting or structure, a line end, or an escaped one (``\n`` inside JSON).
_HARD_END = re.compile(r"[&;\"'`<>{}\]\r\n]|%2[26]|\\[nrt\"']")
#: ...and where the next assignment begins (``password=a b user=c``: ``a b``).
_NEXT_ASSIGNMENT = re.compile(
    r"(?<![\s,])[\s,]++[\w.-]++(?:\\?[\"'`]|%22|%27)?[ \t]*+(?::=|=>|[:=]|%3[DdAa])"
)
_SPACE = re.compile(r"\s")
_LINE_END = re.compile(r"[\r\n]|\\[nr]")
#: A value some other rule already took out: left as it is.
_ALREADY = re.compile(r"(?i)(?:[a-z]+\s+)?\[REDACTED:[\w-]+\]")


def _closing(text: str, start: int, quote: str) -> int:
    """Index of the quote that closes a value opened by ``quote`` (or the line's end)."""
    i = start
    while True:
        j = text.find(quote, i)
        if j < 0:
            m = _LINE_END.search(text, start)
            return m.start() if m else len(text)
        if quote == '"' and j > start and text[j - 1] == "\\":  # an escaped quote inside
            i = j + 1
            continue
        return j


def redact_assignments(text: str) -> str:
    """Replace the value of every assignment whose name says secret (see module docstring).

    Linear: separators are found in one scan, each name is read once
    (backwards from its separator, on the reversed text), each value scanned
    once (the next hard delimiter is remembered across values).
    """
    low = text.lower()
    if not any(h in low for h in NAME_HINTS):
        return text
    rev = ""
    n = len(text)
    out: list[str] = []
    pos = 0  # text[:pos] is decided
    hard = -1  # the next hard delimiter at or after the last value's start
    for sep in SEPARATOR.finditer(text):
        if sep.start() < pos:
            continue
        rev = rev or text[::-1]
        m = NAME_BEFORE.match(rev, n - sep.start())
        if m is None:
            continue
        name_start = n - m.end()
        name = m["name"][::-1]
        if name_start and text[name_start - 1] == "%":  # %22password: the name is password
            name = name[2:]
        if name_start < pos or not secret_name(name):
            continue
        o = OPENING.match(text, sep.end())
        start = o.end() if o else sep.end()
        if _ALREADY.match(text, start):  # a token rule took it out already: its name stays
            continue
        quote = o["open"] if o else None
        if quote:
            end = _closing(text, start, quote)
        else:
            if hard < start:
                h = _HARD_END.search(text, start)
                hard = h.start() if h else n
            end = hard
            before = text[name_start - 1] if name_start else ""
            if sep[0] in ("=", "%3D", "%3d") and before in ("?", "&", ";"):
                s = _SPACE.search(text, start, end)  # a URL query: a space ends it
                end = s.start() if s else end
            else:
                nxt = _NEXT_ASSIGNMENT.search(text, start, end)
                end = nxt.start() if nxt else end
            while end > start and text[end - 1] in " \t,":
                end -= 1
        if end <= start:
            continue
        out.append(text[pos:start])
        out.append(KEY_VALUE)
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _auth_schemes(text: str) -> str:
    low = text.lower()
    if "bearer" not in low and "basic" not in low:
        return text
    return AUTH_SCHEME.sub(_auth_scheme, text)


def _auth_scheme(m: re.Match[str]) -> str:
    if m["keep"][:5].lower() == "basic" and not token_like(m["secret"]):
        return m[0]  # "basic authentication" is prose; a base64 user:password is not
    return f"{m['keep']}{redacted('authorization')}"


def _any_of(hints: Iterable[str], lower: bool = False) -> Callable[[str], object]:
    """Whether a text (lower-cased first, with ``lower``) holds one of ``hints``: one scan."""
    search = re.compile("|".join(map(re.escape, sorted(set(hints))))).search
    return (lambda text: search(text.lower())) if lower else search


def _compiled(name: str, pattern: str, hints: tuple[str, ...] = ()) -> Callable[[str], str]:
    rx = re.compile(pattern, re.DOTALL)
    repl = redacted(name)
    if "keep" in rx.groupindex:
        repl = r"\g<keep>" + repl
    sub = partial(rx.sub, repl)
    if not hints:
        return sub
    has_hint = _any_of(hints)

    def step(text: str) -> str:  # most text holds no hint: one scan for them, no match
        return sub(text) if has_hint(text) else text

    return step


_EMAIL = (
    "email",
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
)

#: A run of steps, and a test that is true whenever any of them could change a text
#: (None: always run them). A text it says no to goes past the whole run unscanned.
_Stage = tuple[Callable[[str], object] | None, tuple[Callable[[str], str], ...]]


def _token_stage() -> _Stage:
    """The token families as one stage. A step changes a text only if it holds one of
    its family's hints, and most text (every short value
    :func:`monitor.core.values.values_in` asks about) holds none of any family's, so one
    scan for all of them skips every step; when it finds one, each family tests its own."""
    steps = tuple(_compiled(r.name, r.pattern, r.hints) for r in TOKEN_RULES)
    if not all(r.hints for r in TOKEN_RULES):  # a family without hints: always scanned
        return None, steps
    return _any_of(h for r in TOKEN_RULES for h in r.hints), steps


#: The default pipeline: token families, then authorization schemes and assignments
#: (which leave a value another rule already replaced as it is); these two change only
#: a text whose lower case holds ``bearer``, ``basic`` or a name hint.
_SECRET_STAGES: tuple[_Stage, ...] = (
    _token_stage(),
    (_any_of(("bearer", "basic", *NAME_HINTS), lower=True), (_auth_schemes, redact_assignments)),
)


@dataclass(frozen=True, slots=True)
class RedactionRules:
    """Which rules apply. Plain values: the shell builds this from its settings."""

    secrets: bool = True
    emails: bool = False
    extra: tuple[str, ...] = ()  # regular expressions of the deployment's own


class Redactor:
    """Applies :class:`RedactionRules` to text; compiled once, called per alert."""

    __slots__ = ("_secret_names", "_stages")

    def __init__(self, rules: RedactionRules) -> None:
        self._secret_names = rules.secrets
        stages: list[_Stage] = []
        if rules.secrets:
            stages.extend(_SECRET_STAGES)
        if rules.emails:
            stages.append((None, (_compiled(*_EMAIL),)))
        for i, pattern in enumerate(rules.extra):
            try:
                stages.append((None, (_compiled(f"custom-{i + 1}", pattern),)))
            except re.error as err:
                raise ValueError(f"redaction pattern {i + 1} {pattern!r}: {err}") from None
        self._stages = tuple(stages)

    def __bool__(self) -> bool:
        return bool(self._stages)

    def __call__(self, text: str) -> str:
        for could_change, steps in self._stages:
            if could_change is None or could_change(text):
                for step in steps:
                    text = step(text)
        return text

    def secret_key(self, name: str) -> bool:
        """Is a value stored under ``name`` a secret by these rules (``password``,
        ``DB_PASS``, ``_authToken`` ...)? For structured data whose values do not look
        like secrets on their own (``{"password": "hunter2"}``)."""
        return self._secret_names and secret_name(name)

    def value(self, v: Any) -> Any:
        """Redact a detail value: strings are redacted, other JSON scalars pass through."""
        return self(v) if isinstance(v, str) else v

    def structure(
        self, v: Any, *, depth: int = MAX_DEPTH, text: Callable[[str], str] | None = None
    ) -> Any:
        """``v`` (arguments, a log line's fields) with every string and every key redacted, a
        value of any type under a key the rules call secret (``password``, ``api_key`` ...)
        replaced whole (``"hunter2"`` does not look like a secret on its own), and what lies
        deeper than ``depth`` levels ``[REDACTED:too-deep]``. Lists, tuples and sets become
        lists; ints, floats, booleans, None and datetimes pass; anything else is redacted as its
        ``str()``. Two keys redacted to the same text are both kept (a ``'`` appended).
        ``text`` is applied to each redacted string (a log bounds them). ``v`` is not changed.

        >>> DEFAULT_REDACTOR.structure({"password": 7, "n": [1, "Bearer abcdefghijklmnop"]})
        {'password': '[REDACTED:key-value]', 'n': [1, 'Bearer [REDACTED:authorization]']}
        """
        if isinstance(v, str):
            return text(self(v)) if text is not None else self(v)
        if v is None or isinstance(v, (bool, int, float, datetime)):
            return v
        if depth <= 0:
            return "[REDACTED:too-deep]"
        if isinstance(v, dict):
            out: dict[str, Any] = {}
            for k, x in v.items():
                key = self.structure(str(k), text=text)
                while key in out:  # two keys redacted to the same text: keep both
                    key += "'"
                if self.secret_key(str(k)):
                    out[key] = "[REDACTED:key-value]"
                else:
                    out[key] = self.structure(x, depth=depth - 1, text=text)
            return out
        if isinstance(v, (list, tuple, set, frozenset)):
            return [self.structure(x, depth=depth - 1, text=text) for x in v]
        return self.structure(str(v), text=text)

    def optional(self, v: str | None) -> str | None:
        return None if v is None else self(v)

    def alert(self, alert: Alert) -> Alert:
        """``alert`` with its free text redacted, for alerts built outside the decision step
        (charter_rejected, revocation_refused, revocation_failed).

        Like :class:`~monitor.core.decision.DecisionStep`: the reason, string
        details, sponsor, task, session and credential ids and the clause's
        charter pattern; ``alert_id``, ``agent_id`` and evidence (event ids) are
        kept, so the id is the same with and without redaction.
        """
        if not self._stages:
            return alert
        return alert.model_copy(
            update={
                "reason": self(alert.reason),
                "details": {k: self.value(v) for k, v in alert.details.items()},
                "sponsor": self.optional(alert.sponsor),
                "task_id": self.optional(alert.task_id),
                "session_id": self.optional(alert.session_id),
                "credential_id": self.optional(alert.credential_id),
                "clause": alert.clause.model_copy(
                    update={"charter": self.optional(alert.clause.charter)}
                ),
            }
        )


#: The defaults: secrets redacted, e-mail addresses kept.
DEFAULT_REDACTION = RedactionRules()
#: A redactor with the defaults, for shells that have no settings of their own to hand.
DEFAULT_REDACTOR = Redactor(DEFAULT_REDACTION)
