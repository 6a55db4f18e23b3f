"""agent-firedrill atomics (MIT) as ``mcp.events``: attack scenarios, each with a benign twin.

Source: PyPI ``agent-firedrill`` (https://github.com/rpmsft9/firedrill, MIT, Copyright (c)
2026 Raj Penchala), ``firedrill/atomics/*.yml``. An *atomic* is one technique of the OWASP
Top 10 for Agentic Applications written as OpenTelemetry GenAI spans: an ``attack`` trace
and a ``benign`` twin, "ordinary agent work chosen to look as similar as possible". Spans
are ``{at, repeat, every, attrs}``; ``attrs`` are the span attributes (``gen_ai.operation.name``,
``gen_ai.agent.name``, ``gen_ai.tool.name``, ``gen_ai.tool.call.arguments`` /
``.result``, ``error.type``) over the atomic's ``defaults``. The traces are expanded here
exactly as firedrill expands them (``atomics._build_trace``: ``repeat`` copies ``every``
seconds apart, time order, ties in file order).

Mapping:

- a call = an ``execute_tool`` span (``chat`` and ``invoke_agent`` spans are model
  turns, not tool calls: three atomics have only those and give no session, counted in
  the statistics). Everything else is read the way ``mcpmon tap --format otel`` reads
  the same span exported as OTLP/JSON (``firedrill export ID``): ``server`` is
  :data:`SERVER` (the export's ``service.name``), ``args`` the arguments, ``resources``
  from path/URL arguments, ``outcome`` from ``error.type``, ``result_digests`` from the
  result text (:func:`monitor.core.values.result_digests`). Times are the spans' own
  offsets (a 30-call loop stays 30 calls in 45 s).
- agent = ``gen_ai.agent.name``: ``spiffe://firedrill.corpus/agents/<name>``. Atomics
  of one named agent (``coding-agent`` has six) share its history; a multi-agent trace
  gives one session per agent.
- session = one trace of one agent, ``session_id`` = the trace's ``gen_ai.conversation.id``
  (``/<agent>`` appended in a multi-agent trace: session ids are unique in a corpus).
  The attack trace is labelled ``attack``, class = the atomic's first OWASP ASI id
  (``asi01_agent_goal_hijack``), ``attack_events`` = **every** call of the trace:
  firedrill judges a trace, not a span (a rule that fires anywhere on the attack trace
  covers it), so here too. The benign twin is a scored ``benign`` session.
- case = the atomic id: an attack and its twin are in the same part.
- warm-up: the source has no history. Like InjecAgent's, each agent's history is built
  from the source's own benign work: its benign twins, round robin in atomic order,
  until it has made :data:`WARMUP_CALLS` calls (the default warm-up of the learned
  baseline and the hijack detectors). Consequence, stated in the results: a scored
  benign twin is a repeat of learned work (weak evidence on false positives), and
  every attack reuses tools the agent knows wherever the twin does.
- charter per agent: every tool in any of its traces on :data:`SERVER`, no classes,
  autonomous, observe mode, ``baseline.warmup_events`` = its warm-up calls.

Regenerate the fixture: ``python -m monitor.corpora firedrill --source SRC`` where SRC is
the wheel (``pip download agent-firedrill --no-deps``), an unpacked wheel or a checkout.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from monitor.core.values import result_digests
from monitor.corpora.base import Corpus, SessionLabel, granted_charter, split_of
from monitor.corpora.source import SourceTree
from monitor.corpora.timeline import AGENT_STAGGER, BASE_TIME, CALL_GAP, SESSION_GAP, order_key
from monitor.errors import MonitorError
from monitor.identity import canonical_id
from monitor.tap.formats.otel import outcome_of
from monitor.tap.formats.preset import resources_from_args

NAME = "firedrill"
LICENCE = (
    "MIT, Copyright (c) 2026 Raj Penchala "
    "(agent-firedrill atomics, https://github.com/rpmsft9/firedrill, PyPI agent-firedrill)"
)
NOTICE = """\
The fixture here is derived from the atomics of agent-firedrill 0.1.0
(PyPI agent-firedrill, agent_firedrill-0.1.0-py3-none-any.whl, sha256
fef15bbeb144760d39bc3d8f1145b685ea06ce2805b1cf58f0d7c75588cbb830;
https://github.com/rpmsft9/firedrill), firedrill/atomics/*.yml, converted to
mcp.events by monitor/corpora/firedrill.py (tool names, arguments, outcomes,
digests of the values each result held; no result text). Warm-up sessions are
copies of each agent's benign twins.

MIT License

Copyright (c) 2026 Raj Penchala

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

Regenerate: python -m monitor.corpora firedrill --source <the wheel, unpacked or not>
"""

#: ``service.name`` of ``firedrill export``: the server the tap names for these spans.
SERVER = "firedrill"
AGENT_PREFIX = "spiffe://firedrill.corpus/agents"
#: Warm-up calls each agent makes (copies of its benign twins) before it is scored.
WARMUP_CALLS = 200
#: OWASP Top 10 for Agentic Applications (2026), as firedrill's taxonomy names them.
OWASP_ASI = {
    "ASI01": "Agent Goal Hijack",
    "ASI02": "Tool Misuse & Exploitation",
    "ASI03": "Identity & Privilege Abuse",
    "ASI04": "Agentic Supply Chain Vulnerabilities",
    "ASI05": "Unexpected Code Execution",
    "ASI06": "Memory & Context Poisoning",
    "ASI07": "Insecure Inter-Agent Communication",
    "ASI08": "Cascading Failures",
    "ASI09": "Human-Agent Trust Exploitation",
    "ASI10": "Rogue Agents",
}
_ATOMIC = re.compile(r"(?:^|/)atomics/[^/]+\.ya?ml$")
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Span:
    """One ``execute_tool`` span of a trace: offset in seconds and what the call did."""

    at: float
    position: int  # index among the trace's tool spans (event ids)
    agent: str
    tool: str
    args: dict[str, Any]
    outcome: str
    resources: tuple[str, ...]
    digests: tuple[str, ...]


@dataclass(slots=True)
class Stats:
    files: int = 0
    atomics: int = 0
    converted: int = 0
    #: atomics whose traces hold no execute_tool span (model turns only)
    no_tool_calls: list[str] = field(default_factory=list)
    attack_sessions: int = 0
    benign_sessions: int = 0
    warmup_sessions: int = 0
    calls: int = 0


def attack_class(asi: str) -> str:
    name = OWASP_ASI.get(asi.upper(), "unknown")
    return f"{asi.lower()}_{_SLUG.sub('_', name.lower()).strip('_')}"


def agent_id(name: str) -> str:
    return canonical_id(f"{AGENT_PREFIX}/{_SLUG.sub('-', name.lower()).strip('-') or 'agent'}")


def _args(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MonitorError(f"{where}: gen_ai.tool.call.arguments is not a mapping")
    return value


def expand(doc: dict[str, Any], variant: str, where: str) -> tuple[str, list[Span]]:
    """The conversation id and the tool spans of ``doc[variant]``, as firedrill builds them."""
    atomic_id = str(doc["id"])
    spans = doc.get(variant)
    if not isinstance(spans, list) or not spans:
        raise MonitorError(f"{where}: {variant}: needs a non-empty list of spans")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise MonitorError(f"{where}: defaults: not a mapping")
    conversation = f"{atomic_id}-{variant}".lower()
    timed: list[tuple[float, dict[str, Any]]] = []
    for n, span in enumerate(spans):
        if not isinstance(span, dict) or not isinstance(span.get("attrs"), dict):
            raise MonitorError(f"{where}: {variant}: span {n} needs an 'attrs' mapping")
        try:
            repeat, every, at = (
                int(span.get("repeat", 1)),
                float(span.get("every", 1)),
                float(span.get("at", 0)),
            )
        except (TypeError, ValueError):
            raise MonitorError(f"{where}: {variant}: span {n}: bad at/repeat/every") from None
        if not 1 <= repeat <= 10_000:
            raise MonitorError(f"{where}: {variant}: span {n}: repeat {repeat} out of 1..10000")
        for copy in range(repeat):
            attrs = {"gen_ai.conversation.id": conversation, **defaults, **span["attrs"]}
            timed.append((at + copy * every, attrs))
    timed.sort(key=lambda t: t[0])  # stable: ties keep file order, as firedrill's sort_events
    conv = str(timed[0][1].get("gen_ai.conversation.id") or conversation)
    out: list[Span] = []
    for at, attrs in timed:
        if attrs.get("gen_ai.operation.name") != "execute_tool":
            continue
        tool = attrs.get("gen_ai.tool.name")
        if not isinstance(tool, str) or not tool:
            raise MonitorError(f"{where}: {variant}: an execute_tool span without gen_ai.tool.name")
        args = _args(attrs.get("gen_ai.tool.call.arguments"), f"{where}: {variant}: {tool}")
        result = attrs.get("gen_ai.tool.call.result")
        agent = attrs.get("gen_ai.agent.name") or attrs.get("gen_ai.agent.id") or atomic_id
        out.append(
            Span(
                at=at,
                position=len(out),
                agent=str(agent),
                tool=tool,
                args=args,
                outcome=outcome_of(attrs, {}),
                resources=tuple(dict.fromkeys(resources_from_args(args))),
                digests=tuple(result_digests(result)) if result is not None else (),
            )
        )
    return conv, out


def read_atomics(source: str | Path) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """``[(file name, atomic document)]`` from a wheel, an unpacked wheel or a checkout."""
    src = Path(source)
    raw: list[tuple[str, bytes]] = []
    if src.is_file() and zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as z:
            raw = [(n, z.read(n)) for n in sorted(z.namelist()) if _ATOMIC.search(n)]
    elif src.is_dir():
        tree = SourceTree(src)
        paths = [p for p in tree.paths() if _ATOMIC.search(p)]
        raw = [(p, data) for p in paths if (data := tree.read(p)) is not None]
    else:
        raise MonitorError(f"{src}: neither a directory nor a wheel (zip) file")
    if not raw:
        raise MonitorError(f"{src}: no firedrill atomics (atomics/*.yml) found")
    docs: list[tuple[str, dict[str, Any]]] = []
    for path, data in raw:
        try:
            doc = yaml.safe_load(data.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise MonitorError(f"{path}: not a readable YAML atomic: {err}") from None
        if not isinstance(doc, dict):
            raise MonitorError(f"{path}: an atomic must be a YAML mapping")
        for key in ("id", "owasp_asi", "attack", "benign"):
            if not doc.get(key):
                raise MonitorError(f"{path}: missing {key!r}")
        docs.append((path.rsplit("/", 1)[-1], doc))
    ids = [str(d["id"]) for _, d in docs]
    if len(set(ids)) != len(ids):
        raise MonitorError(f"{src}: an atomic id appears twice")
    return sorted(docs, key=lambda d: str(d[1]["id"])), len(raw)


@dataclass(slots=True)
class _Session:
    label: SessionLabel
    spans: list[Span]


def _ts(t: datetime) -> str:
    """Milliseconds always (spans come 1.5 s apart), so text order is time order."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def convert_with_stats(source: str | Path) -> tuple[Corpus, Stats]:
    docs, files = read_atomics(source)
    stats = Stats(files=files, atomics=len(docs))
    scored: dict[str, list[_Session]] = {}  # agent name -> sessions
    twins: dict[str, list[tuple[str, list[Span]]]] = {}  # agent name -> (atomic, benign spans)
    tools: dict[str, set[str]] = {}
    for fname, doc in docs:
        atomic_id = str(doc["id"])
        case = f"firedrill|{atomic_id}"
        asi = [str(a) for a in doc["owasp_asi"]]
        traces = {v: expand(doc, v, fname) for v in ("attack", "benign")}
        if not any(spans for _, spans in traces.values()):
            stats.no_tool_calls.append(atomic_id)
            continue
        stats.converted += 1
        for variant, (conv, spans) in traces.items():
            names = list(dict.fromkeys(s.agent for s in spans))
            for agent in names:
                mine = [s for s in spans if s.agent == agent]
                tools.setdefault(agent, set()).update(s.tool for s in mine)
                attack = variant == "attack"
                # one session per agent; session ids are unique across a corpus
                sid = conv if len(names) == 1 else f"{conv}/{agent_id(agent).rsplit('/', 1)[-1]}"
                label = SessionLabel(
                    agent_id=agent_id(agent),
                    session_id=canonical_id(sid, "session_id"),
                    kind="attack" if attack else "benign",
                    split=split_of(case),
                    case=case,
                    attack_class=attack_class(asi[0]) if attack else None,
                    source=f"{fname}#{variant}",
                    succeeded=True if attack else None,
                )
                scored.setdefault(agent, []).append(_Session(label, mine))
                if attack:
                    stats.attack_sessions += 1
                else:
                    stats.benign_sessions += 1
                    twins.setdefault(agent, []).append((atomic_id, mine))
    agents: list[tuple[str, list[_Session], int]] = []
    for agent in sorted(scored):
        warm: list[_Session] = []
        calls = 0
        pool = twins.get(agent, [])
        while pool and calls < WARMUP_CALLS:
            atomic_id, spans = pool[len(warm) % len(pool)]
            case = f"firedrill|{atomic_id}"
            sid = canonical_id(
                f"firedrill/{agent_id(agent).rsplit('/', 1)[-1]}/warmup-{len(warm):03d}",
                "session_id",
            )
            warm.append(
                _Session(
                    SessionLabel(
                        agent_id(agent), sid, "warmup", split_of(case), case, source=atomic_id
                    ),
                    spans,
                )
            )
            calls += len(spans)
        stats.warmup_sessions += len(warm)
        ordered = sorted(scored[agent], key=lambda s: order_key(s.label.session_id))
        agents.append((agent, [*warm, *ordered], calls))
    events, labels = _lay_out(agents)
    stats.calls = len(events)
    charters = [
        granted_charter(
            agent_id(agent),
            f"firedrill {agent} (agent-firedrill atomics)",
            [{"server": SERVER, "tool": t} for t in sorted(tools[agent])],
            warm_calls,
        )
        for agent, _, warm_calls in agents
    ]
    return Corpus(NAME, LICENCE, events, charters, labels), stats


def _lay_out(
    agents: list[tuple[str, list[_Session], int]],
) -> tuple[list[dict[str, Any]], list[SessionLabel]]:
    """Events in time order: each agent's sessions one after another from
    :data:`~monitor.corpora.timeline.BASE_TIME`, calls at the spans' own offsets."""
    events: list[dict[str, Any]] = []
    labels: list[SessionLabel] = []
    for a, (_agent, sessions, _) in enumerate(agents):
        t = BASE_TIME + a * AGENT_STAGGER
        for s in sessions:
            lab = s.label
            start = s.spans[0].at if s.spans else 0.0
            ids = []
            for sp in s.spans:
                ev: dict[str, Any] = {
                    "type": "tool_call",
                    "event_id": f"{lab.session_id}/{sp.position}",
                    "ts": _ts(t + timedelta(seconds=sp.at - start)),
                    "agent_id": lab.agent_id,
                    "agent_kind": "autonomous",
                    "session_id": lab.session_id,
                    "task_id": lab.session_id,
                    "server": SERVER,
                    "tool": sp.tool,
                    "args": sp.args,
                    "outcome": sp.outcome,
                }
                if sp.resources:
                    ev["resources"] = list(sp.resources)
                if sp.digests:
                    ev["result_digests"] = list(sp.digests)
                ids.append(ev["event_id"])
                events.append(ev)
            labels.append(
                SessionLabel(
                    lab.agent_id,
                    lab.session_id,
                    lab.kind,
                    lab.split,
                    lab.case,
                    lab.attack_class,
                    tuple(ids) if lab.kind == "attack" else (),
                    lab.source,
                    lab.succeeded,
                )
            )
            length = (s.spans[-1].at - start) if s.spans else 0.0
            t += timedelta(seconds=round(length, 3)) + CALL_GAP + SESSION_GAP
    events.sort(key=lambda e: (e["ts"], e["agent_id"], e["event_id"]))
    return events, labels


def convert(source: str | Path) -> Corpus:
    """Convert agent-firedrill's atomics (wheel, unpacked wheel or checkout) to a corpus."""
    return convert_with_stats(source)[0]


__all__ = ["LICENCE", "NAME", "NOTICE", "SERVER", "WARMUP_CALLS", "convert", "convert_with_stats"]
