"""The worker subprocess serves /metrics: a real broker, a real scrape."""

from __future__ import annotations

import time

import httpx

from tests.integration.helpers import produce_lines, read_outputs
from tests.integration.workers import Run
from tests.revoker.servers import free_port
from tests.worker.support import EXAMPLE_CHARTERS, EXAMPLE_EVENTS, replay_outputs


def _sample(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_worker_serves_its_counters_and_lag(run: Run) -> None:
    lines = [ln for ln in EXAMPLE_EVENTS.read_bytes().splitlines() if ln.strip()]
    want_a, want_r = replay_outputs(lines, EXAMPLE_CHARTERS)
    port = free_port()
    worker = run.start_worker(
        EXAMPLE_CHARTERS, MCPMON_WORKER_METRICS_PORT=str(port), MCPMON_METRICS_ADDR="127.0.0.1"
    )
    worker.wait_ready()
    produce_lines(run, lines)
    read_outputs(run, len(want_a) + len(want_r), timeout=60)

    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 30
    text = ""
    while time.monotonic() < deadline:  # counters move with the agent; lag on a 5 s timer
        text = httpx.get(url, timeout=5).text
        alerts = sum(
            float(ln.rsplit(" ", 1)[1])
            for ln in text.splitlines()
            if ln.startswith("mcpmon_worker_alerts_total{")
        )
        if alerts == len(want_a) and "mcpmon_worker_consumer_lag{" in text:
            break
        time.sleep(0.5)
    assert _sample(text, 'mcpmon_worker_events_total{type="tool_call"}') > 0
    assert alerts == len(want_a)
    assert _sample(text, 'mcpmon_worker_deadletters_total{reason="not_json"}') >= 1
    assert _sample(text, "mcpmon_worker_processing_seconds_count") >= len(lines) - 2
    lags = [ln for ln in text.splitlines() if ln.startswith("mcpmon_worker_consumer_lag{")]
    assert lags and all(float(ln.rsplit(" ", 1)[1]) == 0 for ln in lags)
    assert worker.alive
