"""Helpers for tests of the long-running sub-commands (``mcpmon revoker``, ``mcpmon sink``):
the help a user reads, and a stand-in for the run loop so a command starts without a broker."""

from __future__ import annotations

import os
from typing import Any

import pytest


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """What ``mcpmon ARGV --help`` prints (it exits 0)."""
    from monitor.cli import build_parser  # here: tests/conftest.py imports this module

    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def flat(text: str) -> str:
    """``text`` with its white space runs as one space: help wraps by the terminal's width."""
    return " ".join(text.split())


class Ran:
    """Stands in for monitor.runtime.run_until_stopped: records the service, closes what it
    opened (a revoker's actuators, a sink's transport), returns at once (no broker), as a
    SIGTERM right after the start would."""

    def __init__(self) -> None:
        self.services: list[Any] = []

    async def __call__(self, service: Any) -> Any:
        self.services.append(service)
        for part in ("revoker", "transport"):
            if hasattr(service, part):
                await getattr(service, part).aclose()
        return service.counters


def start_ran(monkeypatch: pytest.MonkeyPatch) -> Ran:
    """The stand-in, in an environment with no ``MCPMON_*`` variable of the caller's (the
    ``ran`` fixture of tests/conftest.py)."""
    r = Ran()
    monkeypatch.setattr("monitor.runtime.run_until_stopped", r)
    for var in [v for v in os.environ if v.startswith("MCPMON_")]:
        monkeypatch.delenv(var)
    return r
