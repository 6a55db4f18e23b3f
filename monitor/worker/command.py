"""``mcpmon worker``: the streaming worker, one process or N in one consumer group.

Kept apart from :mod:`monitor.cli`, which only registers it; building the
parser imports nothing heavy (what the command drives loads when it runs).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any

from monitor.command_support import settings_from_args
from monitor.errors import MonitorError


def add_worker_parser(sub: Any) -> None:
    """Register ``worker`` on the CLI's sub-parsers."""
    w = sub.add_parser(
        "worker",
        help="run the streaming worker (Faust): mcp.events -> mcp.alerts, mcp.revocations",
        description="Consume mcp.events, run the detection engine per partition with state in "
        "changelog-backed tables, publish alerts and revocation commands; bad messages go to "
        "mcp.deadletter. Topics are created at start. Settings: MCPMON_* environment variables "
        "(MCPMON_KAFKA_BOOTSTRAP, MCPMON_PARTITIONS, MCPMON_STORE, MCPMON_APP_ID, "
        "MCPMON_WATERMARK_IDLE_SECONDS, MCPMON_TOPIC_*; see monitor/settings.py).",
        epilog="Example: MCPMON_KAFKA_BOOTSTRAP=127.0.0.1:9092 mcpmon worker --charters charters/",
    )
    w.add_argument(
        "--charters", required=True, metavar="DIR", help="charter YAML files (a dir or one file)"
    )
    w.add_argument("--observe", action="store_true", help="shadow mode: mark every command observe")
    w.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    w.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help="run N worker processes in one consumer group on this host (default: the CPUs "
        "this process may use — its CPU affinity and a cgroup CPU quota — and at most "
        "MCPMON_PARTITIONS, since a process without a partition idles). Each has its own state "
        "dir MCPMON_DATA_DIR/<i> and metrics port MCPMON_WORKER_METRICS_PORT+i; SIGTERM is "
        "forwarded to all, and if one dies the others are stopped and the exit is non-zero",
    )
    w.set_defaults(func=cmd_worker)


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may run on: its affinity, lowered to a cgroup v2 CPU quota
    (``cpu.max``, e.g. a container's ``--cpus 1.5`` gives 2) when one is set; at least 1.

    >>> usable_cpus(Path("/nonexistent")) >= 1
    True
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError, ZeroDivisionError):  # none, or unreadable: the affinity
        pass
    return max(1, cpus)


def cmd_worker(args: argparse.Namespace) -> int:
    from monitor.worker.run import run_worker

    if not Path(args.charters).exists():
        raise MonitorError(f"charters not found: {args.charters}")
    settings = settings_from_args(args)
    processes = getattr(args, "processes", None)
    if processes is None:
        processes = min(usable_cpus(), settings.partitions)
    if processes < 1:
        raise MonitorError(f"--processes must be at least 1, got {processes}")
    if processes > 1:
        from monitor.worker.supervisor import run_processes

        return run_processes(settings, args.charters, processes, args.loglevel, bool(args.observe))
    return run_worker(settings, args.charters, args.loglevel)
