"""Glob patterns for agent ids and resource URIs.

``*`` matches inside one path segment (no ``/``), ``**`` matches across
segments, ``?`` one character. ``**/`` also matches nothing, so
``file://**/.env`` matches ``file:///.env`` and ``file:///srv/app/.env``.

>>> compile_glob("file://**/.env").match("file:///srv/app/.env") is not None
True
>>> compile_glob("fleet://prod/*").match("fleet://prod/a/b") is None
True
"""

from __future__ import annotations

import re
from functools import lru_cache

GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    return any(c in GLOB_CHARS for c in pattern)


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
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def literal_prefix(pattern: str) -> str:
    """The part of a pattern before its first wildcard: more of it = more specific."""
    for i, c in enumerate(pattern):
        if c in GLOB_CHARS:
            return pattern[:i]
    return pattern
