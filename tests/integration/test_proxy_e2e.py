"""The closed loop on the real broker: proxy → mcp.events → worker → mcp.revocations →
revoker → Redis deny-list → proxy refuses.

Everything is real and a separate process, as deployed: the fleet MCP server
(launched by the proxy over stdio), ``mcpmon proxy`` serving streamable HTTP,
``mcpmon worker`` with an enforce-mode charter, ``mcpmon revoker`` with the
Redis deny-list actuator, redis-server and Kafka. Each agent is its own SDK
client whose identity the proxy maps from HTTP headers.

Per agent: ordinary calls work; an out-of-charter call (``delete_repo``) goes
through — the proxy cannot know yet — and is detected; the revocation is
applied; the agent's next call is refused with the deny-list error. The test
asserts that behaviour. The time from the violating call to the first refused
call is measured per agent (the agent keeps calling ``list_hosts`` every
10 ms), broken down by stage from the Kafka record timestamps, and printed
(``pytest -s``); it is not asserted.

With ``--policy inline`` (the second test) the proxy judges each call against the
same charter before forwarding it: the violating call itself is refused (0 calls
late), its event says ``denied`` and which check, and the worker, judging that
event after the fact, raises the same check on it with nothing left to revoke.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from monitor.kafka_io import read_topics
from monitor.proxy import refusal
from monitor.testing import HEADER_IDENTITY_MAPPING, fleet_charter
from tests.integration.test_revoker import RevokerProcess
from tests.integration.workers import Run
from tests.proxy.processes import FLEET_CMD, ProxyProcess
from tests.revoker.servers import RedisServer, free_port

pytestmark = pytest.mark.kafka

AGENTS = 20
POLL_SECONDS = 0.01
SIGNING_KEYS = "e2e:a-command-signing-secret-for-the-e2e"

CHARTER = fleet_charter("spiffe://corp/agents/e2e-*")
MAPPING = HEADER_IDENTITY_MAPPING


def _client(url: str, agent: str, credential: str) -> Client:
    http = create_mcp_http_client(headers={"x-agent-id": agent, "x-credential-id": credential})
    return Client(streamable_http_client(url, http_client=http))


async def _one_agent(url: str, i: int) -> dict[str, Any]:
    agent, cred = f"spiffe://corp/agents/e2e-{i}", f"cred-e2e-{i}"
    async with _client(url, agent, cred) as client:
        hosts = await client.call_tool("list_hosts", {})
        text = await client.call_tool("read_file", {"path": "/etc/motd"})
        assert not hosts.is_error and not text.is_error
        t0 = time.time()
        violation = await client.call_tool("delete_repo", {"repo": "prod"})
        assert not violation.is_error  # not known yet: the monitor decides after the fact
        deadline = time.monotonic() + 60
        polls = 0
        while True:
            polls += 1
            try:
                await client.call_tool("list_hosts", {})
            except MCPError as err:
                t1 = time.time()
                assert err.code == refusal.DENIED, err
                assert list(err.data["denied"]) == ["credential"]
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{agent}: still not refused 60 s after the violation")
            await asyncio.sleep(POLL_SECONDS)
        # refused for good, whatever it calls next
        with pytest.raises(MCPError):
            await client.call_tool("read_file", {"path": "/etc/motd"})
    return {"agent": agent, "cred": cred, "t0": t0, "t1": t1, "polls": polls}


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def test_violation_is_detected_revoked_and_the_next_call_refused(run: Run, tmp_path: Path) -> None:
    charters = tmp_path / "charters"
    charters.mkdir()
    (charters / "e2e.yaml").write_text(CHARTER)
    (tmp_path / "identity.yaml").write_text(MAPPING)
    redis = RedisServer(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    proxy = revoker = None
    try:
        worker = run.start_worker(charters, MCPMON_COMMAND_SIGNING_KEYS=SIGNING_KEYS)
        revoker = RevokerProcess(
            run.env(
                MCPMON_COMMAND_SIGNING_KEYS=SIGNING_KEYS,  # the revoker takes signed commands only
                MCPMON_REVOKER_GROUP_ID=f"{run.app_id}-revoker",
                MCPMON_REVOKER_ACTUATORS="denylist",
                MCPMON_REVOKER_REDIS_URL=redis.url,
            ),
            tmp_path / "revoker.log",
        )
        worker.wait_ready()
        revoker.wait_log("revoker_started", timeout=60)
        proxy = ProxyProcess(
            [
                "--listen", f"127.0.0.1:{port}",
                "--mapping", str(tmp_path / "identity.yaml"),
                "--", *FLEET_CMD,
            ],
            run.env(MCPMON_REVOKER_REDIS_URL=redis.url),
            tmp_path / "proxy.log",
        )  # fmt: skip
        proxy.wait_listening(port)

        async def agents() -> list[dict[str, Any]]:
            return [await _one_agent(url, i) for i in range(AGENTS)]

        started = time.monotonic()
        results = asyncio.run(asyncio.wait_for(agents(), 600))
        elapsed = time.monotonic() - started

        recs = asyncio.run(
            read_topics(
                run.bootstrap,
                [run.topics[n] for n in ("events", "alerts", "revocations", "acks")],
                until=lambda r: sum(x.topic == run.topics["acks"] for x in r) >= AGENTS,
                timeout=60,
                settle=1.0,
            )
        )
    finally:
        if proxy is not None:
            assert proxy.stop() == 0, proxy.tail()
        if revoker is not None:
            revoker.stop()
        redis.stop()

    by_topic: dict[str, list[Any]] = {n: [] for n in ("events", "alerts", "revocations", "acks")}
    for r in recs:
        name = next(n for n, t in run.topics.items() if t == r.topic)
        by_topic["acks" if name == "acks" else name].append(r)
    alerts = [orjson.loads(r.value) for r in by_topic["alerts"]]
    commands = {orjson.loads(r.value)["command_id"]: r for r in by_topic["revocations"]}
    acks = [orjson.loads(r.value) for r in by_topic["acks"]]

    # every violation detected, revoked by credential, applied by the deny-list actuator
    detected = {a["agent_id"] for a in alerts if a["detector"] == "out_of_charter_tool"}
    assert detected == {r["agent"] for r in results}
    revoked = {orjson.loads(r.value)["agent_id"]: orjson.loads(r.value) for r in commands.values()}
    assert set(revoked) == detected
    assert all(c["scope"] == "credential" and c["mode"] == "enforce" for c in revoked.values())
    assert {(a["actuator"], a["status"]) for a in acks} == {("denylist", "applied")}
    # the refused calls are events too, with outcome denied
    events = [orjson.loads(r.value) for r in by_topic["events"]]
    assert {e["agent_id"] for e in events if e["outcome"] == "denied"} == detected
    assert all(r.key == orjson.loads(r.value)["agent_id"].encode() for r in by_topic["events"])

    # ---- the figure: violating call -> first refused call, and where the time goes
    ev_rec = {
        orjson.loads(r.value)["agent_id"]: r
        for r in by_topic["events"]
        if orjson.loads(r.value)["tool"] == "delete_repo"
    }
    cmd_rec = {orjson.loads(r.value)["agent_id"]: r for r in commands.values()}
    ack_ts = {a["command_id"]: a for a in acks}
    ack_rec = {orjson.loads(r.value)["command_id"]: r for r in by_topic["acks"]}
    rows = []
    for r in results:
        a = r["agent"]
        cmd_id = orjson.loads(cmd_rec[a].value)["command_id"]
        assert cmd_id in ack_ts
        t0, t1 = r["t0"] * 1000, r["t1"] * 1000
        ev, cmd, ack = ev_rec[a].timestamp, cmd_rec[a].timestamp, ack_rec[cmd_id].timestamp
        rows.append(
            {
                "total": t1 - t0,
                "proxy->kafka": ev - t0,
                "worker": cmd - ev,
                "revoker": ack - cmd,
                "->refusal": t1 - ack,
                "polls": r["polls"],
                "partition": ev_rec[a].partition,
            }
        )
    print(f"\nproxy e2e: {AGENTS} agents, {elapsed:.1f} s; violation -> first refused call (ms):")
    for k in ("total", "proxy->kafka", "worker", "revoker", "->refusal"):
        xs = [row[k] for row in rows]
        print(
            f"  {k:<13} p50 {statistics.median(xs):7.1f}  p99 {_pct(xs, 0.99):7.1f}  "
            f"max {max(xs):7.1f}"
        )
    print(f"  polls per agent until refused: {[row['polls'] for row in rows]}")
    print(
        "  worker ms (partition) per agent, in order: "
        + ", ".join(f"{row['worker']:.0f} ({row['partition']})" for row in rows)
    )
    assert worker.alive


# ---------------------------------------------------------------- --policy inline

INLINE_AGENTS = 5


async def _one_agent_inline(url: str, i: int) -> dict[str, Any]:
    """Ordinary calls work; the violating call itself is refused (0 calls late) and the
    agent goes on: nothing was revoked, the gateway did its job."""
    agent, cred = f"spiffe://corp/agents/e2e-{i}", f"cred-inline-{i}"
    async with _client(url, agent, cred) as client:
        hosts = await client.call_tool("list_hosts", {})
        assert not hosts.is_error
        t0 = time.perf_counter()
        with pytest.raises(MCPError) as refused:
            await client.call_tool("delete_repo", {"repo": "prod"})
        refused_ms = (time.perf_counter() - t0) * 1000
        err = refused.value
        assert err.code == refusal.POLICY, err
        assert err.data["check"] == "out_of_charter_tool:tools"
        assert err.data["clause"]["key"] == "tools"
        after = await client.call_tool("read_file", {"path": "/etc/motd"})
        assert not after.is_error
    return {"agent": agent, "refused_ms": refused_ms}


def test_inline_policy_refuses_the_violating_call_itself_and_the_worker_agrees(
    run: Run, tmp_path: Path
) -> None:
    charters = tmp_path / "charters"
    charters.mkdir()
    (charters / "e2e.yaml").write_text(CHARTER)
    (tmp_path / "identity.yaml").write_text(MAPPING)
    redis = RedisServer(tmp_path)
    port, metrics_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    proxy = None
    try:
        worker = run.start_worker(charters, MCPMON_COMMAND_SIGNING_KEYS=SIGNING_KEYS)
        worker.wait_ready()
        proxy = ProxyProcess(
            [
                "--listen", f"127.0.0.1:{port}",
                "--mapping", str(tmp_path / "identity.yaml"),
                "--policy", "inline", "--charters", str(charters),
                "--", *FLEET_CMD,
            ],
            run.env(
                MCPMON_REVOKER_REDIS_URL=redis.url,
                MCPMON_PROXY_METRICS_PORT=str(metrics_port),
            ),
            tmp_path / "proxy.log",
        )  # fmt: skip
        proxy.wait_listening(port)

        async def agents() -> list[dict[str, Any]]:
            return [await _one_agent_inline(url, i) for i in range(INLINE_AGENTS)]

        results = asyncio.run(asyncio.wait_for(agents(), 300))
        exposition = (
            urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
            .read()
            .decode()
        )

        recs = asyncio.run(
            read_topics(
                run.bootstrap,
                [run.topics[n] for n in ("events", "alerts", "revocations")],
                until=lambda r: sum(x.topic == run.topics["alerts"] for x in r) >= INLINE_AGENTS,
                timeout=60,
                settle=1.0,
            )
        )
    finally:
        if proxy is not None:
            assert proxy.stop() == 0, proxy.tail()
        redis.stop()

    events = [orjson.loads(r.value) for r in recs if r.topic == run.topics["events"]]
    alerts = [orjson.loads(r.value) for r in recs if r.topic == run.topics["alerts"]]
    commands = [r for r in recs if r.topic == run.topics["revocations"]]
    # 0 calls late: the violating call is the refused one, its event says so
    denied = {e["event_id"]: e for e in events if e["outcome"] == "denied"}
    assert {(e["agent_id"], e["tool"], e["denied_by"]) for e in denied.values()} == {
        (r["agent"], "delete_repo", "out_of_charter_tool:tools") for r in results
    }
    assert all(e["outcome"] == "ok" for e in events if e["event_id"] not in denied)
    # the worker agrees: the same check on each refused event, at medium, nothing to revoke
    for e in denied.values():
        [a] = [a for a in alerts if e["event_id"] in a["evidence"]]
        assert (a["detector"], a["clause"]["key"], a["severity"]) == (
            "out_of_charter_tool",
            "tools",
            "medium",
        )
    assert commands == []
    assert f'mcpmon_proxy_policy_decisions_total{{result="refuse"}} {INLINE_AGENTS}.0' in exposition

    buckets = {
        float(line.split('le="')[1].split('"')[0]): float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("mcpmon_proxy_policy_seconds_bucket") and "+Inf" not in line
    }
    count = float(next(
        line.rsplit(" ", 1)[1]
        for line in exposition.splitlines()
        if line.startswith("mcpmon_proxy_policy_seconds_count")
    ))  # fmt: skip
    under_1ms = max((v for le, v in buckets.items() if le <= 0.001), default=0.0)
    print(
        f"\nproxy e2e --policy inline: {INLINE_AGENTS} agents, violating call refused inline "
        f"(0 calls late); refusal round trip ms: "
        f"{[round(r['refused_ms'], 1) for r in results]}; decisions {count:.0f}, "
        f"{under_1ms:.0f} of them <= 1 ms"
    )
    assert worker.alive
