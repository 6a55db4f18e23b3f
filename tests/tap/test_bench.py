from __future__ import annotations

import pytest

from monitor.tap.bench import bench_tap, measure_tap


def test_measure_tap_maps_every_synthetic_line() -> None:
    results = {r.format: r for r in measure_tap(n_lines=400, seed=3, rounds=1)}
    assert set(results) == {"ours", "jsonrpc"}
    assert (results["ours"].lines, results["ours"].events) == (400, 400)
    assert (results["jsonrpc"].lines, results["jsonrpc"].events) == (400, 200)
    for r in results.values():
        assert r.deadletters == 0 and 0 < r.ratio < 1


def test_bench_tap_prints_both_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_tap(200, seed=1, rounds=1) == 0
    out = capsys.readouterr().out
    assert "tap lines/s" in out and "orjson lines/s" in out and "jsonrpc" in out
