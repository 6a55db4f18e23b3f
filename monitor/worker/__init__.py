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
  wall-clock input). Thin: the rules are below.
- :mod:`~monitor.worker.checkpoint` — which input offsets are safe to commit,
  and how often. No Faust.
- :mod:`~monitor.worker.offsets` — the offset-gap guard (a consumer that skipped
  input is sought back). No Faust.
- :mod:`~monitor.worker.faust_compat` — every Faust/aiokafka private the worker
  uses, the only module that touches them.
- :mod:`~monitor.worker.faust_contract` — the check, at start, that each of those
  privates is still where it was (and the pinned versions).
- :mod:`~monitor.worker.gcpause` — GC pauses measured (the collector's own apart from
  ``gc.collect()`` calls); restored state frozen, live agents frozen once a second.
- :mod:`~monitor.worker.ports` — what the shell asks of Kafka (tests pass their own).
- :mod:`~monitor.worker.supervisor` — ``mcpmon worker --processes N``.
- :mod:`~monitor.worker.charters` — charter updates broadcast to every worker.
- :mod:`~monitor.worker.topics` — topics created at start with configured partitions.
- :mod:`~monitor.worker.run` — the entry point the CLI calls.
- :mod:`~monitor.worker.process` — a worker subprocess handle (tests, bench).
"""
