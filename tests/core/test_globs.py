"""Glob patterns: classes are supported (they were taken as wildcards by is_glob but matched
literally, so fleet://prod/[ab] never matched fleet://prod/a); suspicious patterns are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.charter import charter_warnings, load_charter_file
from monitor.cli import main
from monitor.core.globs import compile_glob, is_glob, literal_prefix, pattern_warnings
from monitor.errors import CharterError


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("fleet://prod/[ab]", "fleet://prod/a", True),
        ("fleet://prod/[ab]", "fleet://prod/c", False),
        ("x/[a-c]z", "x/bz", True),
        ("x/[a-c]z", "x/dz", False),
        ("x/[!ab]", "x/c", True),
        ("x/[!ab]", "x/a", False),
        ("x/[]]", "x/]", True),
        ("a[-]b", "a-b", True),
        ("x[/]y", "x/y", False),  # a class never matches the separator
        ("x[!a]y", "x/y", False),
        ("x/[ab", "x/[ab", True),  # no closing bracket: literal
        ("x/[ab", "x/a", False),
        ("x/[.]", "x/.", True),
        ("x/[.]", "x/q", False),  # regex metacharacters in a class stay literal
        ("x/[\\d]", "x/5", False),
    ],
)
def test_character_classes(pattern: str, text: str, matches: bool) -> None:
    assert (compile_glob(pattern).match(text) is not None) is matches


def test_a_reversed_range_is_a_charter_error_naming_the_field(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("agent: a\nkind: autonomous\ntools:\n  - {server: fs, tool: 'r[z-a]'}\n")
    with pytest.raises(CharterError) as err:
        load_charter_file(f)
    assert "tools.0.tool: bad glob 'r[z-a]'" in str(err.value.problems[0])


def test_whole_scheme_single_star_and_unclosed_bracket_are_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pattern_warnings("slack://**") == []
    assert pattern_warnings("fleet://prod/*") == []  # one segment under a path: meant
    assert "use slack://**" in pattern_warnings("slack://*")[0]
    assert "matched literally" in pattern_warnings("file:///x[y")[0]
    f = tmp_path / "c.yaml"
    f.write_text(
        "agent: a\nkind: autonomous\nresources: ['slack://*', 'fleet://prod/*']\n"
        "resource_classes:\n  - {pattern: 'vault://[x', classes: [read_secret]}\n"
    )
    c = load_charter_file(f)[0]
    got = charter_warnings(c)
    assert [w.split(":")[0] for w in got] == ["resources", "resource_classes[0].pattern"]
    assert main(["check-charter", str(f)]) == 0  # warnings do not fail the check
    out = capsys.readouterr().out
    assert out.count(": a: resources: ") == 1 and out.count(": a: resource_classes[0]") == 1


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
