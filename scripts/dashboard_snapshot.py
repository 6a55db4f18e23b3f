"""A picture of the Grafana dashboard with live data: ``make dashboard-snapshot``.

There is no Grafana (nor Docker) where this project is built, so this renders
``deploy/grafana/mcp-monitor.json`` itself: every panel in its grid position,
every query the panel holds, evaluated by a **real Prometheus** (the binary of
Debian's ``prometheus`` package, see scripts/promtool.sh) that scraped a **real
running stack** for five minutes:

- ``mcpmon worker`` (simulated traffic of 300 agents, re-stamped to now and sent to the
  events topic as each event's time comes,
  with a few malformed records that become dead letters),
- ``mcpmon revoker`` with the Redis deny-list actuator (a real redis-server),
- ``mcpmon sink --to ocsf-file``,
- ``mcpmon proxy`` in front of a small real MCP server, with agents calling
  through it; some call a tool outside their charter, are revoked and then refused.

Prometheus scrapes each service's ``/metrics`` every second with the job names
of deploy/prometheus/prometheus.yml; ``$__rate_interval`` is replaced by
:data:`RATE_INTERVAL`. The picture is written to ``docs/dashboard.png`` and each
panel's series count is printed: a panel whose queries return nothing says
"No data" in the picture as it would in Grafana, and the run exits 1 when a panel
that the traffic must fill (:data:`MAY_BE_EMPTY` lists the others) is empty —
that is a dashboard query reading a metric or label the services do not export.

Needs the Kafka broker (``bash scripts/kafka.sh start``), redis-server and
``bash scripts/promtool.sh install`` (which also unpacks ``prometheus``).

    python scripts/dashboard_snapshot.py [--seconds 300] [--out docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from monitor.testing import HEADER_IDENTITY_MAPPING, fleet_charter

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "mcp-monitor.json"
PROMETHEUS = ROOT / "build" / "tools" / "prometheus"
RATE_INTERVAL = "15s"
#: panels that stay empty on a healthy stack (they count failures)
MAY_BE_EMPTY = {"Revocation failures (1h)"}
SIGNING_KEYS = "snapshot:a-command-signing-secret-for-the-snapshot"
PROXY_AGENTS = 8

PROXY_CHARTER = fleet_charter("spiffe://corp/agents/fleet-*")
MAPPING = HEADER_IDENTITY_MAPPING


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise SystemExit(f"{name} not listening on {port} after {timeout:.0f} s")


class Stack:
    """The processes of one snapshot run; stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, tmp: Path, bootstrap: str) -> None:
        self.tmp = tmp
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        run = f"mcpmon-snap-{os.getpid()}"
        self.topics = {
            "events": f"{run}.events",
            "alerts": f"{run}.alerts",
            "revocations": f"{run}.revocations",
            "acks": f"{run}.revocation-acks",
            "deadletter": f"{run}.deadletter",
            "charters": f"{run}.charters",
        }
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MCPMON_")}
        self.env.update(
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
            MCPMON_KAFKA_BOOTSTRAP=bootstrap,
            MCPMON_APP_ID=run,
            MCPMON_TOPIC_EVENTS=self.topics["events"],
            MCPMON_TOPIC_ALERTS=self.topics["alerts"],
            MCPMON_TOPIC_REVOCATIONS=self.topics["revocations"],
            MCPMON_TOPIC_REVOCATION_ACKS=self.topics["acks"],
            MCPMON_TOPIC_DEADLETTER=self.topics["deadletter"],
            MCPMON_TOPIC_CHARTERS=self.topics["charters"],
            MCPMON_PARTITIONS="4",
            MCPMON_WATERMARK_IDLE_SECONDS="1",
            MCPMON_ALLOWED_LATENESS_SECONDS="2",  # as docker-compose.yml: see its comment
            MCPMON_COMMAND_SIGNING_KEYS=SIGNING_KEYS,
            MCPMON_DATA_DIR=str(tmp / "worker-data"),
            MCPMON_SINK_GROUP_ID=f"{run}-sink",
            MCPMON_REVOKER_GROUP_ID=f"{run}-revoker",
        )
        self.ports = {"worker": free_port(), "revoker": free_port(), "sink": free_port()}
        self.ports["proxy"] = free_port()

    def start(self, name: str, args: list[str], **env: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            args, env={**self.env, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs.append((name, proc))
        return proc

    def mcpmon(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        return self.start(name, [sys.executable, "-m", "monitor.cli", *args], **env)

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in reversed(self.procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def prometheus_config(stack: Stack) -> str:
    jobs = [(f"mcpmon-{name}", port) for name, port in stack.ports.items()]
    lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s", "scrape_configs:"]
    for job, port in jobs:
        lines += [
            f"  - job_name: {job}",
            "    static_configs:",
            f'      - targets: ["127.0.0.1:{port}"]',
        ]
    return "\n".join(lines) + "\n"


def simulated_events(tmp: Path, seconds: float) -> tuple[list[bytes], Path]:
    """The simulator's fleet (300 agents, attacks included) over ``seconds`` of event time."""
    out = tmp / "sim"
    minutes = max(5, round(seconds / 60))  # under 5 simulated minutes no attack completes
    subprocess.run(
        [sys.executable, "-m", "monitor.cli", "simulate", "--agents", "300", "--minutes",
         str(minutes), "--seed", "5", "--out", str(out)],
        cwd=ROOT, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    lines = [ln for ln in (out / "events.jsonl").read_bytes().splitlines() if ln.strip()]
    return lines, out / "charters"


_STAMP = re.compile(rb'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)"')


def _parse(raw: bytes) -> datetime:
    return datetime.fromisoformat(raw.decode().replace("Z", "+00:00"))


def live(lines: list[bytes], start: datetime) -> list[tuple[float, bytes]]:
    """Each event re-stamped as if it happened now: (seconds after ``start``, line).

    The simulator stamps its traffic in its own past. Sent as is, the revoker would refuse
    every command as a replay (issued months ago), and the proxy's events, stamped with the
    wall clock, would make every simulated event late. So every timestamp moves by one
    offset (the first event at ``start``) and each event is sent when its time comes.
    """
    first = min(_parse(m.group(1)) for ln in lines for m in _STAMP.finditer(ln))
    delta = start - first

    def shift(m: re.Match[bytes]) -> bytes:
        moved = _parse(m.group(1)) + delta
        return b'"' + moved.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3].encode() + b'Z"'

    out = []
    for ln in lines:
        m = _STAMP.search(ln)  # the first stamp of a line is its ts
        at = (_parse(m.group(1)) - first).total_seconds() if m else 0.0
        out.append((at, _STAMP.sub(shift, ln)))
    return out


def with_bad_records(
    timed: list[tuple[float, bytes]], every: int = 400
) -> list[tuple[float, bytes]]:
    """A malformed record now and then: the dead-letter panel must show them by reason."""
    bad = [b"{not json", b'{"type":"tool_call"}', b'{"type":"no_such_type","agent_id":"x"}']
    out: list[tuple[float, bytes]] = []
    for i, (at, line) in enumerate(timed):
        if i and i % every == 0:
            out.append((at, bad[(i // every) % len(bad)]))
        out.append((at, line))
    return out


async def produce_live(bootstrap: str, topic: str, lines: list[bytes], seconds: float) -> None:
    """Send each event when its (re-stamped) time comes; stop after ``seconds``."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        start = time.monotonic()
        for at, line in with_bad_records(live(lines, datetime.now(UTC))):
            if at > seconds:
                break
            if (wait := start + at - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            key = None
            with contextlib.suppress(orjson.JSONDecodeError, TypeError, AttributeError):
                agent = orjson.loads(line).get("agent_id")
                key = agent.encode() if isinstance(agent, str) else None
            await producer.send(topic, line, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def proxy_agents(url: str, seconds: float) -> dict[str, int]:
    """Agents calling through the proxy; every third one also calls ``delete_repo`` once."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client
    from mcp.shared.exceptions import MCPError

    counts = {"ok": 0, "refused": 0}

    async def one(i: int) -> None:
        agent = f"spiffe://corp/agents/fleet-{i}"
        http = create_mcp_http_client(
            headers={"x-agent-id": agent, "x-credential-id": f"cred-fleet-{i}"}
        )
        rnd = random.Random(i)
        deadline = time.monotonic() + seconds
        async with Client(streamable_http_client(url, http_client=http)) as client:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                tool, args = ("read_file", {"path": f"/srv/{n}"}) if n % 2 else ("list_hosts", {})
                if i % 3 == 0 and n == 20 + i:
                    tool, args = "delete_repo", {"repo": "prod"}
                try:
                    await client.call_tool(tool, args)
                    counts["ok"] += 1
                except MCPError:
                    counts["refused"] += 1
                await asyncio.sleep(rnd.uniform(0.2, 0.6))

    await asyncio.gather(*(one(i) for i in range(PROXY_AGENTS)))
    return counts


def start_stack(stack: Stack, charters: Path) -> str:
    tmp = stack.tmp
    redis_port = free_port()
    redis = stack.start(
        "redis",
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp)],
    )  # fmt: skip
    wait_port(redis_port, redis, "redis-server")
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    (tmp / "identity.yaml").write_text(MAPPING)
    p = stack.ports
    w = stack.mcpmon(
        "worker", "worker", "--charters", str(charters), "--loglevel", "info", "--processes", "1",
        MCPMON_WORKER_METRICS_PORT=str(p["worker"]),
    )  # fmt: skip
    wait_port(p["worker"], w, "worker")
    r = stack.mcpmon(
        "revoker", "revoker", "--loglevel", "info",
        MCPMON_REVOKER_ACTUATORS="denylist", MCPMON_REVOKER_REDIS_URL=redis_url,
        MCPMON_REVOKER_METRICS_PORT=str(p["revoker"]),
    )  # fmt: skip
    wait_port(p["revoker"], r, "revoker")
    s = stack.mcpmon(
        "sink", "sink", "--to", "ocsf-file", "--file", str(tmp / "findings.ocsf.jsonl"),
        MCPMON_SINK_METRICS_PORT=str(p["sink"]),
    )  # fmt: skip
    wait_port(p["sink"], s, "sink")
    listen = free_port()
    x = stack.mcpmon(
        "proxy", "proxy", "--listen", f"127.0.0.1:{listen}",
        "--mapping", str(tmp / "identity.yaml"), "--", sys.executable, "-m", "tests.proxy.fleet_server",
        MCPMON_REVOKER_REDIS_URL=redis_url, MCPMON_PROXY_METRICS_PORT=str(p["proxy"]),
    )  # fmt: skip
    wait_port(listen, x, "proxy")
    return f"http://127.0.0.1:{listen}/mcp"


def query(base: str, path: str, **params: str) -> Any:
    url = f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        doc = json.loads(resp.read())
    if doc.get("status") != "success":
        raise SystemExit(f"prometheus: {path} {params}: {doc}")
    return doc["data"]["result"]


def legend(fmt: str, metric: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt) or str(metric)


def collect(base: str, panels: list[dict], start: float, end: float) -> dict[int, list[tuple]]:
    """Per panel: (label, times, values) for every series its queries return."""
    data: dict[int, list[tuple]] = {}
    for panel in panels:
        series: list[tuple] = []
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", RATE_INTERVAL)
            for res in query(base, "query_range", query=expr, start=str(start), end=str(end),
                             step="2"):  # fmt: skip
                ts = [float(t) - start for t, _ in res["values"]]
                vs = [float(v) for _, v in res["values"]]
                series.append((legend(target.get("legendFormat", ""), res["metric"]), ts, vs))
        data[panel["id"]] = series
    return data


def _fmt(v: float) -> str:
    if v != v:  # NaN
        return "-"
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.1f}{unit}"
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.2f}"


def render(dashboard: dict, data: dict[int, list[tuple]], out: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    unit = 0.42  # inches per grid row
    fig = plt.figure(figsize=(24 * 0.75, rows * unit + 0.8), facecolor="#111217")
    fig.text(0.01, 1 - 0.25 / (rows * unit + 0.8), dashboard.get("title", "dashboard"),
             color="#d8d9da", fontsize=14, va="top")  # fmt: skip
    fig.text(0.99, 1 - 0.25 / (rows * unit + 0.8), note, color="#8e8e8e", fontsize=8,
             va="top", ha="right")  # fmt: skip
    top = 0.6 / (rows * unit + 0.8)
    for p in panels:
        g = p["gridPos"]
        left, width = g["x"] / 24, g["w"] / 24
        height = g["h"] * unit / (rows * unit + 0.8)
        bottom = 1 - top - (g["y"] + g["h"]) * unit / (rows * unit + 0.8)
        if p["type"] == "row":
            fig.text(left + 0.005, bottom + height / 2, p["title"], color="#d8d9da",
                     fontsize=11, weight="bold", va="center")  # fmt: skip
            continue
        margin = 0.0 if p["type"] == "stat" else 0.03  # room for the value ticks
        ax = fig.add_axes(
            (left + 0.004 + margin, bottom + 0.012, width - 0.008 - margin, height - 0.024)
        )
        ax.set_facecolor("#181b1f")
        for s in ax.spines.values():
            s.set_color("#2c3235")
        ax.set_title(p["title"], color="#d8d9da", fontsize=9, loc="left")
        series = data.get(p["id"], [])
        if not series:
            ax.text(0.5, 0.5, "No data", color="#8e8e8e", ha="center", va="center",
                    transform=ax.transAxes)  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        if p["type"] == "stat":
            last = sum(next((v for v in reversed(vs) if v == v), 0.0) for _, _, vs in series)
            ax.text(0.5, 0.45, _fmt(last), color="#73bf69", fontsize=26, ha="center",
                    va="center", transform=ax.transAxes, weight="bold")  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        for label, ts, vs in series[:10]:
            ax.plot(ts, vs, linewidth=1.2, label=label[:40])
        ax.tick_params(colors="#8e8e8e", labelsize=7)
        ax.grid(color="#2c3235", linewidth=0.5)
        ax.legend(fontsize=6, loc="upper left", facecolor="#181b1f", labelcolor="#d8d9da",
                  edgecolor="#2c3235", ncol=2)  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, facecolor=fig.get_facecolor())
    plt.close(fig)


@contextlib.contextmanager
def prometheus(stack: Stack) -> Iterator[str]:
    if not PROMETHEUS.exists():
        raise SystemExit(f"no {PROMETHEUS}: run `bash scripts/promtool.sh install` first")
    cfg = stack.tmp / "prometheus.yml"
    cfg.write_text(prometheus_config(stack))
    port = free_port()
    proc = stack.start(
        "prometheus",
        [str(PROMETHEUS), f"--config.file={cfg}", f"--storage.tsdb.path={stack.tmp / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
    )  # fmt: skip
    wait_port(port, proc, "prometheus")
    yield f"http://127.0.0.1:{port}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=300.0, help="traffic duration (300)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "dashboard.png"), help="picture")
    ap.add_argument(
        "--bootstrap", default=os.environ.get("MCPMON_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    ap.add_argument("--keep", action="store_true", help="keep the run's temp dir (logs)")
    args = ap.parse_args(argv)
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server not found (apt-get install redis-server)")
    dashboard = json.loads(DASHBOARD.read_text())
    tmp = Path(tempfile.mkdtemp(prefix="mcpmon-snapshot-"))
    stack = Stack(tmp, args.bootstrap)
    try:
        lines, charters = simulated_events(tmp, args.seconds)
        (charters / "fleet.yaml").write_text(PROXY_CHARTER)
        url = start_stack(stack, charters)
        with prometheus(stack) as base:
            start = time.time()

            async def traffic() -> dict[str, int]:
                feed = produce_live(args.bootstrap, stack.topics["events"], lines, args.seconds)
                _, counts = await asyncio.gather(feed, proxy_agents(url, args.seconds))
                return counts

            counts = asyncio.run(traffic())
            n_sent = sum(1 for at, _ in live(lines, datetime.now(UTC)) if at <= args.seconds)
            end = time.time() + 5  # the picture ends as the traffic does (stats show it live)
            time.sleep(10)  # the last scrapes in
            data = collect(base, dashboard["panels"], start, end)
        note = (
            f"live: worker, revoker (redis deny-list), sink (ocsf-file), proxy; "
            f"{n_sent:,} simulated events + {counts['ok'] + counts['refused']:,} proxy calls "
            f"in {args.seconds:.0f} s; scraped by Prometheus every 1 s; "
            f"rendered by scripts/dashboard_snapshot.py (not Grafana)"
        )
        render(dashboard, data, Path(args.out), note)
    finally:
        stack.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}")
    empty = []
    for p in dashboard["panels"]:
        if p["type"] == "row":
            continue
        n = len(data.get(p["id"], []))
        print(f"  {n:3d} series  {p['title']}")
        if n == 0 and p["title"] not in MAY_BE_EMPTY:
            empty.append(p["title"])
    print(f"wrote {args.out}; proxy calls {counts}")
    if empty:
        print(f"EMPTY panels the traffic should fill: {empty}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
