"""Value digests: what a call's result carried, small enough to ride on the event.

Why: a prompt-injected agent sends data to a destination it just *read* — an
address in an email body, an account number in a review, a link on a web page.
Provenance ("this egress argument came from what the last read returned") is
the strongest hijack signal there is, but results are large and may hold
secrets, so the event never carries them. Instead the gateway side (proxy, tap)
extracts the *entity-like values* a result holds — e-mail addresses, URLs and
hosts, IBAN-like and long account numbers, IP addresses, identifiers with a
digit, ``_`` or ``@`` in them — and puts a bounded list of their digests in the
event's ``result_digests``. The core extracts the same way from a later call's
arguments and compares digests; it never sees a value.

Digests are the first 16 hex digits of BLAKE2b over the normalised value
(stripped, case-folded, one trailing dot or slash dropped) with a fixed
personalisation, so the proxy, the tap and the core agree without sharing a key.
Values a secret rule recognises are skipped (a secret's digest is still a
fingerprint). Extraction is bounded: at most :data:`MAX_SCAN` characters of
input, :data:`MAX_DIGESTS` digests out.

>>> d = value_digests("Please wire it to DE89 3704 0044 0532 0130 00 or mail eve@evil.example")
>>> len(d), value_digest("eve@EVIL.example") in d
(2, True)
>>> value_digests("the quick brown fox")
[]
"""

from __future__ import annotations

import re
from functools import lru_cache
from hashlib import blake2b
from typing import Any

import orjson

from monitor.core.redact import DEFAULT_REDACTOR

#: Longest text scanned per result (characters); the rest is ignored.
MAX_SCAN = 256 * 1024
#: Most digests carried per event (the ``result_digests`` field's bound).
MAX_DIGESTS = 64
#: Length of one digest in hex characters.
DIGEST_HEX = 16
_PERSON = b"mcpmon-value-v1"

_VALUE = re.compile(
    r"""
    [A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}   # e-mail
  | [a-z][a-z0-9+.-]{1,15}://[^\s'"<>()\[\]{}]{1,2048}               # URL
  | \b[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b   # IBAN-like
  | \b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b                              # IPv4
  | \b[0-9][0-9 -]{4,30}[0-9]\b                                    # account / phone number
  | (?<![\w@.-])[A-Za-z0-9][\w.-]{2,127}(?![\w@])                  # identifier-like token
    """,
    re.VERBOSE,
)
_HAS_MARK = re.compile(r"[0-9_@]|[a-z0-9]\.[a-z]{2,}")


