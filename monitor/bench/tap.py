"""``mcpmon bench tap``: lines/s the tap maps to a file, per format, against orjson alone.

For each format the same synthetic calls are written as that format's lines
(``ours``: one event a line; ``jsonrpc``: request and response bodies, with
responses arriving a few calls late so the pairing window is exercised; each
gateway preset: its own line shape, half the calls delegated; ``auto``: a
mixed log, each call in the next format, recognised per line). Each
round times, back to back on the same bytes:

- the baseline: ``orjson.loads`` over every line (the unavoidable decode);
- the tap: the real pipeline — file source, format, file sink — end to end.

The best round of each is reported with their ratio (this machine is shared
and noisy; the ratio is what to track). New formats add a generator to
:data:`GENERATORS`.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from monitor.bench.timing import decode_only, timed
from monitor.tap.formats import FormatContext, make_format
from monitor.tap.mapping import FieldMapping, load_mapping, parse_mapping
from monitor.tap.reader import FileSource
from monitor.tap.run import Tap, TapOptions
from monitor.tap.writers import FileWriter

AGENTS = [f"spiffe://corp/agents/worker-{i}" for i in range(50)]
TOOLS = [
    ("fleet", "list_hosts"),
    ("fleet", "apply_patch"),
    ("vault", "read_secret"),
    ("github", "search_code"),
    ("fs", "read_file"),
    ("web", "http_post"),
]
JSONRPC_MAPPING = """\
fields:
  agent_id: params._meta.com.example/agent_id
  task_id: params._meta.com.example/task_id
  ts: params._meta.com.example/ts
defaults: {server: mcp-gw, tenant: corp}
"""


def synthetic_calls(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` plausible tool calls, deterministic per seed."""
    rng = random.Random(seed)
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        server, tool = rng.choice(TOOLS)
        out.append(
            {
                "i": i,
                "agent": rng.choice(AGENTS),
                "task": f"TASK-{rng.randrange(1000)}",
                "server": server,
                "tool": tool,
                "args": {"path": f"/srv/app/file-{rng.randrange(10_000)}.py", "n": i},
                "ok": rng.random() > 0.05,
                "ts": (t0 + timedelta(milliseconds=50 * i)).isoformat(),
            }
        )
    return out


def ours_lines(calls: Sequence[dict[str, Any]]) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "type": "tool_call",
                "event_id": f"bench-{c['i']}",
                "ts": c["ts"],
                "agent_id": c["agent"],
                "task_id": c["task"],
                "server": c["server"],
                "tool": c["tool"],
                "args": c["args"],
                "outcome": "ok" if c["ok"] else "error",
                "bytes_out": 120,
            }
        )
        for c in calls
    ]


def jsonrpc_lines(calls: Sequence[dict[str, Any]], lag: int = 3) -> list[bytes]:
    """Request bodies, each response ``lag`` calls later (as concurrent calls interleave)."""
    out: list[bytes] = []
    pending: list[bytes] = []
    for c in calls:
        out.append(
            orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": c["i"],
                    "method": "tools/call",
                    "params": {
                        "name": c["tool"],
                        "arguments": c["args"],
                        "_meta": {
                            "com.example/agent_id": c["agent"],
                            "com.example/task_id": c["task"],
                            "com.example/ts": c["ts"],
                            "traceparent": f"00-{c['i']:032x}-{c['i']:016x}-01",
                        },
                    },
                }
            )
        )
        result: dict[str, Any] = {"content": [{"type": "text", "text": "done"}]}
        if not c["ok"]:
            result["isError"] = True
        pending.append(orjson.dumps({"jsonrpc": "2.0", "id": c["i"], "result": result}))
        if len(pending) > lag:
            out.append(pending.pop(0))
    return out + pending


def _ids(c: dict[str, Any]) -> tuple[str, str]:
    """Trace and span id of a synthetic call (hex, as W3C writes them)."""
    return f"{c['i'] + 1:032x}", f"{c['i'] + 1:016x}"


