"""The streaming worker: a thin Faust shell over the one detection core.

``mcpmon worker --charters DIR`` (settings from ``MCPMON_*``, see
:mod:`monitor.settings`) reads ``mcp.events`` and writes ``mcp.alerts``,
``mcp.revocations`` and ``mcp.deadletter``. Modules, one concept each:

- :mod:`~monitor.worker.processor` — raw message → engine → records; no Faust.
  One engine per input partition (event time is per partition).
- :mod:`~monitor.worker.store` — live ``AgentState`` objects ↔ snapshot bytes
  in a changelog-backed Faust table keyed by ``agent_id``, with each agent's
  outbox of not-yet-acknowledged outputs (nothing lost in a crash).
- :mod:`~monitor.worker.app` — the Faust app: agent body, its
  per-event write order, rebalance hooks, the idle-watermark timer (the only
  wall-clock input).
- :mod:`~monitor.worker.charters` — charter updates broadcast to every worker.
- :mod:`~monitor.worker.topics` — topics created at start with configured partitions.
- :mod:`~monitor.worker.run` — the entry point the CLI calls.
- :mod:`~monitor.worker.process` — a worker subprocess handle (tests, bench).
"""
