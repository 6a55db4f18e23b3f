"""`mcpmon bench` passes the flags it was given: a value equal to another benchmark's default
is still the user's value (``bench soak --rate 2000 --seconds 20`` once ran 400/s for 300 s)."""

from __future__ import annotations

from typing import Any

import pytest

import monitor.bench.kafka
import monitor.bench.replay
import monitor.bench.soak
import monitor.bench.tap
from monitor.cli import main
from monitor.worker.command import usable_cpus

KWARGS: list[dict[str, Any]] = []  # the keyword arguments of each recorded call


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    got: list[tuple[str, tuple[Any, ...]]] = []
    kw = KWARGS
    kw.clear()

    def record(name: str) -> Any:
        def run(*args: Any, **kwargs: Any) -> int:
            got.append((name, args))
            kw.append(kwargs)
            return 0

        return run

    monkeypatch.setattr(monitor.bench.soak, "bench_soak", record("soak"))
    monkeypatch.setattr(monitor.bench.kafka, "bench_kafka", record("kafka"))
    monkeypatch.setattr(monitor.bench.tap, "bench_tap", record("tap"))
    monkeypatch.setattr(monitor.bench.replay, "bench_replay", record("replay"))
    return got


def test_soak_takes_the_given_rate_and_seconds_even_when_they_equal_kafkas_defaults(
    calls: list[tuple[str, tuple[Any, ...]]],
) -> None:
    assert main(["bench", "soak", "--rate", "2000", "--seconds", "20"]) == 0
    assert calls[-1][0] == "soak" and calls[-1][1][1:3] == (2000.0, 20.0)
    assert main(["bench", "soak"]) == 0
    assert calls[-1][1][1:3] == (
        monitor.bench.soak.SOAK_DEFAULT_RATE,
        monitor.bench.soak.SOAK_DEFAULT_SECONDS,
    )


def test_kafka_and_tap_take_500000_events_when_asked(
    calls: list[tuple[str, tuple[Any, ...]]],
) -> None:
    assert main(["bench", "kafka", "--events", "500000", "--rate", "400", "--seconds", "300"]) == 0
    assert calls[-1] == ("kafka", (calls[-1][1][0], 500_000, 7, 400.0, 300.0))
    assert main(["bench", "kafka"]) == 0
    assert calls[-1][1][1:] == (monitor.bench.kafka.KAFKA_DEFAULT_EVENTS, 7, 2000.0, 20.0)
    # as the worker does: a process per usable CPU, at most the bench's 4 partitions
    assert KWARGS[-1] == {
        "processes": min(usable_cpus(), 4),
        "probe_every": monitor.bench.kafka.KAFKA_DEFAULT_PROBE_EVERY,
    }
    assert main(["bench", "kafka", "--probe-every", "20"]) == 0
    assert KWARGS[-1]["probe_every"] == 20
    assert main(["bench", "kafka", "--probe-every", "1"]) != 0  # every event a probe: refused
    assert main(["bench", "tap", "--events", "500000"]) == 0
    assert calls[-1] == ("tap", (500_000, 7, 3, None))
    assert main(["bench", "tap"]) == 0
    assert calls[-1] == ("tap", (200_000, 7, 3, None))
    assert main(["bench", "replay", "--events", "1000"]) == 0
    assert calls[-1] == ("replay", (1000, 7, 3, None))


def test_proxy_runs_its_own_default_of_2000_calls_or_the_calls_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `mcpmon bench proxy` without --events passed None on (range(-100, None): TypeError)
    import monitor.bench.proxy

    got: list[tuple[Any, ...]] = []
    monkeypatch.setattr(monitor.bench.proxy, "bench_proxy", lambda *a: got.append(a) or 0)
    assert main(["bench", "proxy"]) == 0
    assert got[-1] == (monitor.bench.proxy.PROXY_DEFAULT_CALLS, 3) == (2000, 3)
    assert main(["bench", "proxy", "--events", "500", "--rounds", "1"]) == 0
    assert got[-1] == (500, 1)


def test_models_is_a_benchmark_on_seeds_1_and_2_unless_one_is_given(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import monitor.bench.models

    got: list[tuple[int, ...]] = []

    def compare(seeds: tuple[int, ...]) -> str:
        got.append(seeds)
        return "| model | table |\n"

    monkeypatch.setattr(monitor.bench.models, "compare_models", compare)
    assert main(["bench", "models"]) == 0
    assert got[-1] == (1, 2)
    assert capsys.readouterr().out.endswith("| model | table |\n")
    assert main(["bench", "models", "--seed", "7"]) == 0
    assert got[-1] == (7,)


def test_a_group_that_never_splits_is_reported_with_the_worker_s_own_log() -> None:
    class Worker:  # one of two processes holds every partition, the other none
        alive = True

        def logs(self) -> list[dict[str, Any]]:
            return [
                {"event": "partitions_assigned", "pid": 11, "partitions": [0, 1, 2, 3]},
                {"event": "partitions_assigned", "pid": 12, "partitions": []},
            ]

        def tail(self) -> str:
            return '{"event": "rebalance_stuck"}'

    with pytest.raises(TimeoutError) as err:
        monitor.bench.kafka._wait_all_assigned(Worker(), 2, timeout=0.2)  # type: ignore[arg-type]
    assert "{11: [0, 1, 2, 3], 12: []}" in str(err.value)
    assert "rebalance_stuck" in str(err.value)  # the log's tail: the bench deletes its directory
