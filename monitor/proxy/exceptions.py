"""Errors of the MCP proxy, under the package's one root exception.

A *call* the proxy refuses is not an exception here: it is answered with an MCP
error (:mod:`monitor.proxy.refusal`) and the proxy goes on. These are for a
proxy that cannot start as configured.
"""

from __future__ import annotations

from monitor.errors import MonitorError


class ProxyError(MonitorError):
    """The proxy cannot run as configured (upstream, listen address, identity)."""


class IdentityConfigError(ProxyError):
    """The identity mapping is invalid; the message names the file, key or flag."""
