"""Deterministic traffic for the broker tests, against ``examples/charters``.

Every agent's history is split in two halves around one instant, and some
violations need state from the first half to be seen in the second: a
forbidden chain ``read_secret → egress`` whose first step is before the split
(patchers), and a call after the task ended (coding assistants). A worker that
lost its state between the halves misses them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def split_traffic(
    patchers: int = 200, exfil_every: int = 4, assistants: int = 20, calls: int = 12
) -> tuple[list[bytes], list[bytes]]:
    """Two lists of JSON lines (before / after the split), each sorted by event time."""
    before: list[tuple[float, bytes]] = []
    after: list[tuple[float, bytes]] = []
    split = 300.0

    def emit(t: float, doc: dict) -> None:
        doc = {"ts": _ts(t), **doc}
        (before if t < split else after).append((t, orjson.dumps(doc)))

    for i in range(patchers):
        agent = f"spiffe://corp/agents/patcher-c{i}"
        off = (i % 50) * 0.5
        base = {
            "agent_id": agent,
            "tenant": "corp",
            "data_domain": "infrastructure",
            "credential_id": f"svid-c{i}",
            "outcome": "ok",
        }
        emit(
            off,
            {
                "type": "credential_issued",
                "event_id": f"c{i}-cred",
                "agent_id": agent,
                "credential_id": f"svid-c{i}",
                "scopes": ["fleet:patch"],
                "expires_at": _ts(off + 840),
            },
        )
        for k in range(calls):
            t = off + 10 + k * 40.0  # 12 calls over 480 s: half before, half after the split
            if k == calls // 2 - 1 and i % exfil_every == 0:
                emit(
                    t,
                    {
                        "type": "tool_call",
                        "event_id": f"c{i}-s{k}",
                        "server": "vault",
                        "tool": "read_secret",
                        "resources": [f"vault://fleet/key-{i}"],
                        **base,
                    },
                )
            elif k == calls // 2 + 1 and i % exfil_every == 0:
                emit(
                    t,
                    {
                        "type": "tool_call",
                        "event_id": f"c{i}-e{k}",
                        "server": "web",
                        "tool": "http_post",
                        "resources": ["https://status.corp.example/up"],
                        **base,
                    },
                )
            else:
                emit(
                    t,
                    {
                        "type": "tool_call",
                        "event_id": f"c{i}-l{k}",
                        "server": "fleet",
                        "tool": "list_hosts",
                        "resources": [f"fleet://prod/h{k}"],
                        **base,
                    },
                )
    for j in range(assistants):
        agent = f"agent:code-assistant/c{j}"
        task, sponsor = f"T-c{j}", f"dev{j}@corp.example"
        base = {
            "agent_id": agent,
            "agent_kind": "delegated",
            "sponsor": sponsor,
            "task_id": task,
            "credential_id": f"cred-c{j}",
            "tenant": "corp",
            "outcome": "ok",
        }
        off = j * 1.0
        emit(
            off,
            {
                "type": "task_started",
                "event_id": f"a{j}-start",
                "agent_id": agent,
                "task_id": task,
                "sponsor": sponsor,
                "agent_kind": "delegated",
            },
        )
        emit(
            off + 1,
            {
                "type": "credential_issued",
                "event_id": f"a{j}-cred",
                "agent_id": agent,
                "credential_id": f"cred-c{j}",
                "task_id": task,
                "scopes": ["repo:read"],
                "expires_at": _ts(off + 1801),
            },
        )
        for k in range(5):
            emit(
                off + 20 + k * 30,
                {
                    "type": "tool_call",
                    "event_id": f"a{j}-r{k}",
                    "server": "fs",
                    "tool": "read_file",
                    "resources": [f"file:///src/m{k}.py"],
                    **base,
                },
            )
        emit(
            off + 200,
            {
                "type": "task_ended",
                "event_id": f"a{j}-end",
                "agent_id": agent,
                "task_id": task,
                "sponsor": sponsor,
            },
        )
        if j % 2 == 0:  # lingering: a call long after the task ended (and after the split)
            emit(
                off + 400,
                {
                    "type": "tool_call",
                    "event_id": f"a{j}-late",
                    "server": "fs",
                    "tool": "read_file",
                    "resources": ["file:///src/late.py"],
                    **base,
                },
            )
    return (
        [line for _, line in sorted(before, key=lambda x: x[0])],
        [line for _, line in sorted(after, key=lambda x: x[0])],
    )
