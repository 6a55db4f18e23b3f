"""A tiny real MCP server for the proxy tests, on the SDK's ``MCPServer`` (ex-FastMCP).

Run as ``python -m tests.proxy.fleet_server`` (stdio) or with ``--http PORT``
(streamable HTTP at ``http://127.0.0.1:PORT/mcp``). Tools: ``list_hosts``
(ok), ``read_file`` (echoes the path; a tool error for paths under /forbidden),
``delete_repo`` (ok: the charter, not the server, decides it is out of bounds),
``crash`` (raises: a tool error), ``count`` (how many times ``count`` and ``sleep`` ran in
this server process: shows whether a refused call reached it), ``sleep`` (answers after
the seconds it is given: a call still under way), ``echo_meta`` (the ``_meta`` it
received), ``exit_now`` (the
server process exits at once, as a crash or an OOM kill would), ``closed_error`` (a
JSON-RPC error of the server's own with the code and text the SDK uses for a lost
connection, -32000 ``Connection closed``). A resource ``fleet://hosts``, a
prompt ``triage`` and completion of its ``host`` argument show pass-through of resources, prompts
and completions; ``fleet://reads`` says how many resource reads, prompt gets and completions
reached this server (so a test sees that a refused one did not).
"""

from __future__ import annotations

import json
import os
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import CONNECTION_CLOSED, Completion

server = MCPServer(
    "fleet", title="Fleet", version="1.2.3", instructions="Fleet tools for the proxy tests."
)

HOSTS = ["web-1", "web-2", "db-1"]


@server.tool()
def list_hosts() -> list[str]:
    """The fleet's hosts."""
    return HOSTS


@server.tool()
def read_file(path: str) -> str:
    """The text of ``path`` (made up)."""
    if path.startswith("/forbidden"):
        raise ToolError(f"permission denied: {path}")
    return f"contents of {path}"


@server.tool()
def delete_repo(repo: str) -> str:
    """Deletes nothing: the monitor's charter is what forbids it."""
    return f"deleted {repo}"


@server.tool()
def crash() -> str:
    raise ToolError("boom")


@server.tool()
def exit_now() -> str:
    os._exit(3)


@server.tool()
def closed_error() -> str:
    raise MCPError(CONNECTION_CLOSED, "Connection closed")


_runs = {"count": 0}


@server.tool()
def count(peek: bool = False) -> int:
    """Calls of this tool and of ``sleep`` that reached the server (``peek``: not counting
    this one)."""
    if not peek:
        _runs["count"] += 1
    return _runs["count"]


@server.tool()
async def sleep(seconds: float) -> str:
    """Waits ``seconds``, then answers: a call still under way when its caller goes."""
    _runs["count"] += 1
    await anyio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def echo_meta(ctx: Context) -> dict[str, Any]:
    """The request's ``_meta`` as this server received it."""
    meta = ctx.request_context.meta
    return dict(meta or {}) if not hasattr(meta, "model_dump") else meta.model_dump()


_reached = {"resources/read": 0, "prompts/get": 0, "completion/complete": 0}


@server.resource("fleet://hosts")
def hosts_resource() -> str:
    _reached["resources/read"] += 1
    return "\n".join(HOSTS)


@server.resource("fleet://reads")
def reads_resource() -> str:
    """How many guarded non-tool requests reached this server (this read not counted)."""
    return json.dumps(_reached)


@server.prompt()
def triage(host: str) -> str:
    _reached["prompts/get"] += 1
    return f"Triage {host}: check disk, memory, recent deploys."


@server.completion()
async def complete_host(ref: Any, argument: Any, context: Any) -> Completion:
    _reached["completion/complete"] += 1
    return Completion(values=[h for h in HOSTS if h.startswith(argument.value)])


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--http":  # streamable HTTP on 127.0.0.1:PORT/mcp
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
