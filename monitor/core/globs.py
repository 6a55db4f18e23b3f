"""Glob patterns for agent ids and resource URIs.

``*`` matches inside one path segment (no ``/``), ``**`` matches across
segments, ``?`` one character, ``[ab]`` / ``[a-z]`` / ``[!ab]`` one character
of (or not of) a class — never ``/``. ``**/`` also matches nothing, so
``file://**/.env`` matches ``file:///.env`` and ``file:///srv/app/.env``. A
``[`` without its ``]`` is a literal character.

>>> compile_glob("file://**/.env").match("file:///srv/app/.env") is not None
True
>>> compile_glob("fleet://prod/*").match("fleet://prod/a/b") is None
True
>>> compile_glob("fleet://prod/[ab]").match("fleet://prod/a") is not None
True
"""

from __future__ import annotations

import re
from functools import lru_cache

GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    return any(c in GLOB_CHARS for c in pattern)


def _class_end(pattern: str, i: int) -> int:
    """Index of the ``]`` closing the class opened at ``i`` (-1: none, so ``[`` is literal).

    As in fnmatch, a ``]`` right after ``[`` or ``[!`` belongs to the class.
    """
    j = i + 1
    if j < len(pattern) and pattern[j] in "!^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    end = pattern.find("]", j)
    return end if end > i + 1 else -1


def _char_class(body: str) -> str:
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    members = "".join(
        c if c == "-" and 0 < k < len(body) - 1 else re.escape(c) for k, c in enumerate(body)
    )
    return f"[^{members}/]" if negate else f"(?!/)[{members}]"


@lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                if pattern.startswith("**/", i):
                    out.append("(?:.*/)?")
                    i += 3
                else:
                    out.append(".*")
                    i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := _class_end(pattern, i)) > 0:
            out.append(_char_class(pattern[i + 1 : end]))
            i = end + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z", re.DOTALL)
    except re.error as err:  # e.g. a reversed range [z-a]
        raise ValueError(f"bad glob {pattern!r}: {err}") from None


def literal_prefix(pattern: str) -> str:
    """The part of a pattern before its first wildcard: more of it = more specific."""
    for i, c in enumerate(pattern):
        if c in GLOB_CHARS:
            return pattern[:i]
    return pattern


def pattern_warnings(pattern: str) -> list[str]:
    """What a charter author probably did not mean by ``pattern`` (empty: nothing suspicious).

    ``slack://*`` grants only the scheme's top-level names, because ``*`` stops
    at ``/``; a grant for a whole scheme or tree almost always wants ``**``.
    """
    out = []
    scheme, sep, rest = pattern.partition("://")
    if sep and rest in ("*", "*/"):
        out.append(
            f"{pattern!r} matches only one path segment ({scheme}://a, not {scheme}://a/b): "
            f"use {scheme}://** for everything under {scheme}://"
        )
    elif pattern.endswith("/*") and pattern.count("/") <= 1:
        out.append(f"{pattern!r} matches one segment only: use {pattern[:-1]}** for the whole tree")
    if "[" in pattern and all(
        _class_end(pattern, i) < 0 for i, c in enumerate(pattern) if c == "["
    ):
        out.append(f"{pattern!r}: '[' has no closing ']' and is matched literally")
    return out
