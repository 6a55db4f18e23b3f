"""``mcpmon completion bash``: a real bash completes sub-commands, nested ones, flags, choices."""

from __future__ import annotations

import subprocess

import pytest

from monitor.cli import build_parser
from monitor.completion import bash_script


def _complete(script: str, words: list[str]) -> list[str]:
    probe = (
        f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); "
        f"COMP_CWORD={len(words) - 1}; _mcpmon; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    out = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, check=True, timeout=30
    )
    return [w for w in out.stdout.splitlines() if w]


@pytest.fixture(scope="module")
def script() -> str:
    return bash_script(build_parser())


def test_subcommands_nested_subcommands_flags_and_choices(script: str) -> None:
    assert _complete(script, ["mcpmon", "re"]) == ["replay", "report", "revoker"]
    assert _complete(script, ["mcpmon", "charter", "su"]) == ["suggest"]
    assert "--hours-min-days" in _complete(script, ["mcpmon", "charter", "suggest", "--h"])
    assert _complete(script, ["mcpmon", "bench", "ka"]) == ["kafka"]
    assert _complete(script, ["mcpmon", "replay", "--ch"]) == ["--charters"]
    assert "--follow" in _complete(script, ["mcpmon", "tail", "--"])


def test_every_subcommand_of_the_parser_is_in_the_script(script: str) -> None:
    subs = _complete(script, ["mcpmon", ""])
    assert {"replay", "worker", "tap", "proxy", "sink", "completion", "explain"} <= set(subs)
    assert "--version" in subs
