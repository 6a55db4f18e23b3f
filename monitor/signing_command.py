"""``mcpmon sign-charter``: turn a charter file into signed ``charter_updated`` events.

The policy owner runs this where the charter key lives; the output goes to
``mcp.events`` (keyed by the event's ``agent_id``). Workers with
``MCPMON_CHARTER_SIGNING_KEYS`` apply only updates signed this way (see
:mod:`monitor.core.charter_update`).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import UTC, datetime
from typing import Any

DESCRIPTION = """\
Validate a charter file (every key, as mcpmon check-charter does) and print one
charter_updated event per charter in it, one JSON object a line, signed with the
first key of MCPMON_CHARTER_SIGNING_KEYS (KEY_ID:SECRET[,...]). Produce the lines
to mcp.events keyed by their agent_id. A worker with charter keys refuses an
update that is unsigned, signed by another key, or changed after signing, with
a charter_rejected alert, and keeps the charter in force.
"""


def add_sign_charter_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sign-charter",
        help="print signed charter_updated events for a charter file",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="charter YAML file")
    p.add_argument("--event-id", help="event_id (default: charter-<digest of the document>)")
    p.add_argument("--agent-id", help="agent_id, the partition key (default: the charter's agent)")
    p.add_argument("--ts", help="event time, RFC 3339 (default: now)")
    p.set_defaults(func=cmd_sign_charter)


def cmd_sign_charter(args: argparse.Namespace) -> int:
    import orjson

    from monitor.charter import load_charter_file
    from monitor.errors import MonitorError
    from monitor.settings import load_settings
    from monitor.signing import sign_charter

    ring = load_settings().charter_keyring()
    if ring is None:
        raise MonitorError("MCPMON_CHARTER_SIGNING_KEYS is empty: there is no key to sign with")
    ts = args.ts or datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for charter in load_charter_file(args.file):
        doc = charter.model_dump(mode="json", exclude_unset=True)
        digest = hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()
        event = {
            "type": "charter_updated",
            "event_id": args.event_id or f"charter-{digest[:24]}",
            "ts": ts,
            "agent_id": args.agent_id or charter.agent,
            "charter": doc,
            "signature": sign_charter(doc, ring),
        }
        sys.stdout.write(orjson.dumps(event).decode() + "\n")
    return 0
