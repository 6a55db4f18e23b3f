"""Commands and in-memory actuators for the revoker's tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from monitor.output_contracts import RevocationCommand
from monitor.revoker.exceptions import ActuatorError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def command(**kw: Any) -> RevocationCommand:
    base: dict[str, Any] = {
        "command_id": "cmd-1",
        "ts": T0,
        "agent_id": "spiffe://corp/agents/a1",
        "scope": "task",
        "credential_ids": ["cred-1", "cred-2"],
        "task_id": "task-1",
        "reason": "lingering_access: call after task end",
        "alert_ids": ["alert-1"],
        "mode": "enforce",
    }
    base.update(kw)
    return RevocationCommand.model_validate(base)


class Scripted:
    """An actuator that plays a script: each item an error to raise, a delay, or success."""

    def __init__(self, name: str, script: list[Any] | None = None) -> None:
        self.name = name
        self.script = list(script or [])
        self.calls: list[str] = []
        self.closed = False

    async def apply(self, cmd: RevocationCommand) -> str:
        self.calls.append(cmd.command_id)
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, float):
            await asyncio.sleep(step)
        return f"{self.name} did {cmd.command_id}"

    async def aclose(self) -> None:
        self.closed = True


def transient(msg: str = "HTTP 503") -> ActuatorError:
    return ActuatorError(msg, retryable=True)


def final(msg: str = "HTTP 400") -> ActuatorError:
    return ActuatorError(msg, retryable=False)


class Sleeps:
    """Stands in for asyncio.sleep: records the delays, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, s: float) -> None:
        self.delays.append(s)
