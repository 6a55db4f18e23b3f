"""``mcpmon proxy``: an MCP gateway that logs what it forwards and obeys the deny-list.

The other shells watch traffic after the fact; this one stands in the path,
so a revocation ends access on the agent's very next call. It is thin, like
every shell: it decides nothing about behaviour — the worker does, from the
events this proxy emits — it only looks up what the revoker has already
decided. Modules, one concept each:

- :mod:`~monitor.proxy.identity` — who is calling, from configuration and verified
  token claims (or, with a start warning, ``_meta`` and headers), canonical;
- :mod:`~monitor.proxy.guard` — the deny-list check and its fail mode;
- :mod:`~monitor.proxy.refusal` — the MCP errors a refused call gets;
- :mod:`~monitor.proxy.emit` — ``tool_call`` events to Kafka or a 0600 file, buffered,
  never silently dropped; :mod:`~monitor.proxy.redaction` — secrets out of them first;
- :mod:`~monitor.proxy.gateway` — the client-facing MCP server forwarding upstream;
- :mod:`~monitor.proxy.metrics` — Prometheus counters and histograms;
- :mod:`~monitor.proxy.run` — start-up and shut-down; :mod:`~monitor.proxy.command` — the CLI.

The closed loop it completes: proxy → ``mcp.events`` → worker (detection) →
``mcp.revocations`` → revoker → Redis deny-list → proxy refuses.
"""
