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
HTTP (--listen HOST:PORT, path /mcp). Every request that reads or acts --
tools/call, resources/read, prompts/get, completion/complete -- is:

  1. given an identity (agent_id, agent_kind, sponsor, task_id, session_id,
     credential_id, tenant, server) from the flags below and --mapping paths
     into verified bearer-token claims (or, without verification, the
     request's _meta and HTTP headers: a warning at start); every identity
     field canonical (SPIFFE IDs: scheme and trust domain lowercase; a
     re-spelling -- trailing /, //, %41, invisible or fullwidth characters --
     is refused, naming the field);
  2. checked against the revoker's Redis deny-list (MCPMON_REVOKER_REDIS_URL,
     MCPMON_REVOKER_DENYLIST_PREFIX): a call whose credential, agent, session or
     task is denied is refused; anything present at such a key counts;
     with --policy shadow|inline, then judged against the agent's charter
     (see "Charter decisions" below);
  3. forwarded, and its result or error passed back unchanged (an upstream
     that goes away is connected to again, a stdio server started again;
     meanwhile -32603 "upstream MCP server unavailable");
  4. logged as one tool_call event (outcome ok / error / denied, bytes in and
     out, resources from --mapping; tool is the method name for the non-tool
     methods) to MCPMON_TOPIC_EVENTS (mcp.events) on MCPMON_KAFKA_BOOTSTRAP
     keyed by agent_id, or to --to-file (created 0600). Secrets in arguments
     and resources (tokens, keys, passwords: the monitor's redaction rules,
     MCPMON_REDACT_EMAILS / MCPMON_REDACT_PATTERNS add to them) are redacted
     first unless --no-redact; an event over 1 MiB has its arguments cut to
     fit (head and tail of long strings kept, event_cut logged).
Listings (tools/list ...) are refused for a bad bearer token or a denied
identity; nothing else is relayed (no resources/subscribe, no sampling).

Refusals are JSON-RPC errors, not tool results (the client software must stop,
not the model retry):
  -32010  denied                 on the deny-list; data.denied says by what
  -32011  denylist_unavailable   Redis did not answer in
                                 MCPMON_PROXY_DENYLIST_TIMEOUT_SECONDS (0.5) and
                                 the fail mode is closed
  -32012  no_identity            no agent_id / server / credential_id, a
                                 missing or bad bearer token, or an identity
                                 field that is not canonical (data.field names
                                 it; with --no-enforce such a call goes on --
                                 unless its bearer token is missing or bad --
                                 and its event, which has no agent to be keyed
                                 by, is logged and counted as lost)

  -32013  policy                 --policy inline: the charter refuses the call
                                 (data.check: detector:clause, data.clause:
                                 {key, text}, data.detail: why)
  -32014  policy_unavailable     --policy inline: the charter decision could
                                 not be made (data.error); fails closed
  -32015  token_expired          the bearer token verifies but is past its
                                 own exp (data.check: token_expired,
                                 data.expired_at); in every mode
A refused call's event has outcome denied and denied_by naming the check.

Charter decisions (--policy, with --charters DIR):
  monitor  (default) today's behaviour: no charter decision at the proxy; the
           worker judges every event after the fact and revokes, so the first
           out-of-charter call reaches the tool.
  shadow   decide before forwarding, forward anyway: a call the charter would
           refuse is logged (policy_would_refuse) and counted
           (mcpmon_proxy_policy_decisions_total{result="would_refuse"}). Run
           it first, to see what inline would refuse.
  inline   decide before forwarding and refuse a violation (-32013): the
           violating call itself never reaches the tool.
  The checks a proxy can make alone, with the monitor's own detection core
  fed the events this proxy emits: tool (server/tool grant), resources,
  tenant, data domain, hours (limits.hours, UTC); limits.max_calls_per_minute
  and forbidden_chains over the calls through THIS proxy. A proxy sees only
  its own traffic: an agent that spreads its calls over several proxies, its
  tasks, sponsors, credentials and behaviour are the worker's to judge, and
  the worker keeps judging every event in every mode. A bearer token's own
  exp is checked when it is verified (-32015 token_expired, with an
  event: outcome denied, denied_by token_expired). An agent no charter covers is
  refused inline (fail closed) and forwarded in shadow. Charters come from
  --charters DIR and from signed charter updates on MCPMON_TOPIC_CHARTERS
  (the worker's broadcast; MCPMON_CHARTER_SIGNING_KEYS verifies them, as in
  the worker; not read with --to-file). Decision time:
  mcpmon_proxy_policy_seconds; mcpmon bench proxy measures it.

Fail mode (MCPMON_PROXY_FAIL_MODE, --fail-open): closed (default) refuses a
call the deny-list cannot vouch for; open forwards it and counts it
(mcpmon_proxy_denylist_fail_open_total). --no-enforce skips the deny-list.

