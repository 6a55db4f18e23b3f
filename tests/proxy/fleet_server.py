"""A tiny real MCP server for the proxy tests, on the SDK's ``MCPServer`` (ex-FastMCP).

Run as ``python -m tests.proxy.fleet_server`` (stdio) or with ``--http PORT``
(streamable HTTP at ``http://127.0.0.1:PORT/mcp``). Tools: ``list_hosts``
(ok), ``read_file`` (echoes the path; a tool error for paths under /forbidden),
``delete_repo`` (ok: the charter, not the server, decides it is out of bounds),
``crash`` (raises: a tool error), ``count`` (how many times ``count`` ran in
this server process: shows whether a refused call reached it). A resource ``fleet://hosts`` and a prompt
``triage`` show pass-through of resources and prompts.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("fleet")

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


_runs = {"count": 0}


@server.tool()
def count() -> int:
    """Calls of this tool that reached the server."""
    _runs["count"] += 1
    return _runs["count"]


@server.resource("fleet://hosts")
def hosts_resource() -> str:
    return "\n".join(HOSTS)


@server.prompt()
def triage(host: str) -> str:
    return f"Triage {host}: check disk, memory, recent deploys."


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--http":  # streamable HTTP on 127.0.0.1:PORT/mcp
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
