"""The one detection core: pure, deterministic, no Kafka, Faust or network imports.

Event in, decision out. Time comes from the events (event time and a watermark);
nothing here reads the wall clock, so a replay gives the same alerts and the
same ``command_id`` values every time. ``tests/core/test_purity.py`` checks the
imports.
"""

from __future__ import annotations

from monitor.core.engine import Decision, Engine, EngineSettings

__all__ = ["Decision", "Engine", "EngineSettings"]
