"""``mcpmon tail``: messages of a topic as JSON lines, no consumer group.

Kept apart from :mod:`monitor.cli`, which only registers it; building the
parser imports nothing heavy (what the command drives loads when it runs).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from monitor.command_support import settings_from_args
from monitor.errors import MonitorError


def add_tail_parser(sub: Any) -> None:
    """Register ``tail`` on the CLI's sub-parsers."""
    t = sub.add_parser(
        "tail",
        help="print messages of a topic (alerts, revocations, deadletter...) as JSON lines",
        description="Read a topic without a consumer group (nothing committed): the last -n "
        "messages of each partition, then new ones with --follow. TOPIC is a Kafka topic name "
        "or one of events, alerts, revocations, revocation_acks, deadletter, charters (the "
        "MCPMON_TOPIC_* setting). Every line is JSON written by mcpmon: values that are not JSON "
        "become escaped strings, so no message can put control sequences on your terminal.",
    )
    t.add_argument("topic", metavar="TOPIC")
    t.add_argument("-n", dest="lines", type=int, default=10, help="last N per partition (10)")
    t.add_argument("--all", action="store_true", help="from the beginning of each partition")
    t.add_argument("-f", "--follow", action="store_true", help="keep printing new messages")
    t.add_argument(
        "--meta", action="store_true", help="wrap each value with topic, partition, offset, key"
    )
    t.set_defaults(func=cmd_tail)


def cmd_tail(args: argparse.Namespace) -> int:
    from monitor.tail import ALIASES, run_tail

    settings = settings_from_args(args, uses=("kafka",))
    topic = getattr(settings, f"topic_{args.topic}") if args.topic in ALIASES else args.topic
    if args.lines < 0:
        raise MonitorError("-n must be >= 0")
    run_tail(
        settings.kafka_bootstrap,
        topic,
        sys.stdout.buffer,
        last=None if args.all else args.lines,
        follow=args.follow,
        meta=args.meta,
    )
    return 0
