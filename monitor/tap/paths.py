"""Dotted paths into decoded JSON lines, e.g. ``params._meta.traceparent``.

Why not JSONPath: a mapping names one value per target field, and the keys
gateways use are awkward in exactly two ways that a dotted path must survive:

- keys that contain dots, such as the MCP ``_meta`` key
  ``io.modelcontextprotocol/clientInfo`` — a path is matched greedily, so
  ``params._meta.io.modelcontextprotocol/clientInfo.name`` finds it;
- HTTP header names, whose case varies by client — when no key matches
  exactly, a case-insensitive match is tried.

A segment that is an integer indexes a list (``delegation.chain.0.sub``,
``-1`` for the last element). Matching is greedy and does not backtrack: at
each level the longest key present wins.

>>> DottedPath("params._meta.io.mcp/clientInfo.name").get(
...     {"params": {"_meta": {"io.mcp/clientInfo": {"name": "patcher"}}}})
'patcher'
>>> DottedPath("headers.Mcp-Session-Id").get({"headers": {"mcp-session-id": "4f2a"}})
'4f2a'
"""

from __future__ import annotations

from typing import Any

MISSING: Any = object()


class DottedPath:
    """A compiled dotted path; :meth:`get` returns the value or :data:`MISSING`."""

    __slots__ = ("_casefold", "_keys", "_n", "text")

    def __init__(self, text: str, *, casefold: bool = True) -> None:
        segments = text.split(".")
        if not text or any(s == "" for s in segments):
            raise ValueError(f"invalid path {text!r}: empty segment")
        self.text = text
        #: try a case-insensitive match when no key matches exactly (for header names);
        #: presets whose keys are fixed turn it off: a miss then costs no scan of the keys
        self._casefold = casefold
        self._n = len(segments)
        # _keys[i]: every key that segments i..j-1 could spell, longest first
        self._keys: tuple[tuple[tuple[int, str], ...], ...] = tuple(
            tuple((j, ".".join(segments[i:j])) for j in range(self._n, i, -1))
            for i in range(self._n)
        )

    def __repr__(self) -> str:
        return f"DottedPath({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DottedPath) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def get(self, doc: Any) -> Any:
        cur, i, n, keys = doc, 0, self._n, self._keys
        while i < n:
            if isinstance(cur, dict):
                for j, key in keys[i]:  # longest key first: dotted keys win
                    if key in cur:
                        cur, i = cur[key], j
                        break
                else:
                    if not self._casefold:
                        return MISSING
                    found = _casefold_step(cur, keys[i])
                    if found is None:
                        return MISSING
                    cur, i = found
            elif isinstance(cur, list):
                try:
                    idx = int(keys[i][-1][1])  # the single segment at i
                except ValueError:
                    return MISSING
                if not -len(cur) <= idx < len(cur):
                    return MISSING
                cur, i = cur[idx], i + 1
            else:
                return MISSING
        return cur


def _casefold_step(
    cur: dict[Any, Any], keys: tuple[tuple[int, str], ...]
) -> tuple[Any, int] | None:
    """Header names: when no key matches exactly, match one case-insensitively."""
    lowered = {k.lower(): k for k in cur if isinstance(k, str)}
    for j, key in keys:
        k = lowered.get(key.lower())
        if k is not None:
            return cur[k], j
    return None
