"""Charters compiled for the hot path, and the set that resolves an agent's charter.

A call's capability classes are the union of its tool grant's classes and those
of every ``resource_classes`` pattern its resources match, plus the built-in
secret-source patterns unless the charter turns them off. So ``read_file`` on
``.env`` is a secret read; on ``src/app.py`` it is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from monitor.charter import Charter, ForbiddenChain
from monitor.core.globs import compile_glob, is_glob, literal_prefix
from monitor.core.uris import canonical_resource

#: Secret sources every charter knows unless ``builtin_secret_sources: false``.
BUILTIN_SECRET_PATTERNS: tuple[str, ...] = (
    "file://**/.env",
    "file://**/.env.*",
    "file://**/*.env",
    "file://**/.ssh/**",
    "file://**/id_rsa*",
    "file://**/id_ed25519*",
    "file://**/id_ecdsa*",
    "file://**/.aws/credentials",
    "file://**/.aws/config",
    "file://**/.config/gcloud/**",
    "file://**/.azure/**",
    "file://**/.kube/config",
    "file://**/.netrc",
    "file://**/.pgpass",
    "file://**/.docker/config.json",
    "file://**/.git-credentials",
    "vault://**",
    "secret://**",
)

_EMPTY: frozenset[str] = frozenset()
_RESOURCE_CACHE_MAX = 4096


def _alternation(patterns: Sequence[str]) -> re.Pattern[str]:
    """One regex matching whatever any of the globs matches (nothing, for no globs)."""
    if not patterns:
        return re.compile(r"(?!)")
    return re.compile("|".join(f"(?:{compile_glob(p).pattern})" for p in patterns), re.DOTALL)


class CompiledCharter:
    """A validated charter, indexed for O(1)-ish lookups per call."""

    __slots__ = (
        "_any_pattern",
        "_glob_grants",
        "_resource_cache",
        "_resource_patterns",
        "allowed_resources",
        "baseline",
        "chains",
        "charter",
        "data_domains",
        "exact_grants",
        "hours",
        "kind",
        "limits",
        "max_rate",
        "mission",
        "mode",
        "pattern",
        "tenants",
    )

    def __init__(self, charter: Charter) -> None:
        self.charter = charter
        self.pattern = charter.agent
        self.kind = charter.kind
        self.mode = charter.mode
        self.mission = charter.mission
        self.limits = charter.limits
        self.max_rate = charter.limits.max_calls_per_minute
        self.baseline = charter.baseline
        self.hours = charter.limits.hours_window()
        self.tenants = frozenset(charter.tenants) if charter.tenants is not None else None
        self.data_domains = (
            frozenset(charter.data_domains) if charter.data_domains is not None else None
        )
        self.exact_grants: dict[tuple[str, str], frozenset[str]] = {}
        self._glob_grants: list[tuple[re.Pattern[str], re.Pattern[str], frozenset[str]]] = []
        for g in charter.tools:
            classes = frozenset(g.classes)
            if is_glob(g.server) or is_glob(g.tool):
                self._glob_grants.append((compile_glob(g.server), compile_glob(g.tool), classes))
            else:
                key = (g.server, g.tool)
                self.exact_grants[key] = self.exact_grants.get(key, _EMPTY) | classes
        patterns = [(p.pattern, frozenset(p.classes)) for p in charter.resource_classes]
        if charter.builtin_secret_sources:
            patterns += [(p, frozenset({"read_secret"})) for p in BUILTIN_SECRET_PATTERNS]
        self._resource_patterns = [(compile_glob(p), c) for p, c in patterns]
        # One alternation answers "does any pattern match?" in a single scan: most
        # resources match none, and they are mostly unique (paths), so this is the hot case.
        self._any_pattern = _alternation([p for p, _ in patterns])
        self._resource_cache: dict[str, tuple[frozenset[str], bool]] = {}
        self.allowed_resources = (
            _alternation(charter.resources) if charter.resources is not None else None
        )
        self.chains: tuple[ForbiddenChain, ...] = tuple(charter.forbidden_chains)

    def grant(self, server: str, tool: str) -> frozenset[str] | None:
        """The classes of the grant covering ``server``/``tool``, or None if not granted."""
        found = self.exact_grants.get((server, tool))
        if not self._glob_grants:
            return found
        for s, t, classes in self._glob_grants:
            if s.match(server) and t.match(tool):
                found = classes if found is None else found | classes
        return found

    def _resource(self, resource: str) -> tuple[frozenset[str], bool]:
        """Classes and allowed-ness of one resource, cached: resources repeat a lot.

        Judged as written and as a server resolves it (:func:`canonical_resource`): allowed
        only if both forms are, of the classes of either; so ``file:///srv/../etc/shadow``
        is not under ``file:///srv/**`` and ``file:///app/%2eenv`` is a secret read."""
        cached = self._resource_cache.get(resource)
        if cached is not None:
            return cached
        classes, allowed = self._match(resource)
        resolved = canonical_resource(resource)
        if resolved != resource:
            more, also = self._match(resolved)
            classes, allowed = classes | more, allowed and also
        if len(self._resource_cache) >= _RESOURCE_CACHE_MAX:
            self._resource_cache.clear()
        found = self._resource_cache[resource] = (classes, allowed)
        return found

    def _match(self, resource: str) -> tuple[frozenset[str], bool]:
        classes = _EMPTY
        if self._any_pattern.match(resource):
            for rx, c in self._resource_patterns:
                if rx.match(resource):
                    classes = classes | c
        allowed = self.allowed_resources is None or bool(self.allowed_resources.match(resource))
        return classes, allowed

    def resource_classes(self, resource: str) -> frozenset[str]:
        return self._resource(resource)[0]

    def call_classes(
        self, grant: frozenset[str] | None, resources: Sequence[str]
    ) -> frozenset[str]:
        classes = grant or _EMPTY
        for r in resources:
            rc = self._resource(r)[0]
            if rc:
                classes = classes | rc
        return classes

    def resource_allowed(self, resource: str) -> bool:
        return self._resource(resource)[1]

    def in_hours(self, minute_of_day: int) -> bool:
        if self.hours is None:
            return True
        start, end = self.hours
        if start <= end:
            return start <= minute_of_day < end
        return minute_of_day >= start or minute_of_day < end


