"""τ-bench historical trajectories as benign ``mcp.events`` (false-positive material).

Source: https://github.com/sierra-research/tau-bench (MIT, Copyright (c) 2024
Sierra), ``historical_trajectories/<model>-<domain>.json``: a customer-service
agent (airline, retail) serving simulated customers, each trajectory one task
trial with the real tool calls (OpenAI ``tool_calls``: name, JSON arguments) and
the tool results. Nothing here is an attack: the corpus measures how often the
monitor flags ordinary multi-step work with real, varied arguments.

Mapping:

- agent = (model, domain): ``spiffe://tau-bench.corpus/agents/<domain>/<model>``,
  server = the domain.
- session = one trajectory (task, trial); its calls in order, ``args`` the parsed
  arguments, ``outcome`` ``error`` when the tool answered ``Error: ...``,
  ``result_digests`` = :func:`monitor.core.values.value_digests` of the result
  (parsed as JSON when it is JSON), so provenance can be measured on real reads.
- case = (domain, task id): every trial of a task lands in the same split. One
  task in :data:`WARMUP_SHARE` (by a hash, independent of the split) is warm-up
  history for its agent, all trials; the rest are scored benign sessions.
- charter per agent: every tool of the domain (``tau_bench/envs/<domain>/tools/``,
  or the tools the trajectories called when that directory is absent), classes
  ``read`` for lookups and ``write`` for changes; autonomous, observe mode.

The snapshot read here holds ``gpt-4o-airline.json`` only (the other three files
are absent); the converter takes every ``historical_trajectories/*.json`` it finds.

Regenerate the fixture: ``python -m monitor.corpora tau --source SOURCE_DIR``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor.core.values import value_digests
from monitor.corpora.base import Corpus, SessionLabel, granted_charter, split_of, tool_results
from monitor.corpora.source import SourceTree
from monitor.corpora.timeline import Call, Session, lay_out, order_key
from monitor.identity import canonical_id

NAME = "tau"
LICENCE = (
    "MIT, Copyright (c) 2024 Sierra "
    "(tau-bench historical trajectories, https://github.com/sierra-research/tau-bench)"
)
#: Written as NOTICE beside the fixture (the MIT licence text is in LICENSE there).
NOTICE = """\
The fixture here is derived from the tau-bench historical trajectories in
https://github.com/sierra-research/tau-bench (commit 59a200c6d575d595120f1cb70fea53cef0632f6b),
historical_trajectories/gpt-4o-airline.json (the other trajectory files are not
in the snapshot read), converted to mcp.events by monitor/corpora/tau.py (tool
names, arguments, outcomes, digests of the values each result held; no result
text).

MIT License, Copyright (c) 2024 Sierra; the licence text is in LICENSE beside
this file.

