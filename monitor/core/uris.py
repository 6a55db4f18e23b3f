"""What a resource names once a server has decoded and resolved it.

Charters match resources by glob (:mod:`monitor.core.globs`) on the text a
gateway logged. A server that decodes percent-escapes and resolves ``..``
before it opens a path reads something else than that text says:
``file:///srv/../etc/shadow`` matches ``file:///srv/**`` and opens
``/etc/shadow``; ``file:///app/%2eenv`` is no ``.env`` to a glob but is one to
the server. :func:`canonical_resource` gives the resolved form, and the charter
judges a resource by both (:class:`monitor.core.policy.CompiledCharter`):
allowed only if both forms are, and of the capability classes of either.

>>> canonical_resource("file:///srv/../etc/shadow")
'file:///etc/shadow'
>>> canonical_resource("file:///srv/a%2F..%2F..%2Fetc//shadow")
'file:///etc/shadow'
>>> canonical_resource("https://api.corp/v1/./items/../users?next=../x")
'https://api.corp/v1/users?next=../x'
>>> canonical_resource("file:///repo/app/src/a.py")
'file:///repo/app/src/a.py'
"""

from __future__ import annotations

import re

#: ``scheme://authority``: kept as it is; what follows is the path, then query and fragment
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")
#: a run of percent-escapes: decoded together, as UTF-8 (as ``urllib.parse.unquote`` does;
#: the core imports no network module)
_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
#: percent-decoding rounds: a double-encoded ``%252e`` is ``.`` to a server that decodes twice
_DECODE_ROUNDS = 3


def canonical_resource(resource: str) -> str:
    """``resource`` with ``\\`` read as ``/``, percent-escapes decoded (at most three rounds),
    and in its path ``.`` and ``..`` segments resolved and repeated ``/`` collapsed. The
    scheme, authority, query and fragment are kept; a path's trailing ``/`` too."""
    if "%" not in resource and "\\" not in resource and not _has_dots_or_slashes(resource):
        return resource  # the common case, checked cheaply: nothing to resolve
    text = resource.replace("\\", "/")
    for _ in range(_DECODE_ROUNDS):
        decoded = _ESCAPES.sub(_decoded, text)
        if decoded == text:
            break
        text = decoded.replace("\\", "/")
    prefix = m.group() if (m := _PREFIX.match(text)) else ""
    rest = text[len(prefix) :]
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    return prefix + _resolve(rest[:cut]) + rest[cut:]


def _decoded(run: re.Match[str]) -> str:
    return bytes.fromhex(run.group().replace("%", "")).decode("utf-8", "replace")


def _has_dots_or_slashes(resource: str) -> bool:
    """Whether the path after any ``scheme://`` has a ``.`` segment start or a ``//``."""
    m = _PREFIX.match(resource)
    path = resource[m.end() :] if m else resource
    return "/." in path or "//" in path or path.startswith(".")


def _resolve(path: str) -> str:
    """RFC 3986 dot-segment removal, with empty segments dropped too; ``..`` above the
    start is dropped (a relative path keeps no leading ``..``)."""
    out: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            if out:
                out.pop()
        elif seg not in ("", "."):
            out.append(seg)
    lead = "/" if path.startswith("/") else ""
    trail = "/" if out and path.rsplit("/", 1)[-1] in ("", ".", "..") else ""
    return lead + "/".join(out) + trail
