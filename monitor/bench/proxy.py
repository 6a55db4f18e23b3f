"""``mcpmon bench proxy``: what a charter decision costs beside the forward it guards.

In one process, no network: an MCP client calls through the proxy's
:class:`~monitor.proxy.gateway.Gateway` to an in-memory MCP server (SDK
in-process transport), events encoded and dropped. Two runs over the same
calls: ``--policy monitor`` (no decision: the baseline) and ``--policy inline``
(one in ten calls violates the charter and is refused). Printed: the decision
alone (p50 / p99 / max, from the policy's own timer) beside the forward time of
a call (client → proxy → server → client) in each mode, best of N rounds.
Target: decision p99 ≤ 1 ms in process.
"""

from __future__ import annotations

import asyncio
import gc
import time

from monitor.charter import Charter
from monitor.events import ToolCall, encode_event
from monitor.proxy.metrics import ProxyMetrics
from monitor.proxy.policy import InlinePolicy, PolicyMode, PolicyVerdict

TARGET_P99_SECONDS = 0.001
PROXY_DEFAULT_CALLS = 2000
WARMUP = 100  # calls before measuring (imports, caches, the SDK's first session work)
AGENT = "spiffe://corp/agents/bench-1"
CHARTER = {
    "agent": "spiffe://corp/agents/*",
    "kind": "autonomous",
    "mode": "enforce",
    "tools": [
        {"server": "bench", "tool": "read", "classes": ["read"]},
        {"server": "bench", "tool": "read_secret", "classes": ["read_secret"]},
        {"server": "bench", "tool": "post", "classes": ["egress"]},
    ],
    "tenants": ["corp"],
    "resources": ["file:///srv/**"],
    "limits": {"max_calls_per_minute": 1_000_000, "hours": "00:00-23:59"},
    "forbidden_chains": [
        {"name": "exfil", "sequence": ["read_secret", "egress"], "within_calls": 3}
    ],
}


class _NullEmitter:
    """Encodes each event as the real emitters do, then drops it."""

    async def start(self) -> None:
        return None

    def emit(self, event: ToolCall) -> None:
        encode_event(event)

    async def close(self, timeout: float = 10.0) -> None:
        return None


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))] if xs else float("nan")


async def _run(mode: PolicyMode, calls: int) -> tuple[list[float], list[float], int]:
    """Forward times, decision times and refusals of ``calls`` calls through the gateway."""
    from mcp import Client
    from mcp.server.mcpserver import MCPServer
    from mcp.shared.exceptions import MCPError

    from monitor.proxy.gateway import Gateway
    from monitor.proxy.identity import IdentityResolver

    server = MCPServer("bench")

    @server.tool()
    def read(path: str) -> str:
        return f"contents of {path}"

    @server.tool()
    def delete(path: str) -> str:
        return f"deleted {path}"

    metrics = ProxyMetrics()
    decisions: list[float] = []
    policy = None
    if mode != "monitor":
        policy = InlinePolicy([Charter.model_validate(CHARTER)], mode, metrics=metrics)
        decide = policy.decide

        def timed(call: ToolCall) -> PolicyVerdict:
            v = decide(call)
            decisions.append(v.seconds)
            return v

        policy.decide = timed  # type: ignore[method-assign]
    forwards: list[float] = []
    refused = 0
    async with Client(server) as upstream:
        identity = IdentityResolver.build(
            None,
            {"agent_id": AGENT, "credential_id": "cred-bench", "tenant": "corp"},
            upstream_name="bench",
            session_id="sess-bench",
        )
        gateway = Gateway(upstream, identity, _NullEmitter(), metrics, policy=policy)
        async with Client(gateway.server()) as client:
            for i in range(-WARMUP, calls):
                tool = "delete" if i % 10 == 9 else "read"  # one in ten is not granted
                started = time.perf_counter()
                try:
                    await client.call_tool(tool, {"path": f"/srv/app/{i % 50}.py"})
                except MCPError:
                    refused += 1
                if i >= 0:
                    forwards.append(time.perf_counter() - started)
                else:
                    decisions.clear()
                    refused = 0
    return forwards, decisions, refused


def bench_proxy(calls: int = PROXY_DEFAULT_CALLS, rounds: int = 3) -> int:
    import logging

    import structlog

    # the refusals would log one line each: the figure is the decision, not the logging
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    best: dict[str, tuple[float, list[float], list[float], int]] = {}
    for r in range(1, rounds + 1):
        modes: tuple[PolicyMode, ...] = ("monitor", "inline")
        for mode in modes:
            gc.collect()
            fw, dec, refused = asyncio.run(_run(mode, calls))
            p99 = _pct(dec if dec else fw, 0.99)  # inline: the least disturbed decisions
            if mode not in best or p99 < best[mode][0]:
                best[mode] = (p99, fw, dec, refused)
            extra = f"  decision p99 {_pct(dec, 0.99) * 1e6:7.1f} µs" if dec else ""
            print(
                f"  round {r}: {mode:<8} forward p50 {_pct(fw, 0.5) * 1e3:6.3f} ms  "
                f"p99 {_pct(fw, 0.99) * 1e3:6.3f} ms{extra}",
                flush=True,
            )
    _, fw_m, _, _ = best["monitor"]
    _, fw_i, dec, refused = best["inline"]
    p99 = _pct(dec, 0.99)
    print(
        f"\nbench proxy: {calls:,} tools/call in process (in-memory MCP server), best of "
        f"{rounds} rounds\n"
        f"  decision (inline, the engine's judgement alone): p50 {_pct(dec, 0.5) * 1e6:7.1f} µs"
        f"  p99 {p99 * 1e6:7.1f} µs  max {max(dec) * 1e6:7.1f} µs\n"
        f"  forward, --policy monitor (no decision):        p50 {_pct(fw_m, 0.5) * 1e3:7.3f} ms"
        f"  p99 {_pct(fw_m, 0.99) * 1e3:7.3f} ms\n"
        f"  forward, --policy inline:                       p50 {_pct(fw_i, 0.5) * 1e3:7.3f} ms"
        f"  p99 {_pct(fw_i, 0.99) * 1e3:7.3f} ms  ({refused} of {calls} refused)\n"
        f"  target: decision p99 <= {TARGET_P99_SECONDS * 1e3:g} ms in process: "
        + ("met" if p99 <= TARGET_P99_SECONDS else "NOT met")
    )
    return 0 if p99 <= TARGET_P99_SECONDS else 1
