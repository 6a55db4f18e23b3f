"""Agent Security Bench (ASB) run logs as ``mcp.events``.

Source: https://github.com/Zhang-Henry/AIOS_agent (MIT, Copyright (c) 2024 AGI
Research), ``logs/<setting>/<model>/<defence>/<method>-all_.csv``. Each CSV row is
one run of one of ten agent types (``example/medical_advisor_agent``, ...) on a
user task, with one attacker tool (``Attack Tool``) in play, the attack outcome
(``Attack Successful``) and, in the CSVs that have it, the whole conversation
(``messages``, a Python literal). A tool call is logged by the agent framework as::

    [Action]: I will call the <tool> with the params as <params>;[Observation]: ...

so calls carry tool names (params are ``None`` throughout the logs read so far).

Mapping:

- agent = (agent type, model): ``spiffe://asb.corpus/agents/<type>/<model>``;
  one server per agent type serves its normal tools and its attacker tools.
- session = one run (CSV row); its calls in logged order. A call to a tool the
  run's tool list did not offer is an ``error`` (an MCP server answers an unknown
  tool with an error).
- ``clean`` runs are benign: per agent, half of them (by a hash of the case) are
  warm-up history, the other half scored benign sessions. Runs from
  ``observation_prompt_injection``, ``direct_prompt_injection`` and
  ``memory_attack`` (memory poisoning) are attacks of that class;
  ``attack_events`` are the calls to the run's attacker tool; ``succeeded`` is the
  source's ``Attack Successful``.
- case (what the split hashes) = (agent type, attacker tool): the clean run and
  every attacked run with that attacker tool, for every model and method, land in
  the same part.
- charter per agent: its whole toolkit (every tool any run offered it, plus every
  attacker tool of its type), autonomous, observe mode.

By default one CSV per (setting, model) is converted, the first of the injection
*methods* in :data:`METHODS` (preference order) whose log has a conversation:
that keeps the committed fixture small and every model covered where the source
allows. ``all_methods=True`` converts every method's CSV. CSVs without a
``messages`` column, and the ``.log`` files of the mixed settings (``DPI_MP``
...), carry no call sequence and are skipped (listed in the report).

Regenerate the fixture: ``python -m monitor.corpora asb --source SOURCE_DIR`` (a clone
or a bare git snapshot of the repository).
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.corpora.base import Corpus, SessionLabel, granted_charter, split_of
from monitor.corpora.source import SourceTree
from monitor.corpora.timeline import Call, Session, lay_out, order_key
from monitor.identity import canonical_id

NAME = "asb"
LICENCE = (
    "MIT, Copyright (c) 2024 AGI Research "
    "(Agent Security Bench run logs, https://github.com/Zhang-Henry/AIOS_agent)"
)
#: Written as NOTICE beside the fixture (the MIT licence text is in LICENSE there).
NOTICE = """\
The fixture here is derived from the Agent Security Bench (ASB) run logs in
https://github.com/Zhang-Henry/AIOS_agent (commit b38a3d201c13ce8cf74ebc2aa61ce771f14ef3f4),
files logs/{clean,observation_prompt_injection,direct_prompt_injection,memory_attack}/
<model>/<defence>/<method>-all_.csv (per setting and model the first of
combined_attack, context_ignoring, escape_characters, fake_completion, naive
whose log holds the conversation), converted to mcp.events by
monitor/corpora/asb.py (tool names, call order, attack labels; no message text
except each agent's one-line role description in its charter's mission).

MIT License, Copyright (c) 2024 AGI Research; the licence text is in LICENSE
beside this file.

