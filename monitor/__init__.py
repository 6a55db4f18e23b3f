"""mcp-monitor: a streaming behaviour monitor for AI agents that call tools over MCP.

The detection core lives in :mod:`monitor.core` and imports nothing from Kafka,
Faust or the network. Everything else in this package is a thin shell around it.
"""

from __future__ import annotations

__version__ = "0.1.0"
