"""Canonical identifiers: one spelling per identity, at every boundary.

Deny-list keys, charter matching, per-agent state and dedup all compare
identifiers byte for byte. So an attacker who can re-spell an identity
(``SPIFFE://CORP/agents/a``, ``corp//agents``, ``…/a/``, ``%61``, a zero-width
space, a fullwidth ``ａ``, a trailing NUL) must not get a *new* identity out of
it: either the spelling means the same thing and is folded to one form, or it
is bad input and refused (the proxy answers with an error, the pipeline
dead-letters the message).

The rules (SPIFFE ID spec, "SPIFFE Identity and Verifiable Identity Document"
§2):

- ``spiffe`` scheme and trust domain are case-insensitive: folded to lowercase.
  The trust domain holds only ``a-z 0-9 . - _``.
- The path is case-sensitive and kept as is. Its segments hold only
  ``A-Z a-z 0-9 . - _``; an empty segment (``//``), a ``.`` or ``..`` segment,
  a trailing ``/``, percent-encoding, a query, a fragment, a port or user info
  are refused.

Every other identifier (an OIDC subject, a credential id, a task id, a
sponsor's e-mail) is case-sensitive, as its own spec says, and refused when it
carries what no issuer writes but an attacker would: control or invisible
(format) characters, leading or trailing white space, or characters that
Unicode compatibility normalisation (NFKC) would change (fullwidth letters,
ligatures) — those look like another identity to a person and are a new one to
a byte compare.

>>> canonical_id("SPIFFE://Corp.Example/agents/Patcher-1")
'spiffe://corp.example/agents/Patcher-1'
>>> canonical_id("spiffe://corp//agents/a")
Traceback (most recent call last):
...
monitor.errors.DecodeError: agent_id: SPIFFE ID has an empty path segment
>>> canonical_id("jti-7\\u200b", "credential_id")
Traceback (most recent call last):
...
monitor.errors.DecodeError: credential_id: invisible character U+200B
"""

from __future__ import annotations

import re
import unicodedata

from monitor.errors import DecodeError

_SCHEME = re.compile(r"(?i)spiffe://")
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
#: Invisible characters that are not in the Cf (format) category.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _bad(field: str, why: str) -> DecodeError:
    return DecodeError(f"{field}: {why}", field)


def _check_text(value: str, field: str) -> None:
    if not value:
        raise _bad(field, "empty")
    if value != value.strip():
        raise _bad(field, "leading or trailing white space")
    if value.isascii() and value.isprintable():
        return  # the hot case: printable ASCII holds no control, invisible or NFKC-unstable char
    for ch in value:
        cat = unicodedata.category(ch)
        if cat == "Cc":
            raise _bad(field, f"control character U+{ord(ch):04X}")
        if cat in ("Cf", "Zl", "Zp", "Co", "Cs", "Cn") or ch in _INVISIBLE:
            raise _bad(field, f"invisible character U+{ord(ch):04X}")
    if not value.isascii() and unicodedata.normalize("NFKC", value) != value:
        raise _bad(field, "characters that Unicode normalisation (NFKC) changes")


def _spiffe(value: str, field: str) -> str:
    rest = value[len("spiffe://") :]
    domain, slash, path = rest.partition("/")
    domain = domain.lower()
    if not domain:
        raise _bad(field, "SPIFFE ID has no trust domain")
    if not _TRUST_DOMAIN.fullmatch(domain):
        raise _bad(
            field, f"SPIFFE trust domain {domain!r} holds characters other than a-z 0-9 . - _"
        )
    if not slash:
        return f"spiffe://{domain}"
    if path == "" or path.endswith("/"):
        raise _bad(field, "SPIFFE ID ends with '/'")
    for seg in path.split("/"):
        if seg == "":
            raise _bad(field, "SPIFFE ID has an empty path segment")
        if seg in (".", ".."):
            raise _bad(field, f"SPIFFE ID has a {seg!r} path segment")
        if "%" in seg:
            raise _bad(field, "SPIFFE ID is percent-encoded")
        if not _SEGMENT.fullmatch(seg):
            raise _bad(
                field, f"SPIFFE path segment {seg!r} holds characters other than A-Z a-z 0-9 . - _"
            )
    return f"spiffe://{domain}/{path}"


def canonical_id(value: str, field: str = "agent_id") -> str:
    """The one spelling of an identifier; raises :class:`DecodeError` for bad input.

    Idempotent: ``canonical_id(canonical_id(x)) == canonical_id(x)``.
    """
    _check_text(value, field)
    if _SCHEME.match(value):
        return _spiffe(value, field)
    return value


def canonical_optional(value: str | None, field: str) -> str | None:
    """:func:`canonical_id` for an optional field (``None`` stays ``None``)."""
    return None if value is None else canonical_id(value, field)


#: Fields of an event or command that carry an identifier and are canonicalised.
IDENTITY_FIELDS = ("agent_id", "sponsor", "task_id", "session_id", "credential_id")

__all__ = ["IDENTITY_FIELDS", "canonical_id", "canonical_optional"]
