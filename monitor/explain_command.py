"""``mcpmon explain``: one alert with its evidence, charter clause and revocation.

Kept apart from :mod:`monitor.cli`, which only registers it; building the
parser imports nothing heavy (what the command drives loads when it runs).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from monitor.command_support import settings_from_args
from monitor.errors import MonitorError


def add_explain_parser(sub: Any) -> None:
    """Register ``explain`` on the CLI's sub-parsers."""
    x = sub.add_parser(
        "explain",
        help="one alert with its evidence events, charter clause, features and revocation",
        description="Join an alert (by id or a unique prefix of at least 6 characters) with the "
        "events its evidence names, its charter clause and mission, the features behind a "
        "behaviour score (details) and the revocation commands that cite it "
        "(revocations.jsonl beside the alerts file, or --revocations). With --kafka, all three "
        "are read from the topics instead (MCPMON_TOPIC_ALERTS, _EVENTS, _REVOCATIONS), from the "
        "beginning up to the end offsets seen at start: it never waits for new messages, and an "
        "unreachable broker is an error. Events are redacted with the deployment's rules "
        "(MCPMON_REDACT_*) before they are printed.",
        epilog="Example: mcpmon replay examples/events.jsonl --charters examples/charters "
        "--out out && mcpmon explain 4db13eb7 --alerts out/alerts.jsonl "
        "--events examples/events.jsonl; against a running deployment: "
        "mcpmon explain 4db13eb7 --kafka",
    )
    x.add_argument("alert_id", metavar="ALERT_ID")
    x.add_argument("--alerts", default="out/alerts.jsonl", help="alerts file (out/alerts.jsonl)")
    x.add_argument("--events", metavar="FILE", help="the events file the alerts came from")
    x.add_argument("--revocations", metavar="FILE", help="default: beside the alerts file")
    x.add_argument(
        "--kafka",
        nargs="?",
        const="",
        metavar="BOOTSTRAP",
        help="read alerts, events and revocations from the topics (bootstrap: this value, "
        "else MCPMON_KAFKA_BOOTSTRAP)",
    )
    x.add_argument(
        "--timeout",
        type=float,
        default=15.0,
        help="with --kafka: seconds to reach the broker and to read each topic (15)",
    )
    x.add_argument("--json", action="store_true", help="one JSON object instead of text")
    x.set_defaults(func=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    from monitor.core.redact import Redactor
    from monitor.explain import explain, render

    uses = ("engine", "kafka") if args.kafka is not None else ("engine",)
    settings = settings_from_args(args, uses=uses)
    redactor = Redactor(settings.redaction())
    if args.kafka is not None:
        from monitor.explain_kafka import run_explain_from_kafka

        if args.timeout <= 0:
            raise MonitorError("--timeout must be above 0")
        topics = (settings.topic_alerts, settings.topic_events, settings.topic_revocations)
        bootstrap = args.kafka or settings.kafka_bootstrap
        x = run_explain_from_kafka(args.alert_id, bootstrap, topics, redactor, args.timeout)
    else:
        x = explain(args.alert_id, args.alerts, args.events, redactor, args.revocations)
    if args.json:
        sys.stdout.write(orjson.dumps(x.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(render(x))
    return 0
