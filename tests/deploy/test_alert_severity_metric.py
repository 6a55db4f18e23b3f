"""mcpmon_worker_alerts_by_severity_total{detector,severity}: the dashboard's "alerts by
detector and severity" panel needs the severity, which mcpmon_worker_alerts_total lacks."""

from __future__ import annotations

from collections import Counter

import orjson

from tests.test_metrics import EXAMPLE_EVENTS, _value, _worker


def test_worker_counts_alerts_by_detector_and_severity() -> None:
    proc, reg = _worker()
    lines = [ln for ln in EXAMPLE_EVENTS.read_bytes().splitlines() if ln.strip()]
    seen: Counter[tuple[str, str]] = Counter()
    for offset, line in enumerate(lines):
        for r in proc.handle(0, offset, line, now=1000.0).decisions:
            if r.topic == proc.topics.alerts:
                doc = orjson.loads(r.value)
                seen[(doc["detector"], doc["severity"])] += 1
    assert len({sev for _, sev in seen}) >= 2  # the example traffic has several severities
    for (detector, severity), n in seen.items():
        got = _value(
            reg, "mcpmon_worker_alerts_by_severity_total", detector=detector, severity=severity
        )
        assert got == n, (detector, severity)
    per_detector: Counter[str] = Counter()
    for (detector, _), n in seen.items():
        per_detector[detector] += n
    for detector, n in per_detector.items():  # consistent with the per-detector counter
        assert _value(reg, "mcpmon_worker_alerts_total", detector=detector) == n
