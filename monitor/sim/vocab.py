"""Fixed vocabulary and clock helpers shared by every part of the simulator."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

#: Silence a scenario carrier keeps before and after its script (> the 60 s rate window).
PRE_GAP_MS = 65_000
POST_GAP_MS = 65_000
#: Background time before the earliest scenario anchor, and room kept after a script.
LEAD_MS = 3 * 60_000
TAIL_MS = 30_000
#: Measured density of the default mix, used by :func:`size_for_events`.
EVENTS_PER_AGENT_MINUTE = 2.1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# --------------------------------------------------------------------------- vocabulary

_FIRST = (
    "alice", "bob", "carol", "dan", "erin", "farid", "grace", "hiro", "ines", "jon", "kemal",
    "lena", "mei", "nils", "olga", "priya", "quinn", "rosa", "sam", "tariq", "uma", "vera",
)  # fmt: skip
_LAST = (
    "chen", "okafor", "muller", "garcia", "novak", "silva", "tanaka", "kowalski", "haddad",
    "johansson", "rossi", "nguyen", "petrov", "dubois", "kim", "osei", "larsen", "moreau",
)  # fmt: skip
_REPOS = (
    "billing-service", "web-frontend", "auth-gateway", "data-pipeline", "mobile-api",
    "infra-terraform", "search-indexer", "notifications",
)  # fmt: skip
_MODULES = (
    "invoice", "tax", "ledger", "session", "token", "router", "schema", "cache", "retry",
    "metrics", "config", "models", "views", "handlers", "client", "utils",
)  # fmt: skip
_QUERIES = (
    "def compute_total", "class RetryPolicy", "TODO(security)", "import requests",
    "raise ValueError", "async def handle", "feature_flag(", "@pytest.fixture",
)  # fmt: skip
_DOC_PAGES = (
    "https://docs.python.org/3/library/asyncio-task.html",
    "https://docs.python.org/3/library/datetime.html",
    "https://pypi.org/project/httpx/",
    "https://pypi.org/project/pydantic/",
)
_TENANTS = ("acme", "globex", "umbrella")
_FOREIGN_TENANT = "initech"
_KB = ("password reset", "refund policy", "invoice missing", "sso setup", "export data")
_POOLS = ("web", "api", "db", "cache", "batch")
_PACKAGES = (
    ("openssl", "3.0.13-0ubuntu3.5"),
    ("openssh-server", "1:9.6p1-3ubuntu13.8"),
    ("linux-image-generic", "6.8.0-51.52"),
    ("curl", "8.5.0-2ubuntu10.6"),
    ("sudo", "1.9.15p5-3ubuntu5.1"),
)
_DOMAINS = ("finance", "sales", "marketing", "logistics", "product")
_FOREIGN_DOMAIN = "hr"
_TABLES = ("orders", "invoices", "accounts", "events", "shipments", "campaigns")
_METRICS = ("http_requests_total", "node_cpu_seconds_total", "kafka_consumer_lag", "up")
_APPS = ("checkout", "auth", "search", "payments", "gateway", "scheduler")
_NAMESPACES = ("payments", "identity", "search", "platform", "edge")
_SLACK = "https://hooks.slack.com/services/T024BE7LD"
#: Free-mail domains: customers write from them, and so does an attacker (ordinary-looking).
_FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "gmx.de", "icloud.com")
#: Unremarkable domains an injected instruction points at (no paste or webhook service).
_PLAIN_DOMAINS = (
    "status-relay.net", "changefeed.app", "ops-notes.io", "patch-tracker.dev", "fleetsync.cloud",
    "release-notes.org",
)  # fmt: skip
#: Chat channel ids a monitor may post to (it uses the first, #oncall; fan-out takes the rest).
_CHANNELS = (
    "C01ONCALL", "C02GENERAL", "C03RANDOM", "C04ENGINEER", "C05SALES", "C06FINANCE", "C07HR",
    "C08SUPPORT", "C09MARKETING", "C10LEADS", "C11SECURITY", "C12DESIGN", "C13LEGAL",
    "C14PRODUCT",
)  # fmt: skip
#: Benign one-liners a patcher runs on a host (the loopback curl is a shell-egress near-miss).
_HOST_COMMANDS = (
    "systemctl restart unattended-upgrades", "apt-get -s upgrade", "uptime",
    "curl -s http://localhost:9100/metrics | head -n 20", "df -h /var",
    "journalctl -u apt-daily --since today | tail -n 50",
)  # fmt: skip

CODING_PATTERN = "coding-assistant-*"
SUPPORT_PATTERN = "support-mail-*"
PATCHER_PATTERN = "spiffe://corp/agents/patcher-*"
MONITOR_PATTERN = "spiffe://corp/agents/monitor-*"

# Background archetype mix (scenario carriers take the archetype their script needs).
_ARCHETYPES = ("coding", "support", "patcher", "etl", "monitor")
_WEIGHTS = (0.30, 0.20, 0.15, 0.20, 0.15)

# --------------------------------------------------------------------------- time helpers


def _ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    return round((dt - _EPOCH).total_seconds() * 1000)


def fmt_ts(ms: int) -> str:
    """RFC 3339 with milliseconds and ``Z``: ``2026-03-02T08:00:00.250Z``."""
    dt = _EPOCH + timedelta(milliseconds=ms)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def _minute_floor(ms: int) -> int:
    return ms - ms % 60_000


def _hhmm(ms: int) -> str:
    return f"{_EPOCH + timedelta(milliseconds=ms):%H:%M}"


def _business_hours(start_ms: int, end_ms: int) -> str | None:
    """``06:00-22:00`` when the whole run is inside it on one UTC day, else no hours limit."""
    day = start_ms - start_ms % 86_400_000
    lo, hi = day + 6 * 3_600_000, day + 22 * 3_600_000
    return "06:00-22:00" if lo <= start_ms and end_ms <= hi else None


def iban(rng: random.Random) -> str:
    """A well-formed-looking German IBAN (grouped by four), drawn from ``rng``."""
    digits = f"{rng.randint(10, 99)}{rng.randint(10**17, 10**18 - 1)}"
    raw = f"DE{digits}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))
