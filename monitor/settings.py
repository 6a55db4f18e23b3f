"""The one settings object, built in the shell and passed down as plain values.

Every value can come from the environment (``MCPMON_<FIELD>``, upper case) and
CLI flags override it. The core never reads this module: shells turn it into
:class:`monitor.core.EngineSettings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.core import EngineSettings
from monitor.errors import MonitorError

ENV_PREFIX = "MCPMON_"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_dedup_seconds: float = Field(
        300.0, ge=0, description="Repeated alerts within this are one"
    )
    revoke_min_severity: Literal["low", "medium", "high", "critical"] = Field(
        "high", description="Lowest severity that revokes (in enforce mode)"
    )
    force_observe: bool = Field(False, description="Shadow mode for every charter: never enforce")
    clock_skew_seconds: float = Field(
        5.0, ge=0, description="Clock difference forgiven on expiry/revocation"
    )
    allowed_lateness_seconds: float = Field(0.0, ge=0, description="Event-time watermark lag")

    def engine(self) -> EngineSettings:
        return EngineSettings(
            alert_dedup_seconds=self.alert_dedup_seconds,
            revoke_min_severity=self.revoke_min_severity,
            force_observe=self.force_observe,
            clock_skew_seconds=self.clock_skew_seconds,
            allowed_lateness_seconds=self.allowed_lateness_seconds,
        )


def load_settings(
    overrides: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> Settings:
    """Environment first, then explicit overrides (e.g. CLI flags that were given)."""
    source: Mapping[str, str] = os.environ if env is None else env
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        raw = source.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = raw
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as err:
        e = err.errors(include_url=False)[0]
        name = str(e["loc"][0]) if e["loc"] else "?"
        raise MonitorError(f"setting {name} ({ENV_PREFIX}{name.upper()}): {e['msg']}") from None
