"""``mcpmon feedback``: an analyst's verdict on an alert, as an ``alert_feedback`` event.

Kept apart from :mod:`monitor.cli`, which only registers it; building the
parser imports nothing heavy (what the command drives loads when it runs).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from monitor.command_support import settings_from_args
from monitor.errors import MonitorError


def add_feedback_parser(sub: Any) -> None:
    """Register ``feedback`` on the CLI's sub-parsers."""
    fb = sub.add_parser(
        "feedback",
        help="mark an alert benign (the agent's baseline learns the call) or malicious",
        description="Publish an alert_feedback event for ALERT_ID on mcp.events (keyed by the "
        "alert's agent), or append it to a JSONL file for replay. benign: behaviour_anomaly "
        "learns the alerted call as normal for this agent; malicious: it un-learns it. With "
        "MCPMON_FEEDBACK_RANKER on, the feedback ranker learns the verdict too and scores later "
        "alerts (details.feedback_score). The same verdict sent twice is one event.",
        epilog="Example: mcpmon feedback 05c28b0d... --alerts out/alerts.jsonl --verdict benign",
    )
    fb.add_argument("alert_id", metavar="ALERT_ID")
    fb.add_argument("--verdict", required=True, choices=["benign", "malicious"])
    fb.add_argument("--agent", metavar="AGENT_ID", help="the alert's agent")
    fb.add_argument("--alerts", metavar="FILE", help="find the agent in this alerts.jsonl")
    fb.add_argument("--note", default="", help="free text kept with the verdict")
    fb.add_argument("--to-file", metavar="EVENTS.jsonl", help="append here instead of Kafka")
    fb.set_defaults(func=cmd_feedback)


def _agent_of(alert_id: str, alerts_file: str) -> str:
    for raw in Path(alerts_file).read_bytes().splitlines():
        if raw.strip() and alert_id.encode() in raw:
            doc = orjson.loads(raw)
            if doc.get("alert_id") == alert_id:
                return str(doc["agent_id"])
    raise MonitorError(f"alert {alert_id} not found in {alerts_file}")


def cmd_feedback(args: argparse.Namespace) -> int:
    import asyncio
    import hashlib
    from datetime import UTC, datetime

    from monitor.events import AlertFeedback, encode_event

    agent = args.agent or (_agent_of(args.alert_id, args.alerts) if args.alerts else None)
    if agent is None:
        raise MonitorError("say whose alert it is: --agent AGENT_ID, or --alerts alerts.jsonl")
    digest = hashlib.sha256(f"{args.alert_id}|{args.verdict}|{args.note}".encode()).hexdigest()
    event = AlertFeedback(
        event_id=f"fb-{digest[:24]}",  # the same verdict twice is one event (dedup by event_id)
        ts=datetime.now(UTC),  # the analyst's time of decision: a shell may read the clock
        agent_id=agent,
        alert_id=args.alert_id,
        verdict=args.verdict,
        note=args.note,
    )
    line = encode_event(event)
    if args.to_file:
        with open(args.to_file, "ab") as f:
            f.write(line + b"\n")
        print(f"appended {args.verdict} feedback on {args.alert_id} to {args.to_file}")
        return 0
    from monitor.kafka_io import produce

    settings = settings_from_args(args, uses=("kafka",))
    asyncio.run(produce(settings.kafka_bootstrap, settings.topic_events, [(agent.encode(), line)]))
    print(f"sent {args.verdict} feedback on {args.alert_id} to {settings.topic_events}")
    return 0
