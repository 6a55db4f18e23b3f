"""Charter YAML loading: every problem with file, key path and line; nothing silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.charter import load_charter_dir, load_charter_file, load_charter_text
from monitor.errors import CharterError, CharterProblem, MonitorError

GOOD = """\
agent: "spiffe://corp/agents/patcher-*"
kind: autonomous
mission: apply approved OS patches
mode: enforce
tools:
  - {server: fleet, tool: list_hosts, classes: [read]}
  - {server: vault, tool: read_secret, classes: [read_secret]}
resource_classes:
  - {pattern: "https://**", classes: [egress]}
tenants: [corp]
data_domains: [infrastructure]
resources: ["fleet://prod/*"]
forbidden_chains:
  - {name: exfiltration, sequence: [read_secret, egress], within_calls: 10, within_seconds: 600}
limits: {max_calls_per_minute: 120, credential_max_ttl: 900, task_grace_seconds: 30,
         sponsor_quiet_seconds: 1800, hours: "06:00-22:00"}
baseline: {enabled: true, warmup_events: 200, alert_score: 0.98, revoke_score: 0.999}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(text: str, name: str = "c.yaml") -> list[CharterProblem]:
    with pytest.raises(CharterError) as info:
        load_charter_text(text, name)
    return info.value.problems


def where(problems: list[CharterProblem]) -> set[tuple[str, int | None]]:
    return {(p.key, p.line) for p in problems}


def charter_text(agent: str, extra: str = "") -> str:
    return f"agent: {agent}\nkind: autonomous\n{extra}"


# ---------------------------------------------------------------- valid documents


def test_valid_charter_file_loads(tmp_path: Path) -> None:
    [c] = load_charter_file(write(tmp_path, "patcher.yaml", GOOD))
    assert c.agent == "spiffe://corp/agents/patcher-*"
    assert c.mode == "enforce"
    assert [(t.server, t.tool) for t in c.tools] == [
        ("fleet", "list_hosts"),
        ("vault", "read_secret"),
    ]
    assert c.forbidden_chains[0].within_calls == 10
    assert c.limits.hours_window() == (6 * 60, 22 * 60)
    assert c.baseline.revoke_score == 0.999


def test_defaults_are_observe_mode_builtin_secrets_and_30s_grace() -> None:
    [c] = load_charter_text(charter_text("a"))
    assert c.mode == "observe"
    assert c.builtin_secret_sources is True
    assert c.limits.task_grace_seconds == 30
    assert c.tenants is None


def test_charter_error_is_a_monitor_error() -> None:
    with pytest.raises(MonitorError):
        load_charter_text("agent: a\n")


# ---------------------------------------------------------------- every problem, with file, key and line


def test_every_problem_is_reported_with_file_key_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        "agent: a\n"  # 1
        "kind: robot\n"  # 2
        "mode: enforce\n"  # 3
        "tools:\n"  # 4
        "  - server: fleet\n"  # 5
        "    tool: list_hosts\n"  # 6
        "    clases: [read]\n"  # 7
        "limits:\n"  # 8
        "  max_calls_per_minute: 0\n",  # 9
    )
    with pytest.raises(CharterError) as info:
        load_charter_file(path)
    problems = info.value.problems
    assert where(problems) == {
        ("kind", 2),
        ("tools.0.clases", 7),
        ("limits.max_calls_per_minute", 9),
    }
    assert {p.file for p in problems} == {str(path)}
    assert f"{path}:7: tools.0.clases" in str(info.value)


def test_missing_required_key_is_reported() -> None:
    [problem] = problems_of("agent: a\nmission: patch\n")
    assert problem.key == "kind"
    assert "required" in problem.message.lower()
    assert problem.line == 1


def test_bad_capability_class_name_points_at_the_list_item() -> None:
    text = charter_text(
        "a", "tools:\n  - server: fleet\n    tool: t\n    classes: [read, Read-Secret]\n"
    )
    [problem] = problems_of(text)
    assert problem.key == "tools.0.classes.1"
    assert problem.line == 6


def test_bad_hours_format_is_reported() -> None:
    [problem] = problems_of(charter_text("a", 'limits:\n  hours: "6-22"\n'))
    assert problem.key == "limits.hours"
    assert problem.line == 4
    assert "06:00-22:00" in problem.message


