"""``mcpmon revoker``: the sub-command's arguments, help text and wiring.

Kept apart from :mod:`monitor.cli` so the CLI only registers it; building the
parser imports nothing heavy (the revoker's modules load when it runs).
"""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = """\
Consume revocation commands (MCPMON_TOPIC_REVOCATIONS, mcp.revocations) in the
consumer group MCPMON_REVOKER_GROUP_ID, carry each out through every actuator
in MCPMON_REVOKER_ACTUATORS, and publish one RevocationAck per actuator to
MCPMON_TOPIC_REVOCATION_ACKS (mcp.revocation-acks):

  applied          done now (observe-mode commands: "observe: not applied ...",
                   nothing is touched)
  already_applied  this actuator applied this command_id before (a redelivery)
  failed           retries exhausted or a final error; an alert with detector
                   revocation_failed goes to MCPMON_TOPIC_ALERTS

Actuators:
  denylist  Redis deny-list gateways consult (MCPMON_REVOKER_REDIS_URL,
            MCPMON_REVOKER_DENYLIST_PREFIX, MCPMON_REVOKER_DENYLIST_TTL_SECONDS)
  oauth     RFC 7009 token revocation (MCPMON_REVOKER_OAUTH_URL, _CLIENT_ID,
            _CLIENT_SECRET, _TOKEN_TYPE_HINT)
  webhook   signed JSON POST for SOAR / ticketing (MCPMON_REVOKER_WEBHOOK_URL,
            MCPMON_REVOKER_WEBHOOK_SECRET: HMAC-SHA256 in X-MCPMon-Signature)
  vault     Vault lease revoke / revoke-prefix (MCPMON_REVOKER_VAULT_ADDR,
            _TOKEN, _NAMESPACE, _PREFIX_TEMPLATE)

Signed commands: with MCPMON_COMMAND_SIGNING_KEYS (KEY_ID:SECRET[,...], the
worker's keys) a command that is unsigned, signed by another key or by a key
scoped to charter updates only (KEY_ID@charters:SECRET), changed after
signing, or dated more than MCPMON_REVOKER_COMMAND_MAX_AGE_SECONDS (86400; 0 off)
from now is refused: never applied, never acked, dead-lettered with its reason
and alerted (detector revocation_refused). Without keys every well-formed
command is carried out, and a warning at start says so.

Idempotence by command_id is kept in Redis (MCPMON_REVOKER_LEDGER=redis, the
default) so it survives restarts. Retries: MCPMON_REVOKER_RETRY_ATTEMPTS (5),
exponential backoff from MCPMON_REVOKER_RETRY_BASE_SECONDS (0.5) up to
MCPMON_REVOKER_RETRY_MAX_SECONDS (30); MCPMON_REVOKER_TIMEOUT_SECONDS per request.
"""

EPILOG = """\
Example:
  MCPMON_REVOKER_ACTUATORS=denylist,oauth MCPMON_REVOKER_OAUTH_URL=https://as/revoke \\
  MCPMON_REVOKER_OAUTH_CLIENT_ID=mcpmon MCPMON_REVOKER_OAUTH_CLIENT_SECRET=... mcpmon revoker
Stopping: SIGTERM or Ctrl-C finishes the command in hand; anything not acked is
redelivered to the next revoker. Exit status: 0 stopped, 1 configuration error.
"""


def add_revoker_parser(sub: Any) -> None:
    """Register ``revoker`` on the CLI's sub-parsers."""
    r = sub.add_parser(
        "revoker",
        help="carry out revocation commands through actuators, ack to mcp.revocation-acks",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "--actuators", metavar="LIST", help="comma-separated, overrides MCPMON_REVOKER_ACTUATORS"
    )
    r.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    r.set_defaults(func=cmd_revoker)


def cmd_revoker(args: argparse.Namespace) -> int:
    import asyncio

    from monitor.revoker.build import build_revoker
    from monitor.revoker.service import RevokerService
    from monitor.runtime import configure_logging, run_until_stopped
    from monitor.settings import load_settings

    configure_logging(args.loglevel)
    # "engine": the redaction of what the revoker says (acks, alerts, logs) is its settings
    settings = load_settings(
        {"revoker_actuators": args.actuators},
        uses=("revoker", "engine", "commands", "kafka", "service"),
    )

    async def main() -> None:
        await run_until_stopped(RevokerService(settings, build_revoker(settings)))

    asyncio.run(main())
    return 0
