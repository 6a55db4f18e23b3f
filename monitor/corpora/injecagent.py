"""InjecAgent agent runs (MIT) as ``mcp.events``: real hijacks by indirect prompt injection.

Source: GitHub ``enkryptai/xInjectAgent`` (a customised InjecAgent, Zhan et al. 2024),
``results/<setting>/<model>/test_cases_{dh,ds}_*.json`` (JSON lines, one agent run per
line), ``data/tools.json`` (toolkits) and ``data/user_cases.jsonl`` (the 17 user tasks).
Licence: MIT, Copyright (c) 2023 Qiusi Zhan; the notice travels with the derived fixture.

One run: the user asks for something that needs one *user tool* (read an email, a product
page, a repository, ...); the tool's response carries the attacker's instruction; the
agent then either finishes its task (``eval: unsucc``), or calls the attacker's tool
(``succ``). Data-stealing (``ds``) cases have a second step: the agent read private data
with the first attacker tool, then sends it out with a second (``eval Step 2``).

How a run becomes events (deterministic: fixed times from :data:`BASE_TIME`, stable ids):

- **agent** = one (model, user toolkit), e.g. ``spiffe://injecagent/agents/gpt-4o/gmail``:
  the same assistant doing that toolkit's user tasks, in every setting
  (:data:`SETTINGS`). Delegated: each session is one task for the user ``user@injecagent``
  (every call carries ``task_id`` = ``session_id`` and the ``sponsor``).
- **warm-up** first: :data:`WARMUP_CALLS` sessions per agent, each one user-case call of
  the toolkit with its response template, the injection slot left empty (no attacker text).
  Not scored.
- then every **run** of the agent's user cases, in source order, one session each: the
  user-tool call (``args`` = the case's ``Tool Parameters``, ``result_digests`` from the
  injected ``Tool Response`` via :func:`monitor.core.values.value_digests`), then, when the
  evaluation says the attack succeeded, the attacker-tool call with the arguments the agent
  really produced (parsed from ``Action`` / ``Action Input`` in its output; for ``ds`` step 1
  the recorded ``Attacker Tool Parameters`` and ``Attacker Tool Response``), and for ``ds``
  the step-2 call when ``eval Step 2`` is ``succ``.
- **labels**: ``succ`` → ``attack`` with ``attack_class`` ``direct_harm/<type>`` or
  ``data_stealing/<type>`` (``Attack Type`` in snake case) and ``attack_events`` = the
  attacker-caused call ids; ``unsucc`` → ``benign`` (the agent read the injection and did
  only its task); ``invalid`` (the agent's output could not be parsed) → left out, counted
  in :data:`Corpus.meta <monitor.corpora.base.Corpus>`-like statistics of :func:`convert`.
- **split**: by source case = (user tool, attacker instruction), so every model's and every
  setting's run of one case lands in the same part (:func:`monitor.corpora.base.split_of`).
- **charters**: one per agent, granting every tool its sessions call — the user tools and
  the attacker tools (server = toolkit, tool = the rest of the name), no classes, chains or
  limits: a hijack with granted tools is exactly what a charter cannot see.

``FITD`` results (another record layout) are not converted.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.core.values import value_digests
from monitor.corpora.base import Corpus, SessionLabel, split_of
from monitor.errors import MonitorError

NAME = "injecagent"
SOURCE_URL = "https://github.com/enkryptai/xInjectAgent"
LICENCE = "MIT, Copyright (c) 2023 Qiusi Zhan (" + SOURCE_URL + ", LICENCE)"
#: The source's licence, written as NOTICE beside every fixture derived from it.
NOTICE = f"""Derived from InjecAgent / xInjectAgent agent runs ({SOURCE_URL}),
converted to mcp.events by monitor/corpora/injecagent.py. Original licence:

MIT License

Copyright (c) 2023 Qiusi Zhan

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""
#: Settings converted, in this order (the ``results/`` sub-directories).
SETTINGS: tuple[str, ...] = ("BASE", "ENHANCED", "CYDIT")
#: Benign calls each agent makes before its first scored session (the baseline's default warm-up).
WARMUP_CALLS = 200
BASE_TIME = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
#: Seconds between the starts of one agent's consecutive sessions, and between calls. The
#: corpus has no times; sessions are spaced wider than the engine's alert de-duplication
#: window (300 s by default) so each run is judged on its own, not hidden as a repeat of
#: the previous run's alert (at 120 s, 2,185 more of the 7,871 hijacks went unreported).
SESSION_GAP, CALL_GAP = 900, 5
SPONSOR = "user@injecagent"
AGENT_PREFIX = "spiffe://injecagent/agents"
_INJECTION_SLOT = "<Attacker Instruction>"
_ACTION = re.compile(r"Action:\s*([A-Za-z0-9_]+)\s*\n\s*Action Input:\s*(.*)", re.DOTALL)


