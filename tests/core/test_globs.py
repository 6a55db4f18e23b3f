"""Glob patterns for agent ids and resource URIs: one segment, across segments, one character."""

from __future__ import annotations

import pytest

from monitor.core.globs import compile_glob, is_glob, literal_prefix


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("a*", True), ("a?", True), ("a[b]", True), ("abc", False), ("", False), ("a/b.c", False)],
)
def test_a_glob_is_a_pattern_with_a_wildcard(pattern: str, expected: bool) -> None:
    assert is_glob(pattern) is expected


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        (
            "fleet://prod/*",
            ["fleet://prod/a", "fleet://prod/"],
            ["fleet://prod/a/b", "fleet://x/a"],
        ),
        ("a/**", ["a/", "a/b", "a/b/c", "a/x\ny"], ["b/a", "a"]),
        ("file://**/.env", ["file:///.env", "file:///srv/app/.env"], ["file:///srv/app/x.env"]),
        ("**/.env", [".env", "x/y/.env"], ["x.env", "x/.envy"]),
        ("a**b", ["ab", "a/x/b", "axb"], ["a/x/bc"]),
        ("a?c", ["abc", "a-c"], ["a/c", "ac", "abbc"]),
        ("a.b", ["a.b"], ["axb", "a.bc", "a.b\n"]),
        ("*", ["", "anything"], ["a/b"]),
        ("x*y*z", ["xyz", "x1y2z"], ["x/y/z", "xyzq"]),
        ("agent:helper-?", ["agent:helper-1"], ["agent:helper-10", "agent:helper-"]),
    ],
)
def test_a_glob_matches_whole_strings_by_segment(
    pattern: str, matches: list[str], misses: list[str]
) -> None:
    rx = compile_glob(pattern)
    assert [m for m in matches if rx.match(m) is None] == []
    assert [m for m in misses if rx.match(m) is not None] == []


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("fleet://prod/*", "fleet://prod/"),
        ("a?b", "a"),
        ("ab[c]", "ab"),
        ("abc", "abc"),
        ("*x", ""),
        ("", ""),
        ("x/**/y", "x/"),
    ],
)
def test_the_literal_prefix_is_everything_before_the_first_wildcard(
    pattern: str, prefix: str
) -> None:
    assert literal_prefix(pattern) == prefix