Regenerate: python -m monitor.corpora tau --source <clone or bare snapshot of tau-bench>
"""

#: Share of tasks whose trajectories are warm-up history (not scored).
WARMUP_SHARE = 0.2

_FILE = re.compile(r"^historical_trajectories/(?P<model>.+)-(?P<domain>[a-z]+)\.json$")
_TOOL = re.compile(r"^tau_bench/envs/(?P<domain>[a-z]+)/tools/(?P<tool>[a-z_0-9]+)\.py$")
_READ = ("get_", "search_", "list_", "find_", "calculate", "think")
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def agent_id(domain: str, model: str) -> str:
    return canonical_id(f"spiffe://tau-bench.corpus/agents/{domain}/{_SLUG.sub('-', model)}")


def tool_classes(tool: str) -> list[str]:
    return ["read"] if tool.startswith(_READ) else ["write"]


def _result(content: Any) -> Any:
    if isinstance(content, str):
        try:
            return json.loads(content)
        except ValueError:
            return content
    return content


def trajectory_calls(traj: Sequence[Any], server: str) -> list[Call]:
    """The tool calls of one trajectory in order, with outcome and result digests."""
    results = tool_results(traj)
    calls: list[Call] = []
    for m in traj:
        if not isinstance(m, dict) or m.get("role") != "assistant":
            continue
        for tc in m.get("tool_calls") or []:
            fn = tc.get("function") if isinstance(tc, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                continue
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                args = {"arguments": str(fn.get("arguments"))[:1024]}
            if not isinstance(args, dict):
                args = {"arguments": args}
            content = results.get(tc.get("id"))
            outcome = "unknown"
            if content is not None:
                outcome = "error" if str(content).startswith("Error") else "ok"
            calls.append(
                Call(
                    server=server,
                    tool=fn["name"],
                    args=args,
                    outcome=outcome,
                    result_digests=value_digests(_result(content)) if content is not None else [],
                )
            )
    return calls


def is_warmup(case: str) -> bool:
    return int.from_bytes(order_key(f"warmup|{case}"), "big") / 2**64 < WARMUP_SHARE


def build(files: Sequence[tuple[str, str, list[Any]]], toolkits: dict[str, set[str]]) -> Corpus:
    """The corpus for ``[(model, domain, trajectories)]`` and each domain's tool names."""
    agents: list[tuple[str, list[Session]]] = []
    charters: list[dict[str, Any]] = []
    for model, domain, trajs in sorted(files, key=lambda f: (f[1], f[0])):
        aid = agent_id(domain, model)
        sessions: list[Session] = []
        tools = set(toolkits.get(domain, set()))
        warm_calls = 0
        ordered = sorted(
            (t for t in trajs if isinstance(t, dict)),
            key=lambda t: (int(t.get("task_id", 0)), int(t.get("trial", 0))),
        )
        for t in ordered:
            task, trial = int(t.get("task_id", 0)), int(t.get("trial", 0))
            case = f"tau|{domain}|{task}"
            calls = trajectory_calls(t.get("traj") or [], domain)
            tools.update(c.tool for c in calls)
            warm = is_warmup(case)
            if warm:
                warm_calls += len(calls)
            sid = canonical_id(
                f"tau/{_SLUG.sub('-', model)}/{domain}/task-{task:04d}/trial-{trial}", "session_id"
            )
            sessions.append(
                Session(
                    SessionLabel(
                        agent_id=aid,
                        session_id=sid,
                        kind="warmup" if warm else "benign",
                        split=split_of(case),
                        case=case,
                        source=f"historical_trajectories/{model}-{domain}.json#task={task},trial={trial}",
                    ),
                    calls,
                )
            )
        agents.append((aid, sessions))
        granted = [
            {"server": domain, "tool": name, "classes": tool_classes(name)}
            for name in sorted(tools)
        ]
        mission = f"tau-bench {domain} customer-service agent ({model})"
        charters.append(granted_charter(aid, mission, granted, warm_calls))
    events, labels = lay_out(agents)
    return Corpus(name=NAME, licence=LICENCE, events=events, charters=charters, sessions=labels)


def read_source(
    source: Path,
) -> tuple[list[tuple[str, str, list[Any]]], dict[str, set[str]], list[str]]:
    """Trajectory files, each domain's tool names, and the paths the snapshot lacks."""
    tree = SourceTree(source)
    files: list[tuple[str, str, list[Any]]] = []
    toolkits: dict[str, set[str]] = {}
    for path in tree.paths("tau_bench/envs/"):
        m = _TOOL.match(path)
        if m and m["tool"] != "__init__":
            toolkits.setdefault(m["domain"], set()).add(m["tool"])
    for path in tree.paths("historical_trajectories/"):
        m = _FILE.match(path)
        if not m:
            continue
        data = tree.read(path)
        if data is None:
            continue
        trajs = json.loads(data)
        if not isinstance(trajs, list):
            raise ValueError(f"{path}: expected a JSON list of trajectories")
        files.append((m["model"], m["domain"], trajs))
    return files, toolkits, tree.missing


def convert(source: Path) -> Corpus:
    """Convert a tau-bench source tree (clone or bare git snapshot) to a corpus."""
    files, toolkits, _ = read_source(source)
    return build(files, toolkits)