Regenerate: python -m monitor.corpora asb --source <clone or bare snapshot of AIOS_agent>
"""

#: Setting directory -> attack class (None: benign).
SETTINGS: dict[str, str | None] = {
    "clean": None,
    "observation_prompt_injection": "observation_prompt_injection",
    "direct_prompt_injection": "direct_prompt_injection",
    "memory_attack": "memory_attack",
}
#: Defence directory read per setting: runs without a defence where the source has
#: them with a conversation; the clean runs with a conversation exist only under
#: ``dynamic_prompt_rewriting`` (the user task rewritten, no injection).
DEFENCE = {
    "clean": "dynamic_prompt_rewriting",
    "observation_prompt_injection": "no_memory",
    "direct_prompt_injection": "no_memory",
    "memory_attack": "new_memory",
}
#: Injection methods in preference order (ASB's combined attack first, its strongest).
METHODS: tuple[str, ...] = (
    "combined_attack",
    "context_ignoring",
    "escape_characters",
    "fake_completion",
    "naive",
)

_PATH = re.compile(
    r"^logs/(?P<setting>[^/]+)/(?P<model>[^/]+)/(?P<defence>[^/]+)/(?P<method>[A-Za-z_]+)-all_\.csv$"
)
_CALL = re.compile(r"I will call the (?P<tool>\S+?) with the params as (?P<params>.*?);", re.S)
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
_TOOLS_AT = "from the tool list: "

csv.field_size_limit(1 << 30)


@dataclass(slots=True)
class Run:
    """One parsed CSV row."""

    setting: str
    model: str
    method: str
    row: int
    agent_type: str
    attack_tool: str
    attack_succeeded: bool
    offered: list[str]  # the tool list the run's prompt offered
    calls: list[tuple[str, dict[str, Any]]]
    mission: str


def _slug(text: str) -> str:
    return _SLUG.sub("-", text).strip("-") or "x"


def agent_id(agent_type: str, model: str) -> str:
    return canonical_id(f"spiffe://asb.corpus/agents/{_slug(agent_type)}/{_slug(model)}")


def _params(text: str) -> dict[str, Any]:
    text = text.strip()
    if text in ("", "None", "null", "{}"):
        return {}
    for parse in (json.loads, ast.literal_eval):
        try:
            val = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(val, dict):
            return {str(k): v for k, v in val.items()}
    return {"params": text[:1024]}


def _offered(system_text: str) -> list[str]:
    at = system_text.find(_TOOLS_AT)
    if at < 0:
        return []
    try:
        tools, _ = json.JSONDecoder().raw_decode(system_text, at + len(_TOOLS_AT))
    except ValueError:
        return []
    names = []
    for t in tools if isinstance(tools, list) else []:
        fn = t.get("function") if isinstance(t, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            names.append(fn["name"])
    return names


def parse_calls(messages: Sequence[Any]) -> list[tuple[str, dict[str, Any]]]:
    """The tool calls in an ASB conversation, in order: ``[(tool, args)]``."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") != "assistant":
            continue
        text = m.get("content")
        if not isinstance(text, str) or "[Action]" not in text:
            continue
        action = text.split("[Action]", 1)[1].split("[Observation]", 1)[0] + ";"
        for c in _CALL.finditer(action):
            calls.append((c.group("tool"), _params(c.group("params"))))
    return calls


