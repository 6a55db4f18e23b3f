"""`mcpmon bench baseline` reports the layer's cost and the on/off ratio from the same run."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any, cast

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
    # the whole rounds' difference (the estimate before the paired one) is printed beside it
    assert re.search(r"best whole rounds' difference: -?[\d.]+ µs", out)
    assert len(re.findall(r"round \d: baselines off", out)) == 1
    assert "charters' baseline off" in out and "charters' baseline on" in out
    # the exit code is the targets, as printed
    met = float(layer.group(1)) <= bench.TARGET_LAYER_US and float(ratio.group(1)) >= 0.6
    assert rc == (0 if met else 1)
    assert ("targets met" in out) == met


def test_the_paired_estimate_is_each_chunks_median_over_the_rounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Per chunk, the median over the rounds of on − off, summed over the chunks, per tool
    call: a round disturbed on one chunk does not move it. CPU time is faked: feeding a
    chunk to an engine advances the clock by a scripted amount."""
    lines = [b"x"] * 16  # 8 chunks of 2 events, all of them tool calls
    now = [0.0]
    # per round, the layer's extra seconds on each chunk: round 2 is disturbed on chunk 3
    # (the layer's run slowed) and on chunk 5 (the other engine's run slowed)
    extra = [[1.0] * 8, [1.0, 1.0, 1.0, 50.0, 1.0, -4.0, 1.0, 1.0], [1.0] * 8]
    made: list[list[Any]] = []  # per engine: [baseline on?, round, chunks fed]

    def fake_engine(charters: list[Any], settings: object) -> list[Any]:
        made.append([charters[0].baseline.enabled, len(made) // 2, 0])
        return made[-1]

    def fake_feed(engine: list[Any], chunk: list[bytes]) -> int:
        on, r, k = engine
        engine[2] += 1
        now[0] += 10.0 + (extra[r][k] if on else 0.0)
        return 0

    monkeypatch.setattr(bench, "Engine", fake_engine)
    monkeypatch.setattr(bench, "feed", fake_feed)
    monkeypatch.setattr(bench.time, "process_time", lambda: now[0])
    on = [SimpleNamespace(baseline=SimpleNamespace(enabled=True))]
    off = [SimpleNamespace(baseline=SimpleNamespace(enabled=False))]
    totals, paired = bench._paired_rounds(lines, [True] * 16, cast(Any, on), cast(Any, off), 3)
    # every chunk: 1 s more with the layer on (the median of 1, 1 and 1, 50 or -4), per call
    assert paired == pytest.approx(8 * 1.0 / 16 * 1e6)
    assert [round(on_s - off_s) for off_s, on_s in totals] == [8, 52, 8]
    assert [e[2] for e in made] == [8] * 6  # 3 rounds, a fresh engine each, every chunk fed
