"""A sample alert for the sink tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from monitor.core.frameworks import MAESTRO, OWASP_AGENTIC
from monitor.output_contracts import Alert

T0 = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
T0_MS = 1772366400250


def alert(**kw: Any) -> Alert:
    base: dict[str, Any] = {
        "alert_id": "a1b2c3",
        "ts": T0,
        "agent_id": "spiffe://corp/agents/patcher-1",
        "agent_kind": "autonomous",
        "detector": "forbidden_chain",
        "severity": "high",
        "score": 0.9,
        "reason": "read_secret then egress within 3 calls",
        "evidence": ["ev-1", "ev-2"],
        "clause": {
            "charter": "spiffe://corp/agents/patcher-*",
            "key": "forbidden_chains.exfiltration",
            "text": "read_secret -> egress within 5 calls",
            "mission": "apply approved OS patches",
        },
        "frameworks": {
            "owasp_agentic": [
                {"id": "ASI01", "name": OWASP_AGENTIC["ASI01"]},
                {"id": "ASI02", "name": OWASP_AGENTIC["ASI02"]},
            ],
            "maestro": [{"id": "L3", "name": MAESTRO["L3"]}],
            "nist_ai_rmf": ["MEASURE", "MANAGE"],
        },
        "mode": "enforce",
        "task_id": "task-7",
        "sponsor": "alice@corp",
        "session_id": "sess-3",
        "credential_id": "cred-9",
        "details": {"calls": 3},
    }
    base.update(kw)
    return Alert.model_validate(base)
