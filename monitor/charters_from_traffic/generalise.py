"""Resource globs generalised *just enough* from the resources an agent touched.

``mailto:*`` would grant mail to anyone; listing 3,000 addresses grants nothing
new tomorrow. The middle: group resources into *families* — a URI's scheme and
authority (``https://pypi.org``), a file path's first directory, a mail
address's domain — and per family keep the longest common path prefix, ending
in ``*`` when every resource is one segment below it and ``**`` when deeper.
Mail to eight or more distinct domains, or to any free-mail provider, becomes
``mailto:*`` (:data:`MAIL_ANY_DOMAINS`, :data:`FREE_MAIL`: the recipients are the
public; who exactly is for the hijack detectors, not a static grant). A family with a single resource
stays literal, except that a last segment
that looks like an identifier (three digits or more, e.g. ``USN-6511-1``) becomes
``*`` outside secret schemes (``vault:``, ``secret:``, ``file:``). Globs use the charter's syntax
(``*`` inside a segment, ``**`` across ``/``).

>>> generalise(["mailto:ann@corp.com", "mailto:bob@corp.com"])[0].pattern
'mailto:*@corp.com'
>>> generalise(["fleet://prod/web-1", "fleet://prod/db-2"])[0].pattern
'fleet://prod/*'
>>> generalise(["file:///repo/app/src/a.py", "file:///repo/app/README.md"])[0].pattern
'file:///repo/app/**'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitor.core.globs import GLOB_CHARS

#: Mail to this many distinct domains or more is mail to the public (a support desk's
#: customers write from anywhere): ``mailto:*`` instead of one glob per domain, which
#: would refuse tomorrow's first customer from a new domain.
MAIL_ANY_DOMAINS = 8
#: Free-mail providers: mail to one of them already means mail to the public.
FREE_MAIL = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "gmx.com",
        "web.de",
        "proton.me",
        "protonmail.com",
        "mail.com",
        "yandex.com",
        "zoho.com",
        "fastmail.com",
        "tutanota.com",
    ]
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(//)?(.*)$", re.DOTALL)


@dataclass(slots=True)
class Family:
    pattern: str
    resources: int  # distinct resources it covers
    examples: list[str]


def _escape(segment: str) -> str:
    """Glob characters in an observed literal would widen it: replace them by ``?``."""
    return "".join("?" if c in GLOB_CHARS else c for c in segment)


#: Literal resources of these schemes are never widened from a single example.
_SECRET_SCHEMES = ("vault:", "secret:", "file:")


def _is_identifier(segment: str) -> bool:
    """``USN-6511-1``, ``CVE-2024-3094``, ``part-00008.parquet``: three digits or more."""
    return sum(c.isdigit() for c in segment) >= 3


def _split(resource: str) -> tuple[str, list[str]]:
    """``(family key, segments below it)``.

    ``https://pypi.org/project/x`` → ``('https://pypi.org', ['project', 'x'])``;
    ``file:///repo/app/x.py`` → ``('file:///repo', ['app', 'x.py'])``;
    ``mailto:ann@corp.com`` → ``('mailto:@corp.com', ['ann'])``.
    """
    m = _SCHEME.match(resource)
    if m is None:
        head, _, rest = resource.partition("/")
        return head, rest.split("/") if rest else []
    scheme, slashes, rest = m.groups()
    if scheme == "mailto" and "@" in rest:
        local, _, domain = rest.rpartition("@")
        return f"mailto:@{domain}", [local]
    parts = rest.split("/")
    if slashes and parts and parts[0] == "" and len(parts) > 1:  # file:///first/...
        return f"{scheme}:///{parts[1]}", parts[2:]
    prefix = f"{scheme}://" if slashes else f"{scheme}:"
    return prefix + parts[0], parts[1:]


def _patterns(key: str, paths: list[list[str]]) -> list[str]:
    if key.startswith("mailto:@"):
        locals_ = {p[0] for p in paths if p}
        domain = key.removeprefix("mailto:@")
        if len(locals_) == 1:
            return [f"mailto:{_escape(next(iter(locals_)))}@{_escape(domain)}"]
        return [f"mailto:*@{_escape(domain)}"]
    if len({tuple(p) for p in paths}) == 1:
        segs = [_escape(s) for s in paths[0]]
        if segs and _is_identifier(segs[-1]) and not key.startswith(_SECRET_SCHEMES):
            segs[-1] = "*"  # one advisory seen today, another tomorrow: ids vary
        rest = "/".join(segs)
        return [f"{key}/{rest}" if paths[0] else key]
    common: list[str] = []
    for column in zip(*paths, strict=False):
        if len(set(column)) != 1:
            break
        common.append(column[0])
    head = "/".join([key, *(_escape(s) for s in common)])
    below = {len(p) - len(common) for p in paths}
    if below == {1}:
        return [f"{head}/*"]
    if 0 in below:  # the prefix itself was used too: "/**" needs a segment below it
        return [head, f"{head}/**"]
    return [f"{head}/**"]


def generalise(resources: Iterable[str] | Mapping[str, object]) -> list[Family]:
    """One glob per family covering every resource given; families sorted by pattern."""
    groups: dict[str, list[list[str]]] = {}
    examples: dict[str, list[str]] = {}
    for r in resources:
        key, segs = _split(r)
        groups.setdefault(key, []).append(segs)
        ex = examples.setdefault(key, [])
        if len(ex) < 3:
            ex.append(r)
    mail = [k for k in groups if k.startswith("mailto:@")]
    public = any(k.removeprefix("mailto:@").lower() in FREE_MAIL for k in mail)
    if len(mail) >= MAIL_ANY_DOMAINS or public:  # recipients are the public, not partners
        n = sum(len(groups[k]) for k in mail)
        ex = [e for k in mail for e in examples[k]][:3]
        for k in mail:
            del groups[k]
        out = [Family("mailto:*", n, ex)]
    else:
        out = []
    out += [
        Family(pattern, len(paths), examples[k])
        for k, paths in groups.items()
        for pattern in _patterns(k, paths)
    ]
    return sorted(out, key=lambda f: f.pattern)