@dataclass(slots=True)
class Stats:
    """What the conversion kept and left out (written beside the fixture)."""

    records: int = 0
    invalid: int = 0  # eval not succ/unsucc: the agent's output could not be judged
    attack_sessions: int = 0
    benign_sessions: int = 0
    #: attacker calls with empty args (the tool takes none, or no Action Input could be read)
    attacker_calls_without_args: int = 0
    files: list[str] = field(default_factory=list)
    source_commit: str | None = None  # the snapshot's HEAD, when converted from a bare git dir


# --------------------------------------------------------------------------- source


def _materialise(source: Path) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """A directory with ``data/`` and ``results/``: the source itself, or a bare git dir's HEAD."""
    if (source / "data").is_dir():
        return source, None
    if (source / "objects").is_dir() and (source / "HEAD").is_file():
        tmp = tempfile.TemporaryDirectory(prefix="injecagent-")
        archive = subprocess.run(
            ["git", "-C", str(source), "archive", "HEAD", "LICENCE", "data", "results"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp.name], input=archive, check=True)
        return Path(tmp.name), tmp
    raise MonitorError(
        f"{source}: not an InjecAgent checkout (no data/ directory) nor a bare git snapshot"
    )


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as err:
                raise MonitorError(f"{path}:{n}: not JSON: {err}") from None
            if not isinstance(rec, dict):
                raise MonitorError(f"{path}:{n}: not a JSON object")
            yield rec


def _literal(text: object) -> Any:
    """A python-literal or JSON value from the corpus's text fields; the text itself if neither."""
    if not isinstance(text, str):
        return text
    s = text.strip()
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(s)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return s