def test_yaml_syntax_error_has_a_line() -> None:
    [problem] = problems_of("agent: a\nkind: autonomous\ntools: [\n")
    assert problem.line is not None
    assert "YAML syntax" in problem.message


def test_document_that_is_not_a_mapping_is_reported() -> None:
    [problem] = problems_of("- agent: a\n")
    assert "mapping" in problem.message


def test_empty_file_is_reported() -> None:
    [problem] = problems_of("# nothing here\n")
    assert "no charter" in problem.message


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CharterError) as info:
        load_charter_file(tmp_path / "absent.yaml")
    assert "cannot read" in str(info.value)


# ---------------------------------------------------------------- unknown keys


def test_unknown_top_level_key_is_rejected() -> None:
    [problem] = problems_of(charter_text("a", "tool:\n  - {server: fleet, tool: t}\n"))
    assert problem.key == "tool"
    assert problem.line == 3
    assert "unknown key" in problem.message


def test_unknown_nested_key_is_rejected() -> None:
    [problem] = problems_of(charter_text("a", "limits:\n  max_calls_per_min: 5\n"))
    assert problem.key == "limits.max_calls_per_min"
    assert problem.line == 4
    assert "unknown key" in problem.message


def test_unknown_key_in_a_forbidden_chain_is_rejected() -> None:
    text = charter_text(
        "a", "forbidden_chains:\n  - name: x\n    sequence: [a, b]\n    within_call: 5\n"
    )
    [problem] = problems_of(text)
    assert problem.key == "forbidden_chains.0.within_call"
    assert problem.line == 6


def test_duplicate_yaml_key_is_reported_not_silently_overridden() -> None:
    # The second `limits:` would otherwise silently drop the first block's rules.
    text = charter_text("a", 'limits: {hours: "06:00-22:00"}\nlimits: {max_calls_per_minute: 5}\n')
    problems = problems_of(text)
    assert any(p.key == "limits" and p.line == 4 for p in problems)


# ---------------------------------------------------------------- multi-document files


def test_multi_document_file_loads_every_charter(tmp_path: Path) -> None:
    text = charter_text("agent:a") + "---\n" + charter_text("agent:b")
    charters = load_charter_file(write(tmp_path, "two.yaml", text))
    assert [c.agent for c in charters] == ["agent:a", "agent:b"]


def test_problem_in_a_later_document_has_its_line_in_the_file() -> None:
    text = charter_text("agent:a") + "---\n" + charter_text("agent:b", "mode: enforced\n")
    [problem] = problems_of(text)
    assert problem.key == "mode"
    assert problem.line == 6


def test_problems_in_every_document_are_reported() -> None:
    text = (
        charter_text("agent:a", "colour: red\n")  # line 3
        + "---\n"
        + charter_text("agent:b", "mode: enforced\n")  # line 7
    )
    assert where(problems_of(text)) == {("colour", 3), ("mode", 7)}


def test_trailing_document_separator_is_allowed() -> None:
    charters = load_charter_text(charter_text("agent:a") + "---\n")
    assert [c.agent for c in charters] == ["agent:a"]


def test_later_document_that_is_not_a_mapping_is_reported_at_its_own_line() -> None:
    [problem] = problems_of(charter_text("agent:a") + "---\n- just\n- a list\n")
    assert "mapping" in problem.message
    assert problem.line == 4


# ---------------------------------------------------------------- directories


def test_directory_loads_yaml_and_yml_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", charter_text("agent:a"))
    write(tmp_path, "b.yml", charter_text("agent:b"))
    write(tmp_path, "notes.txt", "not a charter")
    assert sorted(c.agent for c in load_charter_dir(tmp_path)) == ["agent:a", "agent:b"]


