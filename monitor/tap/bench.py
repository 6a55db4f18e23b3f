"""``mcpmon bench tap``: lines/s the tap maps to a file, per format, against orjson alone.

For each format the same synthetic calls are written as that format's lines
(``ours``: one event a line; ``jsonrpc``: request and response bodies, with
responses arriving a few calls late so the pairing window is exercised). Each
round times, back to back on the same bytes:

- the baseline: ``orjson.loads`` over every line (the unavoidable decode);
- the tap: the real pipeline — file source, format, file sink — end to end.

The best round of each is reported with their ratio (this machine is shared
and noisy; the ratio is what to track). New formats add a generator to
:data:`GENERATORS`.
"""

from __future__ import annotations

import asyncio
import gc
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from monitor.tap.formats import FormatContext, make_format
from monitor.tap.mapping import FieldMapping, load_mapping, parse_mapping
from monitor.tap.reader import FileSource
from monitor.tap.run import Tap, TapOptions
from monitor.tap.sinks import FileSink

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


#: format -> (lines for n calls, calls per line, default mapping text)
GENERATORS: dict[str, tuple[Callable[[Sequence[dict[str, Any]]], list[bytes]], int, str | None]] = {
    "ours": (ours_lines, 1, None),
    "jsonrpc": (jsonrpc_lines, 2, JSONRPC_MAPPING),
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


def _best(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(rounds):
        gc.collect()
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def measure_format(
    fmt: str, lines: list[bytes], mapping: FieldMapping | None, rounds: int, workdir: Path
) -> TapBenchResult:
    src = workdir / f"{fmt}.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = workdir / f"{fmt}.out.jsonl"

    def decode_only() -> int:
        loads = orjson.loads
        for raw in lines:
            loads(raw)
        return len(lines)

    def tap() -> Any:
        fmt_ = make_format(fmt, FormatContext(source="bench", mapping=mapping))
        runner = Tap(
            FileSource(str(src)),
            fmt_,
            FileSink(out),
            TapOptions(source="bench", format=fmt, batch_records=2000),
        )
        return asyncio.run(runner.run())

    base_t = tap_t = float("inf")
    summary = None
    for _ in range(rounds):  # interleaved: both see the same machine state
        t, _n = _best(decode_only, 1)
        base_t = min(base_t, t)
        t, summary = _best(tap, 1)
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
        f"{'format':<10}{'lines':>10}{'events':>10}{'dead':>7}{'tap lines/s':>14}"
        f"{'orjson lines/s':>17}{'ratio':>8}"
    )
    for r in results:
        print(
            f"{r.format:<10}{r.lines:>10,}{r.events:>10,}{r.deadletters:>7,}"
            f"{r.tap_lines_per_s:>14,.0f}{r.baseline_lines_per_s:>17,.0f}{r.ratio:>8.3f}"
        )
    return 0
