"""Every sub-command registers from its own module, renders its help, and completes.

``monitor/cli.py`` only dispatches: each command's arguments, help and runner
live next to the code it drives (``add_X_parser(sub)``). These tests walk the
parser tree the CLI really builds, so a command added anywhere is checked.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest

from monitor.cli import build_parser, main
from monitor.completion import bash_script


def _children(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    return {}


def _walk(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sp in _children(p).items():
        yield from _walk(sp, (*path, name))


def _leaf(p: argparse.ArgumentParser, path: tuple[str, ...]) -> argparse.ArgumentParser:
    for name in path:
        p = _children(p)[name]
    return p


PARSER = build_parser()
PATHS = list(_walk(PARSER))


def test_the_tree_has_every_command_and_the_nested_ones() -> None:
    top = {path[0] for path in PATHS if len(path) == 1}
    assert {
        "replay", "check-charter", "schemas", "simulate", "evaluate", "bench", "explain",
        "completion", "tail", "worker", "report", "feedback", "tap", "proxy", "revoker",
        "sink", "sign-charter", "map", "charter",
    } == top  # fmt: skip
    assert {("charter", "suggest"), ("charter", "diff"), ("charter", "evaluate")} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "mcpmon")
def test_help_renders_for_every_command(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {' '.join(('mcpmon', *path))}")
    assert _leaf(PARSER, path).description, f"{path} has no description"


def test_every_command_runs_from_a_module_of_its_own() -> None:
    for path in PATHS:
        p = _leaf(PARSER, path)
        if _children(p) or not path:
            continue  # a group (charter): its sub-commands run
        func = p.get_default("func")
        assert callable(func), f"{path} has no function to run"
        assert func.__module__ != "monitor.cli", f"mcpmon {' '.join(path)} is defined in cli.py"


def test_completion_knows_every_command_nested_command_and_flag() -> None:
    script = bash_script(PARSER)
    for path in PATHS:
        if path:
            assert f" {path[-1]}" in script or f"{path[-1]})" in script, path
        for action in _leaf(PARSER, path)._actions:
            for flag in action.option_strings:
                if flag.startswith("--"):
                    assert flag in script, (path, flag)


def test_the_module_and_the_entry_point_run_the_same_main() -> None:
    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "mcpmon"]
    assert ep.value == "monitor.cli:main"
    r = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "charter", "suggest", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert r.stdout.startswith("usage: mcpmon charter suggest")


def test_charter_suggest_help_says_the_ttl_gets_headroom() -> None:
    """The TTL cap is the longest TTL seen plus TTL_HEADROOM (25 %), not the longest itself."""
    from monitor.charters_from_traffic.suggest import TTL_HEADROOM

    text = " ".join(_leaf(PARSER, ("charter", "suggest")).format_help().split())
    assert "credential_max_ttl = the longest TTL issued (" not in text
    assert f"+{TTL_HEADROOM - 1:.0%} headroom" in text
