"""scope_widening: resource paths climbing towards the root over a session.

Why: an injected "look around for credentials" shows as an agent that starts in
its workspace and walks up: ``/home/u/proj/src`` → ``/home/u/proj`` → ``/home/u``
→ ``/``. A benign task stays in (or below) the tree it started in.

The first path of a session (else task) is its anchor (a file's directory when
the last part has a dot). Each later path that is a proper ancestor of the
anchor, higher than any reached before, is one step up. Fires (medium) once per
session when at least two steps climbed ``hijack.scope_widening_levels`` levels
(default 3) or more, or any step reached the root. Paths are the call's
``resources`` and path-like string arguments (``/…``, ``~/…``, ``file://…``),
read as the server opens them (:func:`monitor.core.uris.canonical_resource`:
percent-escapes decoded, ``\\`` as ``/``, ``.`` and ``..`` resolved), so
``/srv/app/%2e%2e/%2e%2e`` climbs as ``/srv/app/../..`` does; other schemes
compare within their host.

Example: anchor ``file:///home/u/proj/src/app.py`` (directory at depth 4); then
``/home/u/proj`` (step 1), ``/home`` (step 2, 3 levels) → medium. Reading
``/home/u/proj/README.md`` or ``/home/u/proj/src/lib`` is quiet.

State (``AgentState.sections["scope_widening"]``): ``[session key, anchor parts,
highest depth reached, steps, fired]``, the anchor capped at 16 parts of 32
characters (under 1 KiB).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from monitor.core.detectors.base import CallContext, Finding, register
from monitor.core.detectors.hijack import HijackDetector, rules, section, session_key
from monitor.core.detectors.hijack import target as call_scope
from monitor.core.state import AgentState
from monitor.core.uris import canonical_resource

NAME = "scope_widening"
MAX_PATHS = 8  # paths looked at per call
MAX_PARTS = 16  # deeper parts are ignored
PART = 32  # characters of a part kept (and compared)
_URI = re.compile(r"^([a-z][a-z0-9+.-]{0,15})://([^/]*)(.*)$", re.IGNORECASE)

_SKEY, _ANCHOR, _DEPTH, _STEPS, _FIRED = range(5)


def parts(path: str) -> list[str] | None:
    """``"file:///a/b/../c"`` → ``["file:", "a", "c"]`` (so is ``"/a/b/%2e%2e/c"``); None if
    not path-like."""
    p = _parts(path)
    return None if p is None else list(p)


@lru_cache(maxsize=4096)
def _parts(path: str) -> tuple[str, ...] | None:
    m = _URI.match(path)
    if m:
        head, rest = f"{m.group(1).lower()}:{m.group(2).lower()[:PART]}", m.group(3)
        if head.startswith("file:"):
            head = "file:"
    elif path.startswith(("/", "~")):
        head, rest = "file:", path
    else:
        return None
    # resolved: no empty, "." or ".." segment is left in the path, which ends at "?" or "#"
    rest = canonical_resource(rest[:4096]).split("?", 1)[0].split("#", 1)[0]
    return (head, *[p[:PART] for p in rest.split("/") if p][:MAX_PARTS])


def _paths(ctx: CallContext) -> Iterator[str]:
    n = 0
    for r in ctx.call.resources:
        yield r
        n += 1
        if n >= MAX_PATHS:
            return
    for v in ctx.call.args.values():
        if isinstance(v, str) and v.startswith(("/", "~", "file://")) and len(v) <= 4096:
            yield v
            n += 1
            if n >= MAX_PATHS:
                return


def _fresh() -> list[Any]:
    return ["", None, 0, 0, False]


@register
class ScopeWidening(HijackDetector):
    name = NAME
    section = NAME
    size = 5

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        if not ctx.call.resources and not ctx.call.args:
            return ()
        sec = section(st, NAME, _fresh, 5)
        skey = session_key(ctx)
        if sec[_SKEY] != skey:
            sec[:] = [skey, None, 0, 0, False]
        if sec[_FIRED]:
            return ()
        levels = rules(ctx.charter).scope_widening_levels
        for path in _paths(ctx):
            p = parts(path)
            if p is None:
                continue
            anchor: list[Any] | None = sec[_ANCHOR]
            if anchor is None:
                if len(p) > 2 and "." in p[-1][1:]:
                    p = p[:-1]  # a file: its directory is the anchor
                sec[_ANCHOR], sec[_DEPTH] = p, len(p) - 1
                continue
            depth = len(p) - 1
            if depth >= sec[_DEPTH] or anchor[: len(p)] != p:
                continue
            sec[_DEPTH] = depth
            sec[_STEPS] += 1
            climbed = len(anchor) - 1 - depth
            if climbed >= levels and (sec[_STEPS] >= 2 or depth == 0):
                sec[_FIRED] = True
                return [self._finding(ctx, climbed, depth)]
        return ()

    def _finding(self, ctx: CallContext, climbed: int, depth: int) -> Finding:
        c = ctx.call
        scope, creds = call_scope(ctx)
        return Finding(
            NAME,
            "hijack.scope_widening_levels",
            "a session stays within the tree it started in",
            "medium",
            f"{c.agent_id} climbed {climbed} level(s) above where its session started, to "
            f"depth {depth}{' (the root)' if depth == 0 else ''}, with {c.server}/{c.tool}: "
            "widening its scope",
            [c.event_id],
            score=0.7,
            revoke=scope,
            credential_ids=creds,
            task_id=c.task_id,
            session_id=c.session_id,
            dedup=f"scope:{session_key(ctx)}",
            details={"levels_climbed": climbed, "depth": depth},
        )
