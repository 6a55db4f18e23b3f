"""The map page renders in headless Chromium without console errors; a screenshot is kept."""

from __future__ import annotations

from pathlib import Path

from monitor.charters_from_traffic.map import write_map
from monitor.charters_from_traffic.traffic import Observer, file_lines, observe_lines
from tests.charter_tools.support import ARTIFACTS, render, write_sim


def test_console_errors_are_detected(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        "<!doctype html><html><body><p>broken</p><script>"
        'console.error("deliberate console error"); undefinedFunction();'
        "</script></body></html>"
    )
    messages = render(page, tmp_path / "broken.png")
    assert any("deliberate console error" in m for m in messages), messages
    assert any("Uncaught ReferenceError" in m for m in messages), messages


def test_map_page_renders_without_console_errors(tmp_path: Path) -> None:
    paths = write_sim(tmp_path / "sim")
    obs = observe_lines(file_lines(str(paths["events"])), Observer())
    out = write_map(obs, tmp_path / "map")
    shot = ARTIFACTS / "map.png"
    messages = render(out["html"], shot)
    assert messages == [], messages
    assert shot.stat().st_size > 20_000  # a drawn graph, not a blank page
    print(f"screenshot: {shot}")
