"""Globs, capability-class derivation, charter resolution and hours."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.core.globs import compile_glob, is_glob, literal_prefix
from monitor.core.policy import MAX_SIGNED_KEPT, CharterSet, CompiledCharter
from monitor.testing import charter


def matches(pattern: str, text: str) -> bool:
    return compile_glob(pattern).match(text) is not None


def compiled(**kw: Any) -> CompiledCharter:
    return CompiledCharter(charter("agent:x", **kw))


# ---------------------------------------------------------------- globs


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("fleet://prod/*", "fleet://prod/web-1", True),
        ("fleet://prod/*", "fleet://prod/web-1/disk", False),
        ("fleet://prod/*", "fleet://prod/", True),
        ("fleet://prod/**", "fleet://prod/web-1/disk", True),
        ("file://**/.env", "file:///srv/app/.env", True),
        ("file://**/.env", "file:///.env", True),
        ("file://**/.env", "file:///srv/app/.envrc", False),
        ("file://**/.env", "file:///srv/app/x.env", False),
        ("agent-?", "agent-1", True),
        ("agent-?", "agent-12", False),
        ("agent-?", "agent-/", False),
        ("a.b", "axb", False),  # dots are literal
        ("spiffe://corp/agents/patcher-*", "spiffe://corp/agents/patcher-7", True),
        ("spiffe://corp/agents/patcher-*", "spiffe://corp/agents/patcher-7/x", False),
        ("exact", "exact-and-more", False),  # anchored at the end
        ("exact", "pre-exact", False),  # anchored at the start
    ],
)
def test_glob_matching(pattern: str, text: str, expected: bool) -> None:
    assert matches(pattern, text) is expected


def test_is_glob_and_literal_prefix() -> None:
    assert is_glob("agent:*")
    assert is_glob("agent-?")
    assert not is_glob("agent:patcher-1")
    assert literal_prefix("agent:ops-*") == "agent:ops-"
    assert literal_prefix("agent:patcher-1") == "agent:patcher-1"


# ---------------------------------------------------------------- grants and classes


def test_exact_grant_gives_its_classes() -> None:
    ch = compiled(tools=[{"server": "fleet", "tool": "apply_patch", "classes": ["write", "exec"]}])
    assert ch.grant("fleet", "apply_patch") == {"write", "exec"}
    assert ch.grant("fleet", "list_hosts") is None


def test_grant_with_no_classes_is_still_a_grant() -> None:
    ch = compiled(tools=[{"server": "fleet", "tool": "ping"}])
    assert ch.grant("fleet", "ping") == frozenset()


def test_glob_grants_match_tool_and_server() -> None:
    ch = compiled(
        tools=[
            {"server": "fleet", "tool": "read_*", "classes": ["read"]},
            {"server": "docs-*", "tool": "*", "classes": ["read_untrusted"]},
        ]
    )
    assert ch.grant("fleet", "read_logs") == {"read"}
    assert ch.grant("fleet", "write_logs") is None
    assert ch.grant("docs-internal", "search") == {"read_untrusted"}
    assert ch.grant("docs", "search") is None


def test_repeated_grants_of_one_tool_are_united() -> None:
    ch = compiled(
        tools=[
            {"server": "fs", "tool": "read_file", "classes": ["read"]},
            {"server": "fs", "tool": "read_file", "classes": ["read_untrusted"]},
        ]
    )
    assert ch.grant("fs", "read_file") == {"read", "read_untrusted"}


def test_call_classes_unite_the_grant_and_every_matching_resource_pattern() -> None:
    ch = compiled(
        resource_classes=[
            {"pattern": "https://**", "classes": ["egress"]},
            {"pattern": "s3://backups/**", "classes": ["read_secret", "bulk"]},
        ]
    )
    got = ch.call_classes(frozenset({"read"}), ["https://example.com/x", "s3://backups/db.dump"])
    assert got == {"read", "egress", "read_secret", "bulk"}


def test_call_classes_of_an_ungranted_tool_come_from_its_resources() -> None:
    ch = compiled()
    assert ch.call_classes(None, ["file:///srv/app/.env"]) == {"read_secret"}
    assert ch.call_classes(None, []) == frozenset()


def test_same_tool_is_a_secret_read_on_dotenv_but_not_on_source() -> None:
    ch = compiled(tools=[{"server": "fs", "tool": "read_file", "classes": ["read"]}])
    grant = ch.grant("fs", "read_file")
    assert ch.call_classes(grant, ["file:///srv/app/.env"]) == {"read", "read_secret"}
    assert ch.call_classes(grant, ["file:///srv/app/src/app.py"]) == {"read"}


@pytest.mark.parametrize(
    "resource",
    [
        "file:///srv/app/.env",
        "file:///.env",
        "file:///srv/app/.env.production",
        "file:///srv/app/prod.env",
        "file:///home/dev/.ssh/id_rsa",
        "file:///home/dev/.ssh/config",
        "file:///home/dev/keys/id_ed25519",
        "file:///home/dev/.aws/credentials",
        "file:///home/dev/.config/gcloud/application_default_credentials.json",
        "file:///home/dev/.kube/config",
        "file:///home/dev/.netrc",
        "file:///home/dev/.docker/config.json",
        "file:///home/dev/.git-credentials",
        "vault://secret/data/db",
        "secret://prod/api-key",
    ],
)
def test_builtin_secret_sources_are_secret_reads(resource: str) -> None:
    assert "read_secret" in compiled().resource_classes(resource)


@pytest.mark.parametrize(
    "resource",
    [
        "file:///srv/app/src/app.py",
        "file:///srv/app/.envrc",
        "file:///srv/app/environment.md",
        "file:///home/dev/.aws/notes.txt",
        "https://example.com/.env",
    ],
)
def test_ordinary_resources_are_not_secret_reads(resource: str) -> None:
    assert compiled().resource_classes(resource) == frozenset()


def test_builtin_secret_sources_can_be_turned_off() -> None:
    ch = compiled(builtin_secret_sources=False)
    assert ch.resource_classes("file:///srv/app/.env") == frozenset()
    assert ch.resource_classes("file:///home/dev/.ssh/id_rsa") == frozenset()


def test_declared_resource_classes_apply_with_builtins_off() -> None:
    ch = compiled(
        builtin_secret_sources=False,
        resource_classes=[{"pattern": "file://**/secrets/**", "classes": ["read_secret"]}],
    )
    assert ch.resource_classes("file:///srv/secrets/db.txt") == {"read_secret"}
    assert ch.resource_classes("file:///srv/app/.env") == frozenset()


def test_allowed_resources() -> None:
    assert compiled().resource_allowed("anything://at/all")
    ch = compiled(resources=["fleet://prod/*"])
    assert ch.resource_allowed("fleet://prod/web-1")
    assert not ch.resource_allowed("fleet://staging/web-1")


# ---------------------------------------------------------------- charter resolution


def resolve(agent_id: str, *patterns: str) -> str | None:
    found = CharterSet([charter(p) for p in patterns]).for_agent(agent_id)
    return None if found is None else found.pattern


def test_exact_agent_id_wins_over_any_glob() -> None:
    assert resolve("agent:ops-1", "agent:*", "agent:ops-*", "agent:ops-1") == "agent:ops-1"
    assert resolve("agent:ops-1", "agent:ops-1", "agent:ops-*", "agent:*") == "agent:ops-1"


def test_most_specific_glob_wins_whatever_the_order() -> None:
    assert resolve("agent:ops-1", "agent:*", "agent:ops-*") == "agent:ops-*"
    assert resolve("agent:ops-1", "agent:ops-*", "agent:*") == "agent:ops-*"


def test_less_specific_glob_covers_what_the_specific_one_does_not() -> None:
    assert resolve("agent:dev-1", "agent:*", "agent:ops-*") == "agent:*"


def test_equally_specific_globs_resolve_to_the_first_loaded() -> None:
    assert resolve("agent:ops-1", "agent:*", "agent:*-1") == "agent:*"
    assert resolve("agent:ops-1", "agent:*-1", "agent:*") == "agent:*-1"


def test_no_matching_charter_resolves_to_none() -> None:
    assert resolve("svc:other", "agent:*", "agent:ops-1") is None


def test_putting_a_charter_drops_the_cached_resolution() -> None:
    charters = CharterSet([charter("agent:*")])
    assert charters.for_agent("agent:ops-1").pattern == "agent:*"
    charters.put(charter("agent:ops-*"))
    assert charters.for_agent("agent:ops-1").pattern == "agent:ops-*"


def test_putting_a_charter_for_the_same_pattern_replaces_it() -> None:
    charters = CharterSet([charter("agent:*", mode="observe")])
    charters.put(charter("agent:*", mode="enforce"))
    assert len(charters) == 1
    assert charters.for_agent("agent:a").mode == "enforce"


# ---------------------------------------------------------------- hours


def minute(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


@pytest.mark.parametrize(
    ("now", "inside"),
    [("05:59", False), ("06:00", True), ("12:00", True), ("21:59", True), ("22:00", False)],
)
def test_daytime_hours_include_the_start_and_exclude_the_end(now: str, inside: bool) -> None:
    assert compiled(limits={"hours": "06:00-22:00"}).in_hours(minute(now)) is inside


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        ("21:59", False),
        ("22:00", True),
        ("23:59", True),
        ("00:00", True),
        ("05:59", True),
        ("06:00", False),
        ("12:00", False),
    ],
)
def test_hours_wrapping_midnight(now: str, inside: bool) -> None:
    assert compiled(limits={"hours": "22:00-06:00"}).in_hours(minute(now)) is inside


def test_whole_day_window_and_no_window_allow_every_minute() -> None:
    whole_day = compiled(limits={"hours": "00:00-24:00"})
    no_window = compiled()
    assert all(whole_day.in_hours(m) and no_window.in_hours(m) for m in range(24 * 60))


# ---------------------------------------------------------------- the set itself


def test_a_charter_set_counts_lists_and_finds_charters_by_pattern() -> None:
    a, b = charter("agent:a"), charter("agent:b-*")
    cs = CharterSet([a, b])
    assert len(cs) == 2
    assert [c.pattern for c in cs] == ["agent:a", "agent:b-*"]
    assert cs.get("agent:b-*") is not None and cs.get("agent:b-*").pattern == "agent:b-*"
    assert cs.get("agent:b-1") is None  # get is by pattern, not resolution


def test_every_put_moves_the_version_on() -> None:
    cs = CharterSet([charter("agent:a"), charter("agent:b")])
    assert cs.version == 2
    cs.put(charter("agent:a", mode="observe"))
    assert cs.version == 3


def test_signed_updates_are_remembered_per_pattern_newest_last_and_at_most_64() -> None:
    cs = CharterSet()
    for i in range(MAX_SIGNED_KEPT + 1):
        cs.signed_applied("agent:a", f"ev-{i}", i)
    kept = cs.signed_versions["agent:a"]
    assert len(kept) == MAX_SIGNED_KEPT == 64
    assert list(kept)[::63] == ["ev-1", f"ev-{MAX_SIGNED_KEPT}"]
    assert kept["ev-5"] == 5
    # one applied again is the newest now: it outlives the next eviction
    cs.signed_applied("agent:a", "ev-1", 1)
    cs.signed_applied("agent:a", "ev-new", 99)
    assert "ev-1" in kept and "ev-2" not in kept
    assert list(kept)[-2:] == ["ev-1", "ev-new"]
    assert "agent:b" not in cs.signed_versions


def test_an_exact_grant_and_every_matching_glob_grant_are_united() -> None:
    ch = compiled(
        tools=[
            {"server": "fleet", "tool": "apply_patch", "classes": ["exec"]},
            {"server": "fleet", "tool": "apply_*", "classes": ["write"]},
            {"server": "*", "tool": "apply_*", "classes": ["egress"]},
        ]
    )
    assert ch.grant("fleet", "apply_patch") == {"exec", "write", "egress"}
    assert ch.grant("fleet", "apply_config") == {"write", "egress"}
    assert ch.grant("docs", "apply_x") == {"egress"}


@pytest.mark.parametrize("pattern", ["*", "a*", "?"])
def test_a_glob_with_a_literal_prefix_of_one_or_none_still_governs(pattern: str) -> None:
    cs = CharterSet([charter(pattern)])
    found = cs.for_agent("a")
    assert found is not None and found.pattern == pattern


def test_allowed_resources_and_secret_sources_agree_with_each_glob_even_across_newlines() -> None:
    ch = compiled(resources=["fleet://prod/**"])
    for r in ["fleet://prod/a", "fleet://prod/a\nb", "fleet://prod/\n", "fleet://dev/a\nb"]:
        assert ch.resource_allowed(r) is (compile_glob("fleet://prod/**").match(r) is not None)
    assert ch.resource_allowed("fleet://prod/a\nb") is True
    assert "read_secret" in compiled().resource_classes("file:///srv/a\nb/.env")


@pytest.mark.parametrize(
    "resource",
    ["file:///app/%2eenv", "file:///app/%252eenv", "file:///home/u/x/..%2F.aws%2Fcredentials",
     "file:///srv\\.git-credentials"],
)  # fmt: skip
def test_a_secret_source_spelt_for_the_server_is_still_a_secret_read(resource: str) -> None:
    assert "read_secret" in compiled().resource_classes(resource)
    assert compiled().call_classes(frozenset({"read"}), [resource]) == {"read", "read_secret"}


def test_a_resource_is_allowed_only_if_it_is_both_as_written_and_as_resolved() -> None:
    ch = compiled(resources=["file:///srv/**"])
    assert ch.resource_allowed("file:///srv/app/x.py")
    assert ch.resource_allowed("file:///srv/my%20notes.txt")
    assert not ch.resource_allowed("file:///srv/../etc/shadow")
    assert not ch.resource_allowed("file:///srv/%2e%2e/etc/shadow")
    # as resolved it is under /srv, as written it is not: a symlink may be on the way
    assert not ch.resource_allowed("file:///tmp/../srv/x.py")
    assert ch.resource_allowed("file:///srv/x.py")
