from __future__ import annotations

import pytest

from monitor.bench.tap import GENERATORS, bench_tap, measure_tap
from monitor.tap.formats import FORMATS


def test_every_format_has_a_generator() -> None:
    assert set(GENERATORS) == set(FORMATS)


def test_measure_tap_maps_every_synthetic_line_of_every_format() -> None:
    results = {r.format: r for r in measure_tap(n_lines=400, seed=3, rounds=1)}
    assert set(results) == set(FORMATS)
    assert (results["jsonrpc"].lines, results["jsonrpc"].events) == (400, 200)
    for name, r in results.items():
        if name != "jsonrpc":
            assert (r.lines, r.events) == (400, 400), name
        assert r.deadletters == 0 and 0 < r.ratio < 1, name


def test_bench_tap_prints_both_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_tap(200, seed=1, rounds=1) == 0
    out = capsys.readouterr().out
    assert (
        "tap lines/s" in out
        and "orjson lines/s" in out
        and "jsonrpc" in out
        and "docker-audit" in out
        and "auto" in out
    )