#: signed charter updates remembered per pattern, to tell a redelivery from a replay
MAX_SIGNED_KEPT = 64


class CharterSet:
    """All charters in force; resolves the one that governs an agent.

    An exact ``agent`` id wins over any glob; among globs the one with the
    longest literal prefix wins (the most specific), then the one loaded first.
    Resolutions are cached and the cache is dropped whenever a charter changes.
    """

    __slots__ = ("_by_pattern", "_cache", "_globs", "signed_versions", "version")

    def __init__(self, charters: Iterable[Charter] = ()) -> None:
        self._by_pattern: dict[str, CompiledCharter] = {}
        self._cache: dict[str, CompiledCharter | None] = {}
        # the glob patterns, compiled, with their literal prefix's length, in load order
        self._globs: list[tuple[re.Pattern[str], int, CompiledCharter]] = []
        self.version = 0
        # pattern -> {event_id: version} of the signed charter updates applied to it, oldest
        # first (the last is in force; at most MAX_SIGNED_KEPT): an update with an older or
        # equal version is refused, one of these again is a redelivery (monitor/core/
        # charter_update.py). A worker rebuilds it at start from the charter topic.
        self.signed_versions: dict[str, dict[str, int]] = {}
        for c in charters:
            self.put(c)

    def put(self, charter: Charter) -> CompiledCharter:
        """Add or replace the charter for ``charter.agent``."""
        compiled = CompiledCharter(charter)
        self._by_pattern[charter.agent] = compiled
        self._globs = [
            (compile_glob(pattern), len(literal_prefix(pattern)), c)
            for pattern, c in self._by_pattern.items()
            if is_glob(pattern)
        ]
        self._cache.clear()
        self.version += 1
        return compiled

    def signed_applied(self, pattern: str, event_id: str, version: int) -> None:
        """Record that the signed update ``event_id`` (``version``) is now in force."""
        applied = self.signed_versions.setdefault(pattern, {})
        applied.pop(event_id, None)
        applied[event_id] = version
        while len(applied) > MAX_SIGNED_KEPT:
            del applied[next(iter(applied))]

    def get(self, pattern: str) -> CompiledCharter | None:
        """The charter whose ``agent`` is exactly ``pattern``, if one is in force."""
        return self._by_pattern.get(pattern)

    def __len__(self) -> int:
        return len(self._by_pattern)

    def __iter__(self) -> Iterator[CompiledCharter]:
        return iter(self._by_pattern.values())

    def for_agent(self, agent_id: str) -> CompiledCharter | None:
        try:
            return self._cache[agent_id]
        except KeyError:
            pass
        found = self._by_pattern.get(agent_id)
        if found is None:
            best = -1
            for rx, score, compiled in self._globs:
                if score > best and rx.match(agent_id):
                    best, found = score, compiled
        if len(self._cache) > 65536:
            self._cache.clear()
        self._cache[agent_id] = found
        return found