Events never wait for Kafka: they are buffered (MCPMON_PROXY_EMIT_BUFFER_EVENTS,
10000) and retried while the broker is down; an event that cannot be buffered
or delivered by shutdown is logged in full (event_not_emitted) and counted
(mcpmon_proxy_events_lost_total). On SIGTERM the HTTP proxy gives calls under
way MCPMON_PROXY_DRAIN_SECONDS (10) to end, then cancels them; a call cancelled
once forwarded, by the proxy or its caller, is an event with outcome unknown
(call_cancelled). Logs are JSON lines on stderr (stdout is the MCP channel on
stdio). Metrics: MCPMON_PROXY_METRICS_PORT (0 off; e.g. 9467) on
MCPMON_METRICS_ADDR (default 127.0.0.1: loopback only).

Bearer tokens (--jwt-key FILE or --jwt-jwks-url URL; HTTP only, with --listen):
once configured, every request needs a token that verifies, carries exp, and
carries the aud and iss given by --jwt-audience / --jwt-issuer (both required;
--jwt-no-audience / --jwt-no-issuer turn a check off explicitly). Who calls
(agent_id, agent_kind, sponsor, credential_id, tenant, session_id) then comes
from claims.* and configuration only: a mapping that also lists a headers.* or
meta.* path for them is refused at start.

Redis password: never on the command line (ps shows it). --redis-url takes a
password-less URL; one with a password goes in MCPMON_REVOKER_REDIS_URL or in a
file given with --redis-url-file FILE.
"""

EPILOG = """\
Identity mapping (--mapping, YAML; the tap's format, paths rooted at claims,
transport, meta, headers, arguments or tool). Safe: identity from verified
claims only (claims.* needs --jwt-key or --jwt-jwks-url):

  fields:
    agent_id: [claims.act.sub, claims.sub]   # RFC 8693: the actor is the agent
    sponsor: claims.sub
    credential_id: claims.jti                # every call must carry it
    task_id: claims.task_id
    resources: [arguments.path, arguments.uri]
  defaults: {tenant: corp, agent_kind: delegated}

meta.* and headers.* are the caller's word: with token verification they may
not name who calls; without it they are used with a warning at start
(identity_from_unverified_source), which is only sound when a component in
front authenticates the caller and sets those headers itself.

server defaults to the upstream's serverInfo name; session_id to the HTTP
session's Mcp-Session-Id as this proxy issued it, or on stdio one id per proxy
process; trace_id to meta.traceparent. Protocol 2026-07-28 has no sessions (an
Mcp-Session-Id its client sends is its own word, not used): map session_id from
a verified claim, or its events carry none (logged once: no_session_id). Flags
(--agent-id ...) are defaults that paths override.

Example, as the server command in an MCP client's configuration:

  {"mcpServers": {"fleet": {
     "command": "mcpmon",
     "args": ["proxy", "--agent-id", "spiffe://corp/agents/patcher-7",
              "--agent-kind", "autonomous", "--credential-id", "tok-81f2",
              "--server", "fleet", "--", "python", "-m", "fleet_server"],
     "env": {"MCPMON_KAFKA_BOOTSTRAP": "kafka:9092",
             "MCPMON_REVOKER_REDIS_URL": "redis://redis:6379/0"}}}}

  mcpmon proxy --listen 0.0.0.0:8931 --mapping identity.yaml \\
      --jwt-jwks-url https://idp.corp/.well-known/jwks.json \\
      --jwt-audience mcp-fleet --jwt-issuer https://idp.corp \\
      --upstream-url http://fleet:8000/mcp
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
    _add_identity_arguments(
        p.add_argument_group("identity (defaults; --mapping paths override them)")
    )
    _add_enforcement_arguments(p.add_argument_group("enforcement and events"))
    p.add_argument("--loglevel", default="warning", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_proxy)


def _add_identity_arguments(ident: Any) -> None:
    """Who the calls are from: defaults, the mapping file, verified bearer tokens."""
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
        "--jwt-jwks-url",
        metavar="URL",
        help="verify bearer tokens with the keys at this JWKS URL (fetched and cached 300 s; "
        "an unknown kid refetches, at most every 30 s: key rotation)",
    )
    ident.add_argument(
        "--jwt-algorithm",
        action="append",
        metavar="ALG",
        help="accepted algorithm, repeatable (default RS256)",
    )
    ident.add_argument(
        "--jwt-audience", metavar="AUD", help="required aud claim (required with a JWT key)"
    )
    ident.add_argument(
        "--jwt-issuer", metavar="ISS", help="required iss claim (required with a JWT key)"
    )
    ident.add_argument(
        "--jwt-no-audience",
        action="store_true",
        help="accept tokens whatever their aud (instead of --jwt-audience)",
    )
    ident.add_argument(
        "--jwt-no-issuer",
        action="store_true",
        help="accept tokens whatever their iss (instead of --jwt-issuer)",
    )


