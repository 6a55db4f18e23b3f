"""Secrets an agent puts in its arguments and URIs never reach the alerts topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.events import encode_event
from tests.core.test_redact import CHARTER, EMAIL, SECRETS, _events
from tests.integration.helpers import produce_lines, read_outputs
from tests.integration.workers import Run

pytestmark = pytest.mark.kafka


def test_alerts_and_commands_on_kafka_carry_no_secret(run: Run, tmp_path: Path) -> None:
    charters = tmp_path / "charters"
    charters.mkdir()
    (charters / "assist.yaml").write_text(CHARTER.model_dump_json(exclude_none=True))
    worker = run.start_worker(charters, MCPMON_REDACT_EMAILS="true")
    worker.wait_ready()
    produce_lines(run, [encode_event(e) for e in _events()])
    out = read_outputs(run, 5, timeout=60)  # 3 alerts, 2 revocation commands
    records = out["alerts"] + out["revocations"]
    assert len(out["alerts"]) >= 3, worker.tail()
    text = b"\n".join(r.value for r in records)
    assert b"[REDACTED:" in text
    for name, secret in SECRETS.items():
        assert secret.encode() not in text, name
    assert EMAIL.encode() not in text  # MCPMON_REDACT_EMAILS=true
