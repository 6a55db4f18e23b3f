"""``mcpmon tap``: the sub-command's arguments, help text and wiring.

Kept apart from :mod:`monitor.cli` so the CLI only registers it; building the
parser imports nothing heavy (the tap's modules load when it runs).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

DESCRIPTION = """\
Read gateway logs (JSON lines) from SOURCE — a file, or - for stdin — map them
to mcp.events and produce them to Kafka keyed by agent_id, in batches. Delivery
is at-least-once without loss: the file offset is checkpointed only after the
broker confirmed everything before it, and a restart resumes from the
checkpoint (the monitor drops duplicates by event_id, and derived event ids are
the same on every run). Lines that cannot be mapped go to the dead-letter
output with line number, reason and raw text; lines that are valid but not
tool calls (JSON-RPC initialize, tools/list, notifications) are counted as
skipped. A summary ends every run; progress shows on stderr when it is a
terminal.

Formats:
  ours     lines already in the mcp.events contract: validated, passed through
           unchanged (their event_id kept). Every event type passes.
  jsonrpc  raw MCP JSON-RPC bodies, a tools/call request and its response on
           separate lines, paired by JSON-RPC id (and session) within a window
           (--window-requests, --window-seconds): a request whose response does
           not come in time, or by the end of input without --follow, becomes
           a tool_call with outcome unknown. tool = params.name, args =
           params.arguments, outcome = error if error or result.isError else ok,
           bytes_in/out = body lengths, trace_id from params._meta.traceparent.
           Identity, server and the rest come from --mapping. ts comes from the
           mapping's ts field or, when absent, the tap's clock when it read the
           request (the tap's only use of the wall clock).

Gateway presets (one JSON object a line; identity defaults per preset, any of
them replaced by --mapping; lines that are not tool calls are skipped and
counted; docs/gateways.md says what to configure on the gateway):
  agentgateway  JSON access log; ids from custom CEL fields or jwt.* claims
                (act claim -> delegated, sponsor = jwt.sub); event_id from
                trace.id+span.id; -32602 "Unknown tool:" -> denied.
  toolhive      audit_event lines; event_id = audit_id; agent from the RFC 8693
                delegation chain (delegated, sponsor = subjects.user_id), else
                subjects.user_id; outcome from outcome.
  teleport      mcp.session.request events; event_id = uid; bots autonomous,
                humans delegated; requests only: outcome unknown unless
                refused ("access denied" -> denied, other failures -> error).
  otel          OTLP/JSON ExportTraceServiceRequest lines, every tools/call
                span an event; event_id from traceId+spanId; MCP semconv has
                no caller identity: map gen_ai.agent.id or give a default.
  mcpx          MCPX audit files; tool_used only; outcome always unknown.
  docker-audit  Docker MCP Gateway policy audit events; a pre-call decision:
                denied, or unknown when allowed; agent = client_name.
  auto          recognise each line's format by its keys (mixed logs).

Outputs:
  --to kafka (default)  topics MCPMON_TOPIC_EVENTS (mcp.events) and
                        MCPMON_TOPIC_DEADLETTER (mcp.deadletter) on
                        MCPMON_KAFKA_BOOTSTRAP; created if missing.
  --to-file OUT.jsonl   events to OUT.jsonl, dead letters to
                        OUT.deadletter.jsonl (a dry run; no broker needed).
  --to-file -           events on stdout, dead letters on stderr, the summary
                        on stderr: mcpmon tap LOG --to-file - | mcpmon replay -

Checkpoint (file sources): with Kafka, .SOURCE.mcpmon-tap.json beside the source
(or, when that directory is read-only to the tap, in $XDG_STATE_HOME/mcpmon/tap,
default ~/.local/state/mcpmon/tap) unless --checkpoint PATH; with --to-file only
if --checkpoint is given. It
records the file's device, inode and first bytes: if the file was rotated or
truncated since, the tap starts at the beginning of the current file. The
lines between the checkpoint and what was read are re-read on resume, so some
events may be delivered twice (same event_id, same content).

Stopping: SIGTERM or Ctrl-C delivers and checkpoints what was read; requests
still waiting for their response are not emitted, and the checkpoint stays
before them so the next run picks them up.
"""

EPILOG = """\
Mapping file (--mapping, YAML; paths are dotted, from the top of each line;
keys containing dots such as io.modelcontextprotocol/clientInfo are found;
header names match case-insensitively; integers index lists):

  body: body                     # where the JSON-RPC body is (default: the line itself)
  fields:                        # a path or a list of paths, first found wins
    agent_id: [jwt.act.sub, jwt.sub]      # claims the gateway verified, as it logged them
    sponsor: jwt.sub                       # RFC 8693: the human in sub, the agent in act.sub
    task_id: jwt.task_id
    session_id: headers.mcp-session-id     # also part of the pairing key
    credential_id: jwt.jti
    ts: time                     # RFC 3339 text or epoch s/ms/us/ns
    resources: [body.params.arguments.path, body.params.arguments.uri]   # all found
  defaults: {server: fleet, tenant: corp}   # constants when no path gives a value

A line without agent_id or server (from a path or a default) is a dead letter
whose reason names the paths tried. Take identity from what the gateway
verified (token claims, the SVID): a logged header or _meta key is the caller's
own word, sound only where an authenticating proxy in front sets it.

Examples:
  mcpmon tap gateway.jsonl --format jsonrpc --mapping map.yaml --to-file out.jsonl
  mcpmon tap /var/log/mcp/gw.jsonl --format jsonrpc --mapping map.yaml --follow
  kubectl logs -f deploy/gw | mcpmon tap - --format ours

Settings (environment, overridden by the flags above): MCPMON_KAFKA_BOOTSTRAP,
MCPMON_TOPIC_EVENTS, MCPMON_TOPIC_DEADLETTER, MCPMON_PARTITIONS,
MCPMON_TAP_BATCH_RECORDS, MCPMON_TAP_LINGER_SECONDS, MCPMON_TAP_POLL_SECONDS,
MCPMON_TAP_PAIR_WINDOW_REQUESTS, MCPMON_TAP_PAIR_WINDOW_SECONDS.
Exit status: 0 done (dead letters are not failures), 1 error, 130 interrupted
before the tap could start.
"""


def add_tap_parser(sub: Any) -> None:
    """Register ``tap`` on the CLI's sub-parsers."""
    from monitor.tap.formats import FORMATS

    t = sub.add_parser(
        "tap",
        help="map gateway logs (file, followed file or stdin) to mcp.events on Kafka",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("source", metavar="SOURCE", help="log file, one JSON object a line; - for stdin")
    t.add_argument(
        "--format",
        default="ours",
        choices=list(FORMATS),
        help="log format (default ours; auto: per line, by its keys)",
    )
    t.add_argument("--mapping", metavar="FILE", help="field mapping YAML (see below)")
    t.add_argument(
        "--follow",
        action="store_true",
        help="keep reading as the file grows, across rotation and truncation (like tail -F)",
    )
    out = t.add_mutually_exclusive_group()
    out.add_argument("--to", choices=["kafka"], default="kafka", help="produce to Kafka (default)")
    out.add_argument(
        "--to-file", metavar="OUT.jsonl", help="write events (and OUT.deadletter.jsonl) instead"
    )
    t.add_argument("--checkpoint", metavar="PATH", help="checkpoint file (see above)")
    t.add_argument(
        "--from-start",
        action="store_true",
        help="ignore an existing checkpoint and read SOURCE from its beginning",
    )
    t.add_argument(
        "--source-name",
        metavar="LABEL",
        help="label for derived event ids and dead letters (default: SOURCE's absolute path); "
        "keep it stable to keep ids stable when the file moves",
    )
    t.add_argument("--batch", type=int, metavar="N", help="records per batch (default 500)")
    t.add_argument(
        "--poll", type=float, metavar="S", help="--follow: check interval in seconds (0.25)"
    )
    t.add_argument("--window-requests", type=int, metavar="N", help="pairing window size (10000)")
    t.add_argument("--window-seconds", type=float, metavar="S", help="pairing window age (60)")
    t.add_argument("--json", action="store_true", help="print the summary as JSON")
    t.add_argument("--loglevel", default="warning", choices=["debug", "info", "warning", "error"])
    t.set_defaults(func=cmd_tap)


def cmd_tap(args: argparse.Namespace) -> int:
    import asyncio

    import orjson

    from monitor.runtime import configure_logging, run_until_stopped
    from monitor.settings import load_settings
    from monitor.tap.build import build_tap

    configure_logging(args.loglevel, in_process=True)
    settings = load_settings(
        {
            "tap_batch_records": args.batch,
            "tap_poll_seconds": args.poll,
            "tap_pair_window_requests": args.window_requests,
            "tap_pair_window_seconds": args.window_seconds,
        },
        uses=("tap", "kafka", "service"),
    )
    tap = build_tap(
        settings,
        args.source,
        fmt=args.format,
        mapping=args.mapping,
        follow=args.follow,
        to_file=args.to_file,
        checkpoint=args.checkpoint,
        from_start=args.from_start,
        source_name=args.source_name,
        progress=sys.stderr,
    )
    summary = asyncio.run(run_until_stopped(tap))
    report = sys.stderr if args.to_file == "-" else sys.stdout  # stdout carries the events
    if args.json:
        report.write(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(summary.render(), file=report)
    return 0
