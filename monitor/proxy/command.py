"""``mcpmon proxy``: the sub-command's arguments, help text and wiring.

Kept apart from :mod:`monitor.cli` so the CLI only registers it; building the
parser imports nothing heavy (the MCP SDK loads when the proxy runs).
"""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = """\
An MCP proxy that enforces the monitor's revocations. It sits between an MCP
client (the agent) and the real MCP server: it launches the server as a
subprocess (the command after --) or connects to it over streamable HTTP
(--upstream-url), and serves the client on stdio (default) or on streamable
HTTP (--listen HOST:PORT, path /mcp). tools/list, resources, prompts and
completions are forwarded as they are. Every tools/call is:

  1. given an identity (agent_id, agent_kind, sponsor, task_id, session_id,
     credential_id, tenant, server) from the flags below, --mapping paths into
     the request's _meta, HTTP headers and verified bearer-token claims;
  2. checked against the revoker's Redis deny-list (MCPMON_REVOKER_REDIS_URL,
     MCPMON_REVOKER_DENYLIST_PREFIX): a call whose credential, agent, session or
     task is denied is refused;
  3. forwarded, and its result or error passed back unchanged;
  4. logged as one tool_call event (outcome ok / error / denied, bytes in and
     out, resources from --mapping) to MCPMON_TOPIC_EVENTS (mcp.events) on
     MCPMON_KAFKA_BOOTSTRAP keyed by agent_id, or to --to-file.

Refusals are JSON-RPC errors, not tool results (the client software must stop,
not the model retry):
  -32010  denied                 on the deny-list; data.denied says by what
  -32011  denylist_unavailable   Redis did not answer in
                                 MCPMON_PROXY_DENYLIST_TIMEOUT_SECONDS (0.5) and
                                 the fail mode is closed
  -32012  no_identity            no agent_id / server, or a bad bearer token
                                 (with --no-enforce such a call goes on, and its
                                 event, which has no agent to be keyed by, is
                                 logged and counted as lost)

Fail mode (MCPMON_PROXY_FAIL_MODE, --fail-open): closed (default) refuses a
call the deny-list cannot vouch for; open forwards it and counts it
(mcpmon_proxy_denylist_fail_open_total). --no-enforce skips the deny-list.

Events never wait for Kafka: they are buffered (MCPMON_PROXY_EMIT_BUFFER_EVENTS,
10000) and retried while the broker is down; an event that cannot be buffered
or delivered by shutdown is logged in full (event_not_emitted) and counted
(mcpmon_proxy_events_lost_total). Logs are JSON lines on stderr (stdout is the
MCP channel on stdio). Metrics: MCPMON_PROXY_METRICS_PORT (0 off; e.g. 9467).
"""

EPILOG = """\
Identity mapping (--mapping, YAML; the tap's format, paths rooted at meta,
headers, claims, arguments, tool or transport):

  fields:
    agent_id: [claims.act.sub, headers.x-agent-id, meta.com.example/agent_id]
    sponsor: claims.sub
    credential_id: claims.jti           # claims.* needs --jwt-key: verified only
    task_id: meta.com.example/task_id
    resources: [arguments.path, arguments.uri]
  defaults: {tenant: corp, agent_kind: delegated}

server defaults to the upstream's serverInfo name; session_id to the HTTP
Mcp-Session-Id, or on stdio one id per proxy process; trace_id to
meta.traceparent. Flags (--agent-id ...) are defaults that paths override.

Example, as the server command in an MCP client's configuration:

  {"mcpServers": {"fleet": {
     "command": "mcpmon",
     "args": ["proxy", "--agent-id", "spiffe://corp/agents/patcher-7",
              "--agent-kind", "autonomous", "--credential-id", "tok-81f2",
              "--server", "fleet", "--", "python", "-m", "fleet_server"],
     "env": {"MCPMON_KAFKA_BOOTSTRAP": "kafka:9092",
             "MCPMON_REVOKER_REDIS_URL": "redis://redis:6379/0"}}}}

  mcpmon proxy --listen 0.0.0.0:8931 --mapping identity.yaml \\
      --jwt-key idp.pem --upstream-url http://fleet:8000/mcp
  mcpmon proxy --agent-id dev --to-file calls.jsonl --no-enforce -- npx some-mcp-server

Exit status: 0 the client closed the session or SIGTERM, 1 configuration error,
130 interrupted.
"""