def _add_enforcement_arguments(enf: Any) -> None:
    """The deny-list, charter decisions before forwarding, and where events go."""
    enf.add_argument(
        "--redis-url",
        metavar="URL",
        help="deny-list Redis without a password (MCPMON_REVOKER_REDIS_URL); a URL with a "
        "password goes in that variable or in --redis-url-file",
    )
    enf.add_argument(
        "--redis-url-file",
        metavar="FILE",
        help="read the deny-list Redis URL (which may hold a password) from this file",
    )
    enf.add_argument(
        "--fail-open",
        action="store_true",
        help="forward calls when the deny-list cannot be read (default: refuse them)",
    )
    enf.add_argument("--no-enforce", action="store_true", help="do not check the deny-list")
    enf.add_argument(
        "--policy",
        choices=["monitor", "shadow", "inline"],
        default="monitor",
        help="charter decisions before forwarding: monitor (default: none, the worker "
        "judges after the fact), shadow (decide, log would-refuse, forward), inline "
        "(refuse violations); see 'Charter decisions' above",
    )
    enf.add_argument(
        "--charters",
        metavar="DIR",
        help="charter YAML directory (or file) for --policy shadow|inline: the worker's",
    )
    enf.add_argument("--to-file", metavar="OUT.jsonl", help="append events here instead of Kafka")
    enf.add_argument("--redact-args", action="store_true", help="emit events with args {}")
    enf.add_argument(
        "--no-redact",
        action="store_true",
        help="emit arguments and resources without redacting secrets (default: redacted)",
    )


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

    if not args.jwt_key and not args.jwt_jwks_url:
        for flag in ("jwt_audience", "jwt_issuer", "jwt_no_audience", "jwt_no_issuer"):
            if getattr(args, flag):
                raise IdentityConfigError(
                    f"--{flag.replace('_', '-')} without --jwt-key or --jwt-jwks-url: "
                    "no token is verified"
                )
        return None
    if not args.listen:
        raise IdentityConfigError(
            "--jwt-key / --jwt-jwks-url verify HTTP bearer tokens: they need --listen "
            "(on stdio no request carries a token)"
        )
    key = None
    if args.jwt_key:
        try:
            key = Path(args.jwt_key).read_text()
        except OSError as err:
            raise IdentityConfigError(f"--jwt-key {args.jwt_key}: {err.strerror or err}") from None
    return JwtConfig(
        key=key,
        jwks_url=args.jwt_jwks_url,
        algorithms=tuple(args.jwt_algorithm or ["RS256"]),
        audience=args.jwt_audience,
        issuer=args.jwt_issuer,
        no_audience=args.jwt_no_audience,
        no_issuer=args.jwt_no_issuer,
    )


def _redis_url(args: argparse.Namespace) -> str | None:
    """The deny-list URL from the flags; a password never comes from the command line."""
    from pathlib import Path
    from urllib.parse import urlsplit

    from monitor.proxy.exceptions import ProxyError

    if args.redis_url and args.redis_url_file:
        raise ProxyError("give --redis-url or --redis-url-file, not both")
    if args.redis_url_file:
        try:
            text = Path(args.redis_url_file).read_text().strip()
        except OSError as err:
            raise ProxyError(
                f"--redis-url-file {args.redis_url_file}: {err.strerror or err}"
            ) from None
        if not text:
            raise ProxyError(f"--redis-url-file {args.redis_url_file}: empty")
        return text
    if args.redis_url:
        try:
            password = urlsplit(args.redis_url).password
        except ValueError:
            password = None
        if password or "password=" in args.redis_url.lower():
            raise ProxyError(
                "--redis-url holds a password, which every user of this machine can read in "
                "the process list: put the URL in MCPMON_REVOKER_REDIS_URL or in a file given "
                "with --redis-url-file FILE"
            )
    return args.redis_url


def cmd_proxy(args: argparse.Namespace) -> int:
    from monitor.proxy.run import ProxyConfig, main_sync
    from monitor.runtime import configure_logging
    from monitor.settings import load_settings

    configure_logging(args.loglevel, in_process=True)
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    settings = load_settings(
        {
            "revoker_redis_url": _redis_url(args),
            "proxy_fail_mode": "open" if args.fail_open else None,
            "proxy_enforce": False if args.no_enforce else None,
        },
        uses=("proxy", "revoker", "engine", "kafka", "service"),
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
        redact_secrets=not args.no_redact,
        policy=args.policy,
        charters=args.charters,
    )
    return main_sync(cfg, settings)
