"""`mcpmon bench baseline` reports the layer's cost and the on/off ratio from the same run."""

from __future__ import annotations

import re

import pytest

from monitor.bench import baseline as bench


def test_bench_baseline_prints_layer_cost_and_on_off_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc = bench.bench_baseline(3000, seed=3, rounds=1)
    out = capsys.readouterr().out
    assert rc in (0, 1)
    assert re.search(r"behaviour layer: (compiled \(mypyc\)|pure Python)", out)
    layer = re.search(r"the behaviour layer adds (-?[\d.]+) µs per tool call", out)
    ratio = re.search(r"ratio on/off  : ([\d.]+)", out)
    assert layer and ratio
    assert "charters' baseline off" in out and "charters' baseline on" in out
    # the exit code is the targets, as printed
    met = float(layer.group(1)) <= bench.TARGET_LAYER_US and float(ratio.group(1)) >= 0.6
    assert rc == (0 if met else 1)
    assert ("targets met" in out) == met
