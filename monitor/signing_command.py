"""``mcpmon sign-charter``: turn a charter file into signed ``charter_updated`` events.

The policy owner runs this where the charter key lives; the output goes to
``mcp.events`` (keyed by the event's ``agent_id``). Workers apply only updates
signed this way (see :mod:`monitor.core.charter_update`), and of those only
one whose ``version`` is above the last applied for its pattern: the version
(default: the epoch seconds now) is covered by the signature, so a replay of
an older update is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import UTC, datetime
from typing import Any

DESCRIPTION = """\
Validate a charter file (every key, as mcpmon check-charter does) and print one
charter_updated event per charter in it, one JSON object a line, stamped with a
version and signed with the first key of MCPMON_CHARTER_SIGNING_KEYS
(KEY_ID[@charters]:SECRET[,...]) that may sign charters. Produce the lines to
mcp.events keyed by their agent_id. A worker refuses, with a charter_rejected
alert, an update that is unsigned, signed by another key or by a key not scoped
to charters, changed after signing, or whose version is not above the one last
applied for its agent pattern (a replay), and keeps the charter in force. An
update that grants more than the charter in force is applied and raises a
charter_widened alert.

The version is the epoch seconds now unless --version is given: sign again
rather than re-send an old line, and give a higher --version when signing twice
within a second.
"""

#: highest version (JSON-safe integer, as the event contract accepts)
MAX_VERSION = (1 << 53) - 1


def _version(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= n <= MAX_VERSION:
        raise argparse.ArgumentTypeError(f"{n} is not between 1 and {MAX_VERSION}")
    return n


def add_sign_charter_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sign-charter",
        help="print signed charter_updated events for a charter file",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="charter YAML file")
    p.add_argument(
        "--event-id", help="event_id (default: charter-<digest of the document and version>)"
    )
    p.add_argument("--agent-id", help="agent_id, the partition key (default: the charter's agent)")
    p.add_argument("--ts", help="event time, RFC 3339 (default: now)")
    p.add_argument(
        "--version",
        type=_version,
        help="the update's version, above the last one applied for the pattern "
        "(default: the epoch seconds now)",
    )
    p.set_defaults(func=cmd_sign_charter)


def cmd_sign_charter(args: argparse.Namespace) -> int:
    import orjson

    from monitor.charter import load_charter_file
    from monitor.errors import MonitorError
    from monitor.settings import load_settings
    from monitor.signing import sign_charter

    ring = load_settings(uses=("engine",)).charter_keyring()
    if ring is None:
        raise MonitorError("MCPMON_CHARTER_SIGNING_KEYS is empty: there is no key to sign with")
    now = datetime.now(UTC)
    ts = args.ts or now.isoformat().replace("+00:00", "Z")
    version = args.version if args.version is not None else int(now.timestamp())
    for charter in load_charter_file(args.file):
        doc = charter.model_dump(mode="json", exclude_unset=True)
        signed = {"charter": doc, "version": version}  # one id per document and version
        digest = hashlib.sha256(orjson.dumps(signed, option=orjson.OPT_SORT_KEYS)).hexdigest()
        event = {
            "type": "charter_updated",
            "event_id": args.event_id or f"charter-{digest[:24]}",
            "ts": ts,
            "agent_id": args.agent_id or charter.agent,
            "charter": doc,
            "version": version,
            "signature": sign_charter(doc, ring, version),
        }
        sys.stdout.write(orjson.dumps(event).decode() + "\n")
    return 0