def add_proxy_parser(sub: Any) -> None:
    """Register ``proxy`` on the CLI's sub-parsers."""
    p = sub.add_parser(
        "proxy",
        help="MCP proxy: forward to a real MCP server, log every tools/call, refuse revoked ones",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND [ARGS...]",
        help="the upstream MCP server to launch and talk to over stdio",
    )
    p.add_argument("--upstream-url", metavar="URL", help="upstream over streamable HTTP instead")
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="serve the client on streamable HTTP at http://HOST:PORT/mcp (default: stdio)",
    )
    ident = p.add_argument_group("identity (defaults; --mapping paths override them)")
    ident.add_argument("--mapping", metavar="FILE", help="identity mapping YAML (see below)")
    ident.add_argument("--agent-id", metavar="ID")
    ident.add_argument("--agent-kind", choices=["delegated", "autonomous"])
    ident.add_argument("--sponsor", metavar="ID")
    ident.add_argument("--task-id", metavar="ID")
    ident.add_argument("--credential-id", metavar="ID")
    ident.add_argument("--tenant", metavar="ID")
    ident.add_argument("--server", metavar="NAME", help="server name in events and charters")
    ident.add_argument(
        "--jwt-key",
        metavar="FILE",
        help="verify bearer tokens with this PEM public key (or HMAC secret) before claims.* "
        "paths are read",
    )
    ident.add_argument(
        "--jwt-algorithm",
        action="append",
        metavar="ALG",
        help="accepted algorithm, repeatable (default RS256)",
    )
    ident.add_argument("--jwt-audience", metavar="AUD", help="required aud claim")
    ident.add_argument("--jwt-issuer", metavar="ISS", help="required iss claim")
    enf = p.add_argument_group("enforcement and events")
    enf.add_argument(
        "--redis-url", metavar="URL", help="deny-list Redis (MCPMON_REVOKER_REDIS_URL)"
    )
    enf.add_argument(
        "--fail-open",
        action="store_true",
        help="forward calls when the deny-list cannot be read (default: refuse them)",
    )
    enf.add_argument("--no-enforce", action="store_true", help="do not check the deny-list")
    enf.add_argument("--to-file", metavar="OUT.jsonl", help="append events here instead of Kafka")
    enf.add_argument("--redact-args", action="store_true", help="emit events with args {}")
    p.add_argument("--loglevel", default="warning", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_proxy)


def _listen(text: str | None) -> tuple[str, int] | None:
    from monitor.proxy.exceptions import ProxyError

    if text is None:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ProxyError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8931")
    return host.strip("[]"), int(port)


def _jwt(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from monitor.proxy.exceptions import IdentityConfigError
    from monitor.proxy.identity import JwtConfig

    if not args.jwt_key:
        return None
    try:
        key = Path(args.jwt_key).read_text()
    except OSError as err:
        raise IdentityConfigError(f"--jwt-key {args.jwt_key}: {err.strerror or err}") from None
    return JwtConfig(
        key=key,
        algorithms=tuple(args.jwt_algorithm or ["RS256"]),
        audience=args.jwt_audience,
        issuer=args.jwt_issuer,
    )


def cmd_proxy(args: argparse.Namespace) -> int:
    from monitor.proxy.run import ProxyConfig, main_sync
    from monitor.settings import load_settings
    from monitor.tap.build import configure_logging

    configure_logging(args.loglevel)
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    settings = load_settings(
        {
            "revoker_redis_url": args.redis_url,
            "proxy_fail_mode": "open" if args.fail_open else None,
            "proxy_enforce": False if args.no_enforce else None,
        }
    )
    cfg = ProxyConfig(
        command=command,
        url=args.upstream_url,
        listen=_listen(args.listen),
        mapping=args.mapping,
        constants={
            "agent_id": args.agent_id,
            "agent_kind": args.agent_kind,
            "sponsor": args.sponsor,
            "task_id": args.task_id,
            "credential_id": args.credential_id,
            "tenant": args.tenant,
            "server": args.server,
        },
        jwt=_jwt(args),
        to_file=args.to_file,
        redact_args=args.redact_args,
    )
    return main_sync(cfg, settings)