def parse_csv(text: str, setting: str, model: str, method: str) -> tuple[list[Run], int]:
    """Runs in one CSV, and how many rows were unreadable (skipped)."""
    runs: list[Run] = []
    bad = 0
    for i, row in enumerate(csv.DictReader(io.StringIO(text))):
        try:
            messages = ast.literal_eval(row["messages"])
            if not isinstance(messages, list):
                raise ValueError("messages is not a list")
            systems = [
                m.get("content", "")
                for m in messages
                if isinstance(m, dict) and m.get("role") == "system"
            ]
            # the tool list is a system message, or (memory_attack runs) a user message
            texts = [m.get("content") for m in messages if isinstance(m, dict)]
            offered = next(
                (_offered(t) for t in texts if isinstance(t, str) and _TOOLS_AT in t), []
            )
            runs.append(
                Run(
                    setting=setting,
                    model=model,
                    method=method,
                    row=i,
                    agent_type=row["Agent Name"].rsplit("/", 1)[-1],
                    attack_tool=row["Attack Tool"],
                    attack_succeeded=row["Attack Successful"].strip() == "1",
                    offered=offered,
                    calls=parse_calls(messages),
                    mission=str(systems[0])[:4096] if systems else "",
                )
            )
        except (KeyError, ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            bad += 1
    return runs, bad


def read_runs(
    source: Path, methods: Sequence[str] = METHODS, *, all_methods: bool = False
) -> tuple[list[Run], dict[str, Any]]:
    """Runs from the source tree's conversation CSVs, and a report of what was skipped.

    Per (setting, model), the first of ``methods`` whose CSV has a conversation,
    or with ``all_methods`` every one of them.
    """
    tree = SourceTree(source)
    runs: list[Run] = []
    report: dict[str, Any] = {"files": [], "bad_rows": 0, "no_messages": []}
    candidates: dict[tuple[str, str], list[tuple[int, str, str]]] = defaultdict(list)
    for path in tree.paths("logs/"):
        m = _PATH.match(path)
        if not m or m["setting"] not in SETTINGS or DEFENCE[m["setting"]] != m["defence"]:
            continue
        if m["method"] not in methods:
            continue
        rank = list(methods).index(m["method"])
        candidates[(m["setting"], m["model"])].append((rank, m["method"], path))
    for (setting, model), paths in sorted(candidates.items()):
        for _, method, path in sorted(paths):
            data = tree.read(path)
            if data is None:
                continue
            text = data.decode("utf-8", errors="replace")
            if "messages" not in text.split("\n", 1)[0]:
                report["no_messages"].append(path)
                continue
            got, bad = parse_csv(text, setting, model, method)
            runs.extend(got)
            report["bad_rows"] += bad
            report["files"].append(path)
            if not all_methods:
                break
    report["missing"] = tree.missing
    return runs, report


def build(runs: Sequence[Run]) -> Corpus:
    """The corpus for parsed runs (deterministic for the same runs in any order)."""
    runs = sorted(runs, key=lambda r: (r.agent_type, r.model, r.setting, r.method, r.row))
    attack_tools: dict[str, set[str]] = defaultdict(set)
    for r in runs:
        attack_tools[r.agent_type].add(r.attack_tool)
    by_agent: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for r in runs:
        by_agent[(r.agent_type, r.model)].append(r)

    agents: list[tuple[str, list[Session]]] = []
    charters: list[dict[str, Any]] = []
    for (atype, model), rs in sorted(by_agent.items()):
        aid = agent_id(atype, model)
        server = _slug(atype)
        clean = sorted(
            (r for r in rs if SETTINGS[r.setting] is None),
            key=lambda r: order_key(f"{r.attack_tool}|{r.method}|{r.row}"),
        )
        warm = {id(r) for r in clean[: len(clean) // 2]}
        sessions: list[Session] = []
        toolkit: set[str] = set(attack_tools[atype])
        for r in rs:
            toolkit.update(r.offered)
        warm_calls = 0
        for r in rs:
            cls = SETTINGS[r.setting]
            offered = set(r.offered) | {r.attack_tool}
            calls = [
                Call(
                    server=server,
                    tool=tool,
                    args=args,
                    outcome="ok" if tool in offered else "error",
                    attack=cls is not None and tool == r.attack_tool,
                )
                for tool, args in r.calls
            ]
            kind = "benign" if cls is None else "attack"
            if id(r) in warm:
                kind = "warmup"
                warm_calls += len(calls)
            case = f"asb|{atype}|{r.attack_tool}"
            sid = canonical_id(
                f"asb/{r.setting}/{_slug(r.model)}/{r.method}/{atype}/{r.row:04d}", "session_id"
            )
            sessions.append(
                Session(
                    SessionLabel(
                        agent_id=aid,
                        session_id=sid,
                        kind=kind,  # type: ignore[arg-type]
                        split=split_of(case),
                        case=case,
                        attack_class=cls,
                        source=f"logs/{r.setting}/{r.model}/{DEFENCE[r.setting]}/{r.method}-all_.csv#{r.row}",
                        succeeded=r.attack_succeeded if cls is not None else None,
                    ),
                    calls,
                )
            )
        agents.append((aid, sessions))
        mission = next((r.mission for r in rs if r.mission), "")
        tools = [{"server": server, "tool": t} for t in sorted(toolkit)]
        charters.append(granted_charter(aid, mission, tools, warm_calls))
    events, labels = lay_out(agents)
    return Corpus(name=NAME, licence=LICENCE, events=events, charters=charters, sessions=labels)


def convert(source: Path, methods: Sequence[str] = METHODS, *, all_methods: bool = False) -> Corpus:
    """Convert an ASB source tree (clone or bare git snapshot) to a corpus."""
    runs, _ = read_runs(source, methods, all_methods=all_methods)
    return build(runs)
