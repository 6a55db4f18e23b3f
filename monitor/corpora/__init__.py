"""Public agent-trace corpora (nobody on this team wrote them) as ``mcp.events``.

Each corpus module converts one public source into a :class:`~monitor.corpora.base.Corpus`:
events in our contract, charters that grant each agent its whole toolkit (a hijack with
granted tools is exactly what charters cannot see), and per-session labels with a
tuning / held-out split fixed before any tuning. ``mcpmon evaluate --corpus NAME``
scores the one detection core on it.
"""