def value_digest(value: str) -> str:
    """The digest of one value, normalised (``strip``, ``casefold``, no trailing ``.``/``/``)."""
    v = value.strip().casefold()
    if v.endswith((".", "/")):
        v = v[:-1]
    if "://" not in v and v.replace(" ", "").replace("-", "").isdigit():
        v = v.replace(" ", "").replace("-", "")  # "0532 0130 00" == "0532013000"
    elif v[:2].isalpha() and v[2:4].isdigit():
        v = v.replace(" ", "")  # IBAN grouping
    return blake2b(v.encode(), digest_size=DIGEST_HEX // 2, person=_PERSON).hexdigest()


def _is_value(token: str) -> bool:
    t = token.strip()
    if len(t) < 4:
        return False
    if t.replace(" ", "").replace("-", "").isdigit():
        return len(t.replace(" ", "").replace("-", "")) >= 6
    return bool(_HAS_MARK.search(t.casefold()))


def _strings(obj: Any, limit: int) -> list[str]:
    """The strings (and long numbers) in ``obj``, depth-first, at most ``limit`` characters.

    Iterative: a hostile result nested ten thousand levels deep is just a long walk.
    """
    out: list[str] = []
    stack = [obj]
    while stack and limit > 0:
        o = stack.pop()
        if isinstance(o, str):
            out.append(o[:limit])
            limit -= len(o)
        elif isinstance(o, dict):
            stack.extend(reversed(list(o.values())))
        elif isinstance(o, (list, tuple)):
            stack.extend(reversed(o))
        elif isinstance(o, (int, float)) and not isinstance(o, bool):
            text = str(o)
            if len(text) >= 6:
                out.append(text)
                limit -= len(text)
    return out


def _kept(token: str) -> bool:
    """A value, and not one the default secret rules would redact. Asked of every token
    of every argument; an agent's addresses and ids repeat, so short ones' answers are
    kept (:data:`_CACHED` characters at most: the cache stays small whatever comes)."""
    return _kept_cached(token) if len(token) <= _CACHED else _kept_now(token)


def _kept_now(token: str) -> bool:
    return _is_value(token) and DEFAULT_REDACTOR(token) == token


_CACHED = 256
_kept_cached = lru_cache(maxsize=4096)(_kept_now)


def values_in(obj: Any) -> list[str]:
    """The entity-like values in ``obj`` (a string or JSON-like structure), in order, no repeats.

    Values the default secret rules (:mod:`monitor.core.redact`) would redact are left out.
    """
    texts = _strings(obj, MAX_SCAN)
    seen: dict[str, None] = {}
    for text in texts:
        for m in _VALUE.finditer(text):
            tok = m.group(0).rstrip(".,;:!?")
            if _kept(tok):
                seen.setdefault(tok, None)
    return list(seen)


def value_digests(obj: Any, limit: int = MAX_DIGESTS) -> list[str]:
    """Digests of the first ``limit`` distinct values in ``obj`` (see :func:`values_in`)."""
    out: dict[str, None] = {}
    for v in values_in(obj):
        out.setdefault(value_digest(v), None)
        if len(out) >= limit:
            break
    return list(out)


#: Keys of an MCP result never scanned: metadata, and base64 payloads (image, audio, blob).
NOT_CONTENT = frozenset({"_meta", "data", "blob"})
_MAX_DEPTH = 32


def _content(obj: Any, depth: int = 0) -> Any:
    """``obj`` without :data:`NOT_CONTENT` keys; anything deeper than 32 levels is dropped."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(obj, dict):
        return {k: _content(v, depth + 1) for k, v in obj.items() if k not in NOT_CONTENT}
    if isinstance(obj, list):
        return [_content(v, depth + 1) for v in obj]
    return obj


def result_digests(result: Any) -> list[str]:
    """Digests of the entity-like values in one MCP result, for ``tool_call.result_digests``.

    ``result`` is the result as JSON-like data (``content``, ``structuredContent``,
    ``contents``, ...) or as the JSON text a log wrote for it (parsed when it is
    JSON, scanned as text otherwise). Metadata and base64 payloads are skipped,
    and :func:`value_digests` bounds the rest. The proxy and the tap presets that
    see response bodies both use this one function.

    >>> result_digests({"content": [{"type": "text", "text": "mail eve@x.example"}],
    ...                 "_meta": {"by": "ops@corp.example"}}) == [value_digest("eve@x.example")]
    True
    """
    return value_digests(result_content(result))


def result_content(result: Any) -> Any:
    """What of one MCP result is scanned: JSON text parsed (the first :data:`MAX_SCAN`
    characters), other text as it is, :data:`NOT_CONTENT` keys and what is deeper than
    32 levels dropped. :func:`result_digests` and the secret scan of a result
    (:func:`monitor.core.detectors.secret_transit.result_secrets`) read the same."""
    if isinstance(result, str | bytes):
        text = result[:MAX_SCAN]
        if text[:1] in ("{", "[", b"{", b"["):
            try:
                result = orjson.loads(text)
            except orjson.JSONDecodeError:
                result = text if isinstance(text, str) else text.decode("utf-8", "replace")
        elif isinstance(text, bytes):
            result = text.decode("utf-8", "replace")
    return _content(result)
