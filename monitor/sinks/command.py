"""``mcpmon sink``: the sub-command's arguments, help text and wiring.

Kept apart from :mod:`monitor.cli` so the CLI only registers it; building the
parser imports nothing heavy (the sink's modules load when it runs).
"""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = """\
Consume alerts (MCPMON_TOPIC_ALERTS, mcp.alerts) in the consumer group
MCPMON_SINK_GROUP_ID (default mcpmon-sink-<to>) and deliver each to a SIEM:

  ocsf-file   OCSF Detection Finding (class 2004), one JSON object a line,
              appended to MCPMON_SINK_FILE and fsync'ed
  cef-syslog  CEF in RFC 5424 syslog to MCPMON_SINK_SYSLOG_HOST:_PORT over
              MCPMON_SINK_SYSLOG_PROTOCOL tcp (octet counting, RFC 6587; the
              default) or udp (no delivery proof)
  splunk-hec  POST MCPMON_SINK_HEC_URL/services/collector/event with
              Authorization: Splunk MCPMON_SINK_HEC_TOKEN

At-least-once: an alert is committed only after it was delivered. A failing
delivery is retried with exponential backoff from MCPMON_SINK_RETRY_BASE_SECONDS
(0.5) up to MCPMON_SINK_RETRY_MAX_SECONDS (30) for as long as the sink runs;
every MCPMON_SINK_RETRY_ATTEMPTS (5) failures it logs sink_delivery_failed.
Field mappings: docs/siem.md.
"""

EPILOG = """\
Examples:
  MCPMON_SINK_HEC_URL=https://splunk:8088 MCPMON_SINK_HEC_TOKEN=... mcpmon sink --to splunk-hec
  mcpmon sink --from-file out/alerts.jsonl --to ocsf-file --file findings.ocsf.jsonl
--from-file delivers an alerts file (replay's alerts.jsonl; - = stdin; gzip is read)
without Kafka: lines that are not alerts are reported on stderr with their line
number and counted; an alert still failing after --timeout seconds of retries
stops the run, naming the line to resume from with --start-line.
Stopping: SIGTERM or Ctrl-C; an alert not yet delivered is not committed and goes
to the next sink of the group. Exit status: 0 stopped, 1 configuration error;
--from-file: 0 all delivered, 1 a line refused or the run stopped early.
"""


def add_sink_parser(sub: Any) -> None:
    """Register ``sink`` on the CLI's sub-parsers."""
    p = sub.add_parser(
        "sink",
        help="deliver mcp.alerts to a SIEM: OCSF file, CEF over syslog, Splunk HEC",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--to",
        choices=["ocsf-file", "cef-syslog", "splunk-hec"],
        help="overrides MCPMON_SINK_TO (default ocsf-file)",
    )
    p.add_argument(
        "--file", metavar="PATH", help="ocsf-file: overrides MCPMON_SINK_FILE; - is stdout"
    )
    p.add_argument(
        "--protocol",
        choices=["tcp", "udp"],
        help="cef-syslog: overrides MCPMON_SINK_SYSLOG_PROTOCOL",
    )
    p.add_argument(
        "--from-file",
        metavar="ALERTS.jsonl",
        help="deliver this alerts file (- = stdin) instead of consuming mcp.alerts",
    )
    p.add_argument(
        "--start-line",
        type=int,
        default=1,
        metavar="N",
        help="--from-file: begin at line N (resume a stopped run)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="--from-file: give up on an alert still failing after this long (60)",
    )
    p.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_sink)


def cmd_sink(args: argparse.Namespace) -> int:
    import asyncio

    from monitor.runtime import configure_logging, run_until_stopped
    from monitor.settings import load_settings
    from monitor.sinks.service import SinkService, build_transport

    # "engine": revoke_min_severity, which decides an OCSF finding's action and disposition
    settings = load_settings(
        {"sink_to": args.to, "sink_file": args.file, "sink_syslog_protocol": args.protocol},
        uses=("sink", "engine", "kafka", "service"),
    )
    if settings.sink.to == "splunk-hec" and not settings.sink.hec_url:
        from monitor.errors import MonitorError

        raise MonitorError("setting sink_hec_url (MCPMON_SINK_HEC_URL): required for splunk-hec")
    configure_logging(args.loglevel)
    if args.from_file is not None:
        return _from_file(args, settings)

    async def main() -> None:
        service = SinkService(settings, build_transport(settings))
        await run_until_stopped(service)

    asyncio.run(main())
    return 0


def _from_file(args: argparse.Namespace, settings: Any) -> int:
    import asyncio
    import sys

    from monitor.errors import MonitorError
    from monitor.sinks.from_file import deliver_file
    from monitor.sinks.service import build_transport, retry_policy

    if args.start_line < 1 or args.timeout <= 0:
        raise MonitorError("--start-line must be >= 1 and --timeout > 0")
    transport = build_transport(settings)
    done = asyncio.run(
        deliver_file(
            args.from_file, transport, retry_policy(settings), args.timeout, args.start_line
        )
    )
    print(f"{settings.sink.to}: {done.render()}", file=sys.stderr)
    return 1 if done.bad or done.stopped_at is not None else 0
