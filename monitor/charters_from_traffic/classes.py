"""Capability classes of a tool, inferred from its name and arguments, overridable by a file.

Why infer at all: a charter's forbidden chains and a map's escalation points are
written in classes (``read_secret``, ``egress``, ``exec`` …), but traffic only
shows ``server/tool`` names and arguments. Names carry most of the meaning
(``http_post`` sends data out, ``apply_patch`` changes and runs things), so a
small, ordered word list gets most tools right; what it gets wrong an operator
fixes once in a mapping file, which always wins::

    # classes.yaml — server/tool globs to classes (replacing what was inferred)
    classes:
      "helpdesk/get_ticket": [read_untrusted]
      "web/*": [read_untrusted]

>>> Classifier().classes("web", "http_post", {"url": "https://x"})
('egress',)
>>> Classifier().classes("fleet", "apply_patch", {})
('exec', 'write')
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from monitor.core.globs import compile_glob
from monitor.errors import MonitorError

#: Classes whose calls are escalation points on the map (issue: exec, admin, credential, egress).
ESCALATION_CLASSES: tuple[str, ...] = ("exec", "admin", "credential", "egress")

#: Class pairs that are dangerous in this order: a forbidden chain is suggested for each one an
#: agent can do but never did within the window (name, first, then).
DANGEROUS_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("exfiltration", "read_secret", "egress"),
    ("untrusted_exec", "read_untrusted", "exec"),
    ("privilege_escalation", "credential", "admin"),
)

# Word -> classes, matched against the tokens of the tool name (split on _ - . and case).
_WORDS: dict[str, tuple[str, ...]] = {
    # sending data out of the boundary
    "post": ("egress",), "send": ("egress",), "upload": ("egress",), "webhook": ("egress",),
    "publish": ("egress",), "notify": ("egress",), "tweet": ("egress",), "share": ("egress",),
    # running code, changing systems
    "exec": ("exec",), "execute": ("exec",), "shell": ("exec",), "command": ("exec",),
    "run": ("exec",), "reboot": ("exec",), "restart": ("exec",), "deploy": ("exec",),
    "apply": ("exec", "write"), "install": ("exec", "write"), "eval": ("exec",),
    # identity and privilege
    "grant": ("admin",), "role": ("admin",), "permission": ("admin",), "admin": ("admin",),
    "policy": ("admin",), "sudo": ("admin",),
    "credential": ("credential",), "credentials": ("credential",), "token": ("credential",),
    "login": ("credential",), "assume": ("credential",), "key": ("credential",),
    "secret": ("read_secret",), "secrets": ("read_secret",), "password": ("read_secret",),
    # content from outside, which may carry instructions
    "fetch": ("read_untrusted",), "browse": ("read_untrusted",), "scrape": ("read_untrusted",),
    "download": ("read_untrusted",), "crawl": ("read_untrusted",),
    # personal data
    "customer": ("pii",), "customers": ("pii",), "person": ("pii",), "contact": ("pii",),
    "employee": ("pii",),
    # changes
    "write": ("write",), "edit": ("write",), "create": ("write",), "update": ("write",),
    "put": ("write",), "add": ("write",), "commit": ("write",), "load": ("write",),
    "delete": ("write",), "set": ("write",), "insert": ("write",), "patch": ("write",),
    "export": ("egress",),
}  # fmt: skip

# Argument keys that say what a call does whatever its name.
_ARG_KEYS: dict[str, tuple[str, ...]] = {
    "command": ("exec",), "cmd": ("exec",), "script": ("exec",),
    "to": ("egress",), "recipient": ("egress",), "recipients": ("egress",),
    "webhook": ("egress",),
}  # fmt: skip

_TOKEN = re.compile(r"[A-Za-z][a-z]*|[0-9]+")


def name_tokens(name: str) -> list[str]:
    """``createPullRequest`` / ``create_pull_request`` → ``['create', 'pull', 'request']``."""
    return [t.lower() for t in _TOKEN.findall(name)]


def infer_classes(server: str, tool: str, arg_keys: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Classes from the tool's name, its server's name and its argument keys; ``read`` if none."""
    found: set[str] = set()
    tokens = name_tokens(tool)
    for t in tokens:
        found.update(_WORDS.get(t, ()))
    if "run" in tokens and {"query", "search", "report"} & set(tokens):
        found.discard("exec")  # run_query reads; run_tests runs code
    if server.lower() == "vault" and not found - {"read_secret"}:
        found.add("read_secret")  # reads on a secrets server are secret reads
    for k in arg_keys:
        found.update(_ARG_KEYS.get(k.lower(), ()))
    if found <= {"pii"}:
        found.add("read")  # lookup_customer reads personal data
    return tuple(sorted(found))


class Classifier:
    """Classes per ``server/tool``: the mapping file's glob first, else :func:`infer_classes`."""

    def __init__(self, overrides: list[tuple[str, tuple[str, ...]]] | None = None) -> None:
        self.overrides = [
            (compile_glob(s), compile_glob(t), key, classes)
            for key, classes in (overrides or [])
            for s, t in [key.split("/", 1)]
        ]
        self._cache: dict[tuple[str, str, tuple[str, ...]], tuple[str, ...]] = {}

    def override(self, server: str, tool: str) -> tuple[str, str] | None:
        """``(pattern, ', '.join(classes))`` of the mapping entry that decides this tool, if any."""
        for s, t, key, classes in self.overrides:
            if s.match(server) and t.match(tool):
                return key, ", ".join(classes)
        return None

    def classes(self, server: str, tool: str, args: dict[str, Any]) -> tuple[str, ...]:
        keys = tuple(sorted(k for k in args if k.lower() in _ARG_KEYS))
        ck = (server, tool, keys)
        found = self._cache.get(ck)
        if found is None:
            found = next(
                (c for s, t, _, c in self.overrides if s.match(server) and t.match(tool)), None
            )
            if found is None:
                found = infer_classes(server, tool, keys)
            if len(self._cache) > 65_536:
                self._cache.clear()
            self._cache[ck] = found
        return found


_CLASS = re.compile(r"^[a-z][a-z0-9_]*$")


def load_mapping(path: str | Path) -> Classifier:
    """A :class:`Classifier` from a mapping file; errors name the bad entry."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise MonitorError(f"{p}: cannot read class mapping: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("classes"), dict):
        raise MonitorError(f'{p}: a class mapping is a YAML mapping with a "classes" mapping')
    extra = sorted(set(doc) - {"classes"})
    if extra:
        raise MonitorError(f"{p}: unknown key(s) {extra}: only 'classes' is allowed")
    out: list[tuple[str, tuple[str, ...]]] = []
    for key, classes in doc["classes"].items():
        if not isinstance(key, str) or "/" not in key:
            raise MonitorError(f"{p}: classes.{key}: keys are 'server/tool' globs")
        if (
            not isinstance(classes, list)
            or not classes
            or not all(isinstance(c, str) and _CLASS.match(c) for c in classes)
        ):
            raise MonitorError(
                f"{p}: classes.{key}: a non-empty list of class names like [read, egress]"
            )
        out.append((key, tuple(sorted(set(classes)))))
    return Classifier(out)