def test_directory_reports_problems_of_every_file(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", charter_text("agent:a", "colour: red\n"))
    b = write(tmp_path, "b.yaml", charter_text("agent:b", "mode: enforced\n"))
    with pytest.raises(CharterError) as info:
        load_charter_dir(tmp_path)
    assert {(p.file, p.key, p.line) for p in info.value.problems} == {
        (str(a), "colour", 3),
        (str(b), "mode", 3),
    }


def test_directory_with_two_charters_for_the_same_pattern_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", charter_text("agent:*"))
    write(tmp_path, "b.yaml", charter_text("agent:*", "mode: enforce\n"))
    with pytest.raises(CharterError) as info:
        load_charter_dir(tmp_path)
    [problem] = info.value.problems
    assert problem.key == "agent"
    assert "agent:*" in problem.message


def test_duplicate_pattern_problem_names_both_files_and_the_line(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", charter_text("agent:*"))
    second = write(tmp_path, "b.yaml", "# the same pattern again\n" + charter_text("agent:*"))
    with pytest.raises(CharterError) as info:
        load_charter_dir(tmp_path)
    [problem] = info.value.problems
    assert problem.file == str(second)
    assert problem.line == 2
    assert first.name in problem.message


def test_one_file_with_two_charters_for_the_same_pattern_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "dup.yaml", charter_text("agent:*") + "---\n" + charter_text("agent:*"))
    with pytest.raises(CharterError):
        load_charter_dir(path)  # the CLI passes a single --charters file through here


def test_empty_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CharterError) as info:
        load_charter_dir(tmp_path)
    assert "no *.yaml" in str(info.value)


# ---------------------------------------------------------------- cross-field rules


def test_within_calls_shorter_than_the_sequence_is_rejected() -> None:
    text = charter_text(
        "a",
        "forbidden_chains:\n"  # 3
        "  - name: hijack\n"  # 4
        "    sequence: [read_untrusted, read_secret, egress]\n"
        "    within_calls: 2\n",
    )
    [problem] = problems_of(text)
    assert problem.key == "forbidden_chains.0"
    assert problem.line == 4
    assert "within_calls=2" in problem.message
    assert "3 steps" in problem.message


def test_within_calls_equal_to_the_sequence_is_fine() -> None:
    text = charter_text(
        "a", "forbidden_chains:\n  - {name: x, sequence: [a, b, c], within_calls: 3}\n"
    )
    [c] = load_charter_text(text)
    assert c.forbidden_chains[0].within_calls == 3


def test_revoke_score_below_alert_score_is_rejected() -> None:
    text = charter_text("a", "baseline:\n  alert_score: 0.99\n  revoke_score: 0.95\n")
    [problem] = problems_of(text)
    assert problem.key == "baseline"
    assert problem.line == 3
    assert "revoke_score" in problem.message


def test_revoke_score_equal_to_alert_score_is_fine() -> None:
    [c] = load_charter_text(
        charter_text("a", "baseline: {alert_score: 0.99, revoke_score: 0.99}\n")
    )
    assert c.baseline.revoke_score == c.baseline.alert_score


def test_repeated_chain_names_are_rejected() -> None:
    text = charter_text(
        "a",
        "forbidden_chains:\n  - {name: x, sequence: [a, b]}\n  - {name: x, sequence: [c, d]}\n",
    )
    [problem] = problems_of(text)
    assert "unique" in problem.message
    assert "'x'" in problem.message


def test_a_spiffe_agent_pattern_is_folded_like_the_ids_it_governs() -> None:
    """Issue 13: ids arrive canonical (scheme and trust domain lowercase); so do patterns."""
    from monitor.core.policy import CharterSet

    [ch] = load_charter_text('agent: "SPIFFE://Corp.Example/agents/Patcher-*"\nkind: autonomous\n')
    assert ch.agent == "spiffe://corp.example/agents/Patcher-*"  # the path keeps its case
    charters = CharterSet([ch])
    assert charters.for_agent("spiffe://corp.example/agents/Patcher-1") is not None
    assert charters.for_agent("spiffe://corp.example/agents/patcher-1") is None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("spiffe://corp/agents/*/", "ends with '/'"),
        ("spiffe://corp//agents/*", "empty path segment"),
        ("spiffe://corp/agents/%41*", "percent-encoded"),
        ("agent:x\u200b", "invisible character"),
    ],
)
def test_an_agent_pattern_no_canonical_id_can_match_is_refused_at_load(
    pattern: str, why: str
) -> None:
    with pytest.raises(CharterError) as err:
        load_charter_text(f'agent: "{pattern}"\nkind: autonomous\n')
    [problem] = err.value.problems
    assert problem.key == "agent" and why in problem.message and problem.line == 1
