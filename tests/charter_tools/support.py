"""Shared test traffic and a headless Chromium that reports console messages."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import orjson

from monitor.simulate import Simulation, simulate, write

ROOT = Path(__file__).resolve().parents[2]
#: Screenshots kept as test artefacts (git-ignored): the last run's map page.
ARTIFACTS = ROOT / "artifacts"

_SIM: dict[tuple[int, int, float, bool], Simulation] = {}


def sim(seed: int = 3, agents: int = 24, minutes: float = 60, attacks: bool = True) -> Simulation:
    """A simulation, computed once per test session (they are deterministic)."""
    key = (seed, agents, minutes, attacks)
    if key not in _SIM:
        _SIM[key] = simulate(agents, minutes, seed, attacks=attacks)
    return _SIM[key]


def write_sim(tmp: Path, **kw: object) -> dict[str, Path]:
    return write(sim(**kw), tmp)  # type: ignore[arg-type]


def lines(events: list[dict]) -> list[bytes]:
    return [orjson.dumps(e) for e in events]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise AssertionError(
            "chromium is not installed: run `bash scripts/chromium.sh install` (make test does)"
        )
    return exe


def render(page: Path, screenshot: Path, size: str = "1280,800") -> list[str]:
    """Load ``page`` in headless Chromium, save a screenshot, return its console messages.

    Chromium logs every console message (console.error, uncaught exceptions, failed
    resource loads reported to the console) at ``--enable-logging=stderr`` as
    ``...:CONSOLE:<line>] "<message>", source: <url>``. The map page writes
    nothing to the console, so any such line is a failure.
    """
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    if screenshot.parent == ARTIFACTS:
        (ARTIFACTS / ".gitignore").write_text("*\n")  # artefacts, never committed
    home = screenshot.parent / ".chromium-home"
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={home}",
            f"--window-size={size}",
            "--virtual-time-budget=2000",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={screenshot}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert screenshot.is_file() and screenshot.stat().st_size > 0, proc.stderr[-2000:]
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
