"""Helpers for the tap tests: lines with positions, a fixed clock, formats over byte lines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from monitor.tap.formats import Format, FormatContext, make_format
from monitor.tap.lines import Dead, Line, Mapped, Output, Skipped
from monitor.tap.mapping import parse_mapping

ROOT = Path(__file__).resolve().parents[2]
#: copy of gateway-logs/jsonrpc/sample.jsonl (the shared format notes, outside the repo)
JSONRPC_SAMPLE = Path(__file__).parent / "data" / "jsonrpc-sample.jsonl"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data"
#: preset -> copy of gateway-logs/<folder>/sample.jsonl (see data/README.md)
SAMPLES: dict[str, Path] = {
    "jsonrpc": JSONRPC_SAMPLE,
    **{
        name: DATA / name / "sample.jsonl"
        for name in ("agentgateway", "toolhive", "teleport", "otel", "mcpx", "docker-audit")
    },
}


def sample_lines(name: str) -> list[Line]:
    return lines_of(SAMPLES[name].read_bytes().splitlines())


def preset(name: str, mapping: str | None = None, *, source: str = "test") -> Format:
    """A format built as ``mcpmon tap --format NAME [--mapping ...]`` builds it, fixed clock."""
    return make_format(
        name,
        FormatContext(
            source=source,
            mapping=parse_mapping(mapping) if mapping is not None else None,
            clock=fixed_clock,
        ),
    )


def map_sample(name: str, mapping: str | None = None) -> list[Output]:
    return feed(preset(name, mapping), sample_lines(name))


def fixed_clock() -> datetime:
    return NOW


def lines_of(raws: Sequence[bytes], *, seen: Sequence[float] | None = None) -> list[Line]:
    """Lines with real offsets, as a file of ``raws`` would give them."""
    out, pos = [], 0
    for i, raw in enumerate(raws):
        end = pos + len(raw) + 1
        out.append(Line(raw, i + 1, pos, end, seen[i] if seen else float(i)))
        pos = end
    return out


def jsonrpc(
    mapping: str | None = "defaults: {agent_id: agent-1, server: fleet}",
    *,
    source: str = "test",
    window_requests: int = 100,
    window_seconds: float = 60.0,
) -> Format:
    return make_format(
        "jsonrpc",
        FormatContext(
            source=source,
            mapping=parse_mapping(mapping) if mapping is not None else None,
            clock=fixed_clock,
            window_requests=window_requests,
            window_seconds=window_seconds,
        ),
    )


def feed(fmt: Format, lines: Iterable[Line], *, eof: bool = True) -> list[Output]:
    out: list[Output] = []
    for line in lines:
        out += fmt.on_line(line)
    if eof:
        out += fmt.on_eof()
    return out


def events(outputs: Iterable[Output]) -> list[dict[str, Any]]:
    return [orjson.loads(o.value) for o in outputs if isinstance(o, Mapped)]


def dead(outputs: Iterable[Output]) -> list[Dead]:
    return [o for o in outputs if isinstance(o, Dead)]


def skipped(outputs: Iterable[Output]) -> list[Skipped]:
    return [o for o in outputs if isinstance(o, Skipped)]


def req(rid: Any, tool: str = "list_hosts", **params: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": rid,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {"n": 1}, **params},
    }


def ok(rid: Any, **result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "result": {"content": [], **result}}


def err(rid: Any, code: int = -32603) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": "boom"}}


def dumps(*docs: Any) -> list[bytes]:
    return [orjson.dumps(d) for d in docs]


# ---------------------------------------------------------------- wrapped JSON-RPC traffic
#: The mapping for :func:`wrapped_traffic`: identity and session from headers, time logged.
WRAPPED_MAPPING = """\
body: body
fields:
  agent_id: headers.x-agent-id
  session_id: headers.mcp-session-id
  ts: time
defaults: {server: mcp-gw, tenant: corp}
"""


class Traffic:
    """Lines of a gateway log and what each must become."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.requests: dict[int, tuple[str, str]] = {}  # request line -> (agent, outcome)
        self.dead: set[int] = set()
        self.skipped: set[int] = set()

    def add(self, doc: object, kind: str = "") -> int:
        self.lines.append(doc if isinstance(doc, bytes) else orjson.dumps(doc))
        n = len(self.lines)
        if kind == "dead":
            self.dead.add(n)
        elif kind == "skipped":
            self.skipped.add(n)
        return n


def wrapped_traffic(pairs: int, *, agents: int = 5, lag: int = 4) -> Traffic:
    """Interleaved calls of several agents, one session each, JSON-RPC ids counted per
    session (so ids repeat across sessions), responses ``lag`` calls late, with bad and
    non-tool lines mixed in; the last request is never answered (outcome unknown)."""
    t = Traffic()
    waiting: list[tuple[int, str, str, dict[str, Any]]] = []
    counters = [0] * agents

    def wrap(agent: str, session: str, body: dict[str, Any], i: int) -> dict[str, Any]:
        ts = f"2026-03-02T09:{(i // 60) % 60:02d}:{i % 60:02d}Z"
        return {
            "time": ts,
            "headers": {"x-agent-id": agent, "mcp-session-id": session},
            "body": body,
        }

    for i in range(pairs):
        a = i % agents
        agent, session = f"agent:worker-{a}", f"sess-{a}"
        counters[a] += 1
        rid = counters[a]
        n = len(t.lines) + 1
        body = req(rid, "read_file", arguments={"line": n})
        if i % 151 == 150:  # no identity: dead, and so is its response
            doc = wrap(agent, session, body, i)
            del doc["headers"]["x-agent-id"]
            t.add(doc, "dead")
            waiting.append((rid, agent, session, {"dead": True}))
        else:
            t.add(wrap(agent, session, body, i))
            outcome = "error" if i % 7 == 0 or i % 11 == 0 else "ok"
            t.requests[n] = (agent, outcome if i < pairs - 1 else "unknown")
            if i < pairs - 1:
                waiting.append((rid, agent, session, {"outcome": outcome, "i": i}))
        if i % 97 == 96:
            t.add(f"garbage line {i}".encode(), "dead")
        if i % 131 == 130:
            t.add(wrap(agent, session, ok(10_000_000 + i), i), "dead")  # orphan response
        if i % 113 == 112:
            t.add(
                wrap(
                    agent, session, {"jsonrpc": "2.0", "id": f"init-{i}", "method": "initialize"}, i
                ),
                "skipped",
            )
            t.add(wrap(agent, session, ok(f"init-{i}"), i), "skipped")
        while len(waiting) > lag or (i == pairs - 1 and waiting):
            rid_, agent_, session_, how = waiting.pop(0)
            if how.get("dead"):
                t.add(wrap(agent_, session_, ok(rid_), i), "dead")
            elif how["outcome"] == "ok":
                t.add(wrap(agent_, session_, ok(rid_), i))
            elif how["i"] % 7 == 0:
                t.add(wrap(agent_, session_, ok(rid_, isError=True), i))
            else:
                t.add(wrap(agent_, session_, err(rid_), i))
    return t