def _jsonable(value: Any) -> Any:
    """Python literals JSON cannot hold (sets, tuples, bytes, complex) as lists and text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_jsonable(v) for v in value), key=repr)
    if value is None or isinstance(value, str | bool | float):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    return str(value)


def _args(text: object) -> dict[str, Any]:
    value = _jsonable(_literal(text))
    if isinstance(value, dict):
        return value
    return {} if value in ("", None) else {"input": value}


def parse_action(output: object) -> tuple[str, dict[str, Any]] | None:
    """The first ``Action`` and its ``Action Input`` in an agent's output, or ``None``.

    >>> parse_action('Thought: ok\\nAction: GmailSendEmail\\nAction Input: {"to": "a@b.example"}')
    ('GmailSendEmail', {'to': 'a@b.example'})
    """
    if not isinstance(output, str):
        return None
    m = _ACTION.search(output)
    if m is None:
        return None
    tool, rest = m.group(1), m.group(2)
    rest = re.split(r"\n\s*(?:Observation|Thought|Action|Final Answer)\s*:", rest)[0].strip()
    # The input is one JSON object; cut at its closing brace (some agents keep talking).
    if rest.startswith("{"):
        depth, end = 0, None
        for i, ch in enumerate(rest):
            depth += ch == "{"
            depth -= ch == "}"
            if depth == 0:
                end = i + 1
                break
        if end is not None:
            rest = rest[:end]
    return tool, _args(rest)


# --------------------------------------------------------------------------- conversion


class _Toolkits:
    """``GmailSendEmail`` → ``("Gmail", "SendEmail")``: the longest toolkit name that prefixes it."""

    def __init__(self, tools_json: list[dict[str, Any]]) -> None:
        self.names = sorted({str(t["toolkit"]) for t in tools_json}, key=len, reverse=True)

    def split(self, tool: str) -> tuple[str, str]:
        for kit in self.names:
            if tool.startswith(kit) and len(tool) > len(kit):
                return kit, tool[len(kit) :]
        return "Other", tool


@dataclass(slots=True)
class _Agent:
    agent_id: str
    toolkit: str
    sessions: int = 0
    grants: set[tuple[str, str]] = field(default_factory=set)


class _Builder:
    def __init__(self, kits: _Toolkits) -> None:
        self.kits = kits
        self.agents: dict[str, _Agent] = {}
        self.events: list[tuple[float, str, int, dict[str, Any]]] = []
        self.sessions: list[SessionLabel] = []

    def agent(self, model: str, user_tool: str) -> _Agent:
        kit = self.kits.split(user_tool)[0]
        aid = f"{AGENT_PREFIX}/{_slug(model)}/{kit.lower()}"
        if aid not in self.agents:
            self.agents[aid] = _Agent(aid, kit)
        return self.agents[aid]

    def session(
        self,
        agent: _Agent,
        sid: str,
        calls: list[tuple[str, dict[str, Any], object]],
    ) -> list[str]:
        """The calls of one session (one task: ``task_id`` = ``session_id``); their event ids.

        No ``task_started`` / ``task_ended`` events: a call naming its task and sponsor is
        enough for the lifecycle detectors (nothing ends early), and leaving them out keeps
        the fixture and the evaluation a third of the size.
        """
        start = BASE_TIME + timedelta(seconds=SESSION_GAP * agent.sessions)
        agent.sessions += 1
        ids: list[str] = []

        def put(offset: int, doc: dict[str, Any]) -> None:
            ts = start + timedelta(seconds=offset)
            doc["ts"] = ts.isoformat().replace("+00:00", "Z")
            doc["agent_id"] = agent.agent_id
            self.events.append((ts.timestamp(), agent.agent_id, len(self.events), doc))

        for i, (tool_name, args, response) in enumerate(calls, 1):
            server, tool = self.kits.split(tool_name)
            agent.grants.add((server, tool))
            eid = f"{sid}/c{i}"
            ids.append(eid)
            doc: dict[str, Any] = {
                "type": "tool_call",
                "event_id": eid,
                "session_id": sid,
                "task_id": sid,
                "sponsor": SPONSOR,
                "server": server,
                "tool": tool,
                "args": args,
                "outcome": "ok",
            }
            digests = value_digests(response) if response not in (None, "") else []
            if digests:
                doc["result_digests"] = digests
            put(CALL_GAP * (i - 1), doc)
        return ids


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-.") or "x"


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "other"


def _result_files(root: Path) -> list[tuple[str, str, str, Path]]:
    """``(setting, model, dh|ds, path)`` for every converted results file, in a stable order."""
    out = []
    for setting in SETTINGS:
        base = root / "results" / setting
        if not base.is_dir():
            continue
        for model_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            for f in sorted(model_dir.glob("test_cases_*.json")):
                kind = "ds" if f.name.startswith("test_cases_ds") else "dh"
                out.append((setting, model_dir.name, kind, f))
    if not out:
        raise MonitorError(f"{root}/results: no results/<setting>/<model>/test_cases_*.json")
    return out


def convert(source: str | Path) -> Corpus:
    """Convert an InjecAgent checkout (or a bare git snapshot of one) into a :class:`Corpus`."""
    root, tmp = _materialise(Path(source))
    try:
        corpus, _ = _convert(root)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return corpus


def convert_with_stats(source: str | Path) -> tuple[Corpus, Stats]:
    """:func:`convert`, and what the conversion kept and left out."""
    root, tmp = _materialise(Path(source))
    try:
        corpus, stats = _convert(root)
    finally:
        if tmp is not None:
            tmp.cleanup()
    if tmp is not None:
        head = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        stats.source_commit = head.stdout.strip() or None
    return corpus, stats


def _convert(root: Path) -> tuple[Corpus, Stats]:
    tools_json = json.loads((root / "data" / "tools.json").read_text(encoding="utf-8"))
    kits = _Toolkits(tools_json)
    user_cases = list(_jsonl(root / "data" / "user_cases.jsonl"))
    files = _result_files(root)
    stats = Stats(files=[f"results/{s}/{m}/{p.name}" for s, m, _, p in files])
    b = _Builder(kits)

    runs: dict[str, list[tuple[str, str, str, int, dict[str, Any]]]] = {}
    models: list[str] = []
    for setting, model, kind, path in files:
        if model not in models:
            models.append(model)
        for n, rec in enumerate(_jsonl(path), 1):
            stats.records += 1
            if rec.get("eval") not in ("succ", "unsucc"):
                stats.invalid += 1
                continue
            aid = b.agent(model, str(rec.get("User Tool", ""))).agent_id
            runs.setdefault(aid, []).append((setting, model, kind, n, rec))

    # Warm-up first for every agent (its toolkit's user cases, injection slot empty).
    for model in models:
        for aid in sorted(a for a in runs if a.startswith(f"{AGENT_PREFIX}/{_slug(model)}/")):
            agent = b.agents[aid]
            mine = [u for u in user_cases if kits.split(u["User Tool"])[0] == agent.toolkit]
            for i in range(WARMUP_CALLS):
                u = mine[i % len(mine)]
                response = str(u.get("Tool Response Template", "")).replace(_INJECTION_SLOT, "")
                sid = f"{aid.removeprefix(AGENT_PREFIX + '/')}/warmup-{i:03d}"
                b.session(agent, sid, [(u["User Tool"], _args(u["Tool Parameters"]), response)])
                b.sessions.append(
                    SessionLabel(aid, sid, "warmup", split_of(f"warmup:{aid}"), f"warmup:{aid}")
                )

    for aid in sorted(runs):
        agent = b.agents[aid]
        for setting, model, kind, n, rec in runs[aid]:
            sid = f"{aid.removeprefix(AGENT_PREFIX + '/')}/{setting.lower()}-{kind}-{n:03d}"
            case = f"{rec.get('User Tool')}\x00{rec.get('Attacker Instruction')}"
            calls: list[tuple[str, dict[str, Any], object]] = [
                (str(rec["User Tool"]), _args(rec.get("Tool Parameters")), rec.get("Tool Response"))
            ]
            attack = rec["eval"] == "succ"
            attacker_tools = [str(t) for t in rec.get("Attacker Tools") or []]
            if attack:
                if kind == "ds" and "Attacker Tool Parameters" in rec:
                    calls.append(
                        (
                            attacker_tools[0],
                            _args(rec.get("Attacker Tool Parameters")),
                            rec.get("Attacker Tool Response"),
                        )
                    )
                    if rec.get("eval Step 2") == "succ" and len(attacker_tools) > 1:
                        calls.append(_attacker_call(rec.get("output Step 2"), attacker_tools[1:]))
                else:
                    calls.append(_attacker_call(rec.get("output"), attacker_tools))
                if not calls[-1][1]:
                    stats.attacker_calls_without_args += 1
            ids = b.session(agent, sid, calls)
            source = f"results/{setting}/{model}/test_cases_{kind}:{n}"
            split = split_of(case)
            if attack:
                stats.attack_sessions += 1
                family = "data_stealing" if kind == "ds" else "direct_harm"
                cls = f"{family}/{_snake(str(rec.get('Attack Type', 'other')))}"
                b.sessions.append(
                    SessionLabel(aid, sid, "attack", split, case, cls, tuple(ids[1:]), source)
                )
            else:
                stats.benign_sessions += 1
                b.sessions.append(SessionLabel(aid, sid, "benign", split, case, source=source))

    b.events.sort(key=lambda e: (e[0], e[1], e[2]))
    charters = [_charter(a) for _, a in sorted(b.agents.items()) if a.grants]
    corpus = Corpus(NAME, LICENCE, [e[3] for e in b.events], charters, b.sessions)
    return corpus, stats


def _attacker_call(output: object, attacker_tools: list[str]) -> tuple[str, dict[str, Any], object]:
    """The attacker-tool call an agent's output makes (the first action naming one of them)."""
    parsed = parse_action(output)
    if parsed is None:
        return attacker_tools[0], {}, None
    tool, args = parsed
    return (tool if tool in attacker_tools else attacker_tools[0]), args, None


def _charter(agent: _Agent) -> dict[str, Any]:
    return {
        "agent": agent.agent_id,
        "kind": "delegated",
        "mode": "observe",
        "mission": f"a personal assistant doing its user's {agent.toolkit} tasks (InjecAgent)",
        "tools": [{"server": s, "tool": t} for s, t in sorted(agent.grants)],
        # the source records no credential issuance: demanding JIT credentials (the default
        # for delegated agents) would flag every call, measuring the missing lifecycle feed
        "limits": {"require_jit_credentials": False},
    }


__all__ = ["LICENCE", "NAME", "SETTINGS", "WARMUP_CALLS", "convert", "parse_action"]