def _human(c: dict[str, Any]) -> str | None:
    """Every other call is made by an agent for a human (delegated)."""
    return f"user-{c['i'] % 7}@corp.example" if c["i"] % 2 else None


def agentgateway_lines(calls: Sequence[dict[str, Any]]) -> list[bytes]:
    out = []
    for c in calls:
        trace, span = _ids(c)
        human = _human(c)
        doc: dict[str, Any] = {
            "level": "info",
            "time": c["ts"],
            "scope": "request",
            "gateway": "default/agentgateway",
            "listener": "mcp",
            "route": "default/mcp",
            "endpoint": "10.0.4.21:8080",
            "src.addr": "10.0.9.14:53122",
            "http.method": "POST",
            "http.host": "mcp.corp.example",
            "http.path": "/mcp",
            "http.version": "HTTP/1.1",
            "http.status": 200,
            "trace.id": trace,
            "span.id": span,
            "jwt.sub": human or c["agent"],
            "protocol": "mcp",
            "mcp.method.name": "tools/call",
            "mcp.target": c["server"],
            "mcp.resource.type": "tool",
            "gen_ai.tool.name": c["tool"],
            "mcp.session.id": f"sess-{c['agent'][-2:]}",
            "duration": "12ms",
            "agent.id": c["agent"],
            "task.id": c["task"],
            "credential.id": f"jti-{c['i'] % 97}",
            "tenant": "corp",
            "mcp.args": c["args"],
            "tool.is_error": not c["ok"],
        }
        if human:
            doc["sponsor"] = human
        out.append(orjson.dumps(doc))
    return out


def toolhive_lines(calls: Sequence[dict[str, Any]]) -> list[bytes]:
    out = []
    for c in calls:
        human = _human(c)
        doc: dict[str, Any] = {
            "time": c["ts"],
            "level": "AUDIT",
            "msg": "audit_event",
            "audit_id": f"00000000-0000-4000-8000-{c['i']:012d}",
            "type": "mcp_tool_call",
            "logged_at": c["ts"],
            "outcome": "success" if c["ok"] else "application_error",
            "component": f"{c['server']}-mcp",
            "source": {"type": "network", "value": "10.0.9.14", "extra": {"user_agent": "x/1"}},
            "subjects": {"user_id": human or c["agent"]},
            "target": {
                "endpoint": "/mcp",
                "method": "tools/call",
                "name": c["tool"],
                "type": "tool",
            },
            "metadata": {"extra": {"duration_ms": 12, "transport": "http"}},
            "data": {
                "request": {
                    "id": c["i"],
                    "jsonrpc": "2.0",
                    "method": "tools/call",
                    "params": {"arguments": c["args"], "name": c["tool"]},
                }
            },
        }
        if human:
            doc["delegation"] = {"chain": [{"iss": "https://sts", "sub": c["agent"]}]}
        out.append(orjson.dumps(doc))
    return out


def teleport_lines(calls: Sequence[dict[str, Any]]) -> list[bytes]:
    out = []
    for c in calls:
        human = _human(c)
        doc = {
            "ei": c["i"],
            "event": "mcp.session.request",
            "uid": f"00000000-0000-4000-9000-{c['i']:012d}",
            "code": "TMCP003I" if c["ok"] else "TMCP003E",
            "time": c["ts"],
            "cluster_name": "corp.teleport.example",
            "user": human or f"bot-{c['agent'][-9:]}",
            "user_kind": 1 if human else 2,
            "sid": f"sess-{c['agent'][-2:]}",
            "app_name": f"{c['server']}-mcp",
            "success": c["ok"],
            "message": {
                "jsonrpc": "2.0",
                "id": str(c["i"]),
                "method": "tools/call",
                "params": {"arguments": c["args"], "name": c["tool"]},
            },
        }
        if not c["ok"]:
            doc["error"] = "access denied"
        out.append(orjson.dumps(doc))
    return out


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def otel_lines(calls: Sequence[dict[str, Any]]) -> list[bytes]:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    out = []
    for c in calls:
        trace, span = _ids(c)
        start = int((datetime.fromisoformat(c["ts"]) - t0).total_seconds() * 1e9)
        start += int(t0.timestamp()) * 1_000_000_000
        attrs = [
            _attr("mcp.method.name", "tools/call"),
            _attr("gen_ai.tool.name", c["tool"]),
            _attr("gen_ai.operation.name", "execute_tool"),
            _attr("jsonrpc.request.id", str(c["i"])),
            _attr("mcp.session.id", f"sess-{c['agent'][-2:]}"),
            _attr("gen_ai.tool.call.arguments", orjson.dumps(c["args"]).decode()),
            _attr("task.id", c["task"]),
            _attr("server.address", f"{c['server']}.corp.example"),
            _attr("server.port", 443),
        ]
        resource = [_attr("service.name", "agent-runtime"), _attr("gen_ai.agent.id", c["agent"])]
        if (human := _human(c)) is not None:
            resource.append(_attr("enduser.id", human))
        if not c["ok"]:
            attrs.append(_attr("error.type", "tool_error"))
        doc = {
            "resourceSpans": [
                {
                    "resource": {"attributes": resource},
                    "scopeSpans": [
                        {
                            "scope": {"name": "mcp-client-instrumentation", "version": "0.3.0"},
                            "spans": [
                                {
                                    "traceId": trace,
                                    "spanId": span,
                                    "name": f"tools/call {c['tool']}",
                                    "kind": 3,
                                    "startTimeUnixNano": str(start),
                                    "endTimeUnixNano": str(start + 12_000_000),
                                    "attributes": attrs,
                                    "status": {} if c["ok"] else {"code": 2},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
        out.append(orjson.dumps(doc))
    return out


def mcpx_lines(calls: Sequence[dict[str, Any]]) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "timestamp": c["ts"],
                "createdAt": c["ts"],
                "eventType": "tool_used",
                "payload": {
                    "toolName": c["tool"],
                    "targetServerName": c["server"],
                    "args": c["args"],
                    "consumerTag": c["agent"],
                },
            }
        )
        for c in calls
    ]


def docker_audit_lines(calls: Sequence[dict[str, Any]]) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "trigger": "invoke",
                "target_type": "tool",
                "server_name": c["server"],
                "tool_name": c["tool"],
                "catalog_name": "docker-mcp",
                "working_set": "team-dev",
                "server_type": "image",
                "server_source": f"mcp/{c['server']}",
                "transport": "stdio",
                "result": "allowed" if c["ok"] else "denied",
                "outcome_reason": "policy_rule",
                "client_name": c["agent"],
                "client_version": "1.0.0",
                "timestamp": c["ts"][:19] + "Z",
            }
        )
        for c in calls
    ]


def auto_lines(calls: Sequence[dict[str, Any]]) -> list[bytes]:
    """A mixed log: each call in the next preset's format (JSON-RPC aside: it needs a mapping)."""
    gens = (
        ours_lines,
        agentgateway_lines,
        toolhive_lines,
        teleport_lines,
        otel_lines,
        mcpx_lines,
        docker_audit_lines,
    )
    return [gens[c["i"] % len(gens)]([c])[0] for c in calls]


#: format -> (lines for n calls, calls per line, default mapping text)
GENERATORS: dict[str, tuple[Callable[[Sequence[dict[str, Any]]], list[bytes]], int, str | None]] = {
    "ours": (ours_lines, 1, None),
    "jsonrpc": (jsonrpc_lines, 2, JSONRPC_MAPPING),
    "agentgateway": (agentgateway_lines, 1, None),
    "toolhive": (toolhive_lines, 1, None),
    "teleport": (teleport_lines, 1, None),
    "otel": (otel_lines, 1, None),
    "mcpx": (mcpx_lines, 1, None),
    "docker-audit": (docker_audit_lines, 1, None),
    "auto": (auto_lines, 1, None),
}


@dataclass(frozen=True, slots=True)
class TapBenchResult:
    format: str
    lines: int
    events: int
    deadletters: int
    baseline_lines_per_s: float
    tap_lines_per_s: float

    @property
    def ratio(self) -> float:
        return self.tap_lines_per_s / self.baseline_lines_per_s if self.baseline_lines_per_s else 0


def measure_format(
    fmt: str, lines: list[bytes], mapping: FieldMapping | None, rounds: int, workdir: Path
) -> TapBenchResult:
    src = workdir / f"{fmt}.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = workdir / f"{fmt}.out.jsonl"

    def tap() -> Any:
        fmt_ = make_format(fmt, FormatContext(source="bench", mapping=mapping))
        runner = Tap(
            FileSource(str(src)),
            fmt_,
            FileWriter(out),
            TapOptions(source="bench", format=fmt, batch_records=2000),
        )
        return asyncio.run(runner.run())

    base_t = tap_t = float("inf")
    summary = None
    for _ in range(rounds):  # interleaved: both see the same machine state
        t, _n = timed(decode_only(lines))
        base_t = min(base_t, t)
        t, summary = timed(tap)
        tap_t = min(tap_t, t)
    return TapBenchResult(
        fmt,
        len(lines),
        summary.events if summary else 0,
        sum(summary.deadletters.values()) if summary else 0,
        len(lines) / base_t,
        len(lines) / tap_t,
    )


def measure_tap(
    n_lines: int = 200_000,
    seed: int = 7,
    rounds: int = 3,
    formats: Sequence[str] | None = None,
) -> list[TapBenchResult]:
    """Synthetic lines per format (about ``n_lines`` each), measured in one process."""
    results = []
    with tempfile.TemporaryDirectory(prefix="mcpmon-bench-tap-") as tmp:
        for fmt in formats or list(GENERATORS):
            gen, per_call, mapping_text = GENERATORS[fmt]
            lines = gen(synthetic_calls(max(1, n_lines // per_call), seed))
            mapping = (
                parse_mapping(mapping_text, f"<{fmt} bench mapping>") if mapping_text else None
            )
            results.append(measure_format(fmt, lines, mapping, rounds, Path(tmp)))
    return results


def bench_tap(
    n_lines: int = 200_000,
    seed: int = 7,
    rounds: int = 3,
    file: str | None = None,
    fmt: str | None = None,
    mapping: str | None = None,
) -> int:
    """Print lines/s per format vs an orjson-decode-only loop; ``file`` benches one real log."""
    if file:
        name = fmt or "ours"
        lines = [x for x in Path(file).read_bytes().splitlines() if x.strip()]
        m = load_mapping(mapping) if mapping else None  # a real log needs its own mapping
        with tempfile.TemporaryDirectory(prefix="mcpmon-bench-tap-") as tmp:
            results = [measure_format(name, lines, m, rounds, Path(tmp))]
        print(f"{len(lines):,} lines from {file}, best of {rounds} rounds")
    else:
        print(
            f"synthetic lines (seed {seed}), about {n_lines:,} per format, best of {rounds} rounds"
        )
        results = measure_tap(n_lines, seed, rounds, [fmt] if fmt else None)
    print(
        f"{'format':<14}{'lines':>10}{'events':>10}{'dead':>7}{'tap lines/s':>14}"
        f"{'orjson lines/s':>17}{'ratio':>8}"
    )
    for r in results:
        print(
            f"{r.format:<14}{r.lines:>10,}{r.events:>10,}{r.deadletters:>7,}"
            f"{r.tap_lines_per_s:>14,.0f}{r.baseline_lines_per_s:>17,.0f}{r.ratio:>8.3f}"
        )
    return 0
