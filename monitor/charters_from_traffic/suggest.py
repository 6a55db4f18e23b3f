"""A least-privilege charter per agent (or agent pattern), learned from what agents did.

Why: a tight charter costs an operator time, so teams grant broadly. This turns
recorded traffic into the tight charter — the tools actually used (with their
inferred capability classes), resource globs generalised just enough
(:mod:`.generalise`), the tenants and data domains touched, rate limits from the
observed per-minute rates, a credential TTL cap, and a forbidden chain for every
dangerous class pair (``read_secret → egress`` …) the agent could do but never
did within the window — and writes it as YAML in which **every line carries its
evidence** (counts, first/last seen), so a reviewer can check each grant.

What traffic cannot teach is kept from the current charter when one is given
(``mission``, ``mode``, ``hours``, ``task_grace_seconds``, ``baseline``): a shift
is policy, not a pattern. Agents are grouped by the current charter that governs
them, else by id with trailing digits made a glob (``coding-assistant-*``), or
one charter per agent with ``per_agent``.

Decisions worth knowing:

- a tool every call of which the gateway denied is *not* granted (it was never
  legitimately used) and the YAML says so in a comment;
- ``max_calls_per_minute`` is twice the busiest minute any agent of the group
  had, rounded up to 5 (the 99th percentile is shown beside it): bursts a
  little above yesterday's peak are normal, twice it is not;
- ``credential_max_ttl`` covers the longest TTL the issuer gave plus 25 %
  headroom in whole 5 minutes (a lower cap would alert on every issuance, the
  sample's exact maximum on tomorrow's slightly longer one), never above a
  current cap that already covers it; when tasks are much shorter the comment
  says what TTL they would need — change the issuer first, then the cap;
- ``hours`` are learned only from at least ``hours_min_days`` days of traffic
  (a few hours show no working pattern), rounded out to whole hours.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.charter import Charter, load_charter_text
from monitor.charters_from_traffic.classes import DANGEROUS_PAIRS
from monitor.charters_from_traffic.generalise import generalise
from monitor.charters_from_traffic.traffic import (
    PATH_WITHIN_CALLS,
    PATH_WITHIN_SECONDS,
    AgentTraffic,
    Observer,
    PairGap,
    Seen,
    ToolKey,
)
from monitor.core.breadth import breadth
from monitor.core.policy import CharterSet
from monitor.core.standing import _quantile

HOURS_MIN_DAYS = 7
_TRAILING_NUMBER = re.compile(r"\d+$")


#: The TTL cap leaves this much room above the longest TTL seen: an issuer handing out a
#: slightly longer (still policy-conform) TTL tomorrow is not an alert.
TTL_HEADROOM = 1.25


def ttl_cap(longest: float, current: float | None) -> int:
    """``credential_max_ttl`` to suggest: the longest TTL seen plus headroom, in whole
    5 minutes; never above the current charter's cap when that already covers what was seen.

    >>> ttl_cap(900, None), ttl_cap(900, 1000), ttl_cap(900, 600)
    (1200, 1000, 1200)
    """
    cap = max(300, math.ceil(longest * TTL_HEADROOM / 300) * 300)
    if current is not None and current >= longest:
        cap = min(cap, math.ceil(current))
    return cap


def when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def seen_text(s: Seen) -> str:
    return f"{s.count:,} calls, first {when(s.first)}, last {when(s.last)}"


def id_pattern(agent_id: str) -> str:
    """``coding-assistant-007`` → ``coding-assistant-*``; ids without a number stay exact."""
    return _TRAILING_NUMBER.sub("*", agent_id)


def q(s: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(s, ensure_ascii=False)


def qlist(xs: list[str]) -> str:
    return "[" + ", ".join(q(x) for x in xs) + "]"


@dataclass(slots=True)
class Line:
    text: str
    why: str


@dataclass(slots=True)
class Suggestion:
    """One suggested charter: its YAML lines (with evidence) and its size."""

    pattern: str
    agents: list[str]
    lines: list[Line] = field(default_factory=list)
    grants: int = 0
    resource_patterns: int = 0
    tenants: int | None = None
    domains: int | None = None
    chains: int = 0
    calls: int = 0
    #: monitor.core.breadth scores: of the current charter (None: none given) and of this one
    breadth_before: int | None = None
    breadth_after: int | None = None

    def yaml(self) -> str:
        width = min(max((len(x.text) for x in self.lines), default=0), 90)
        return "".join(f"{x.text.ljust(width)}  # {x.why}\n" for x in self.lines)

    def charter(self) -> Charter:
        return load_charter_text(self.yaml(), f"<suggested {self.pattern}>")[0]

    def size(self) -> dict[str, Any]:
        return {
            "charter": self.pattern,
            "agents": len(self.agents),
            "calls": self.calls,
            "grants": self.grants,
            "resource_patterns": self.resource_patterns,
            "tenants": self.tenants,
            "data_domains": self.domains,
            "forbidden_chains": self.chains,
            "breadth_before": self.breadth_before,
            "breadth_after": self.breadth_after,
        }


@dataclass(slots=True)
class _Group:
    pattern: str
    agents: list[AgentTraffic]
    current: Charter | None


def group_agents(
    obs: Observer, current: CharterSet | None = None, per_agent: bool = False
) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for agent_id in sorted(obs.agents):
        a = obs.agents[agent_id]
        if a.calls.count == 0:
            continue  # lifecycle only: nothing to grant
        ch = current.for_agent(agent_id) if current is not None else None
        if per_agent:
            pattern = agent_id
        elif ch is not None:
            pattern = ch.pattern
        else:
            pattern = id_pattern(agent_id)
        g = groups.setdefault(pattern, _Group(pattern, [], ch.charter if ch else None))
        g.agents.append(a)
    return list(groups.values())


def _merge_seen(dicts: list[dict[str, Seen]]) -> dict[str, Seen]:
    out: dict[str, Seen] = {}
    for d in dicts:
        for k, s in d.items():
            out.setdefault(k, Seen()).merge(s)
    return out


def _hours(agents: list[AgentTraffic]) -> tuple[str, str] | None:
    """The smallest window of whole UTC hours holding every call (may wrap midnight)."""
    hours = sorted({m // 60 for a in agents for m in a.minute_of_day})
    if not hours or len(hours) == 24:
        return None
    # the largest gap between active hours (circularly) is where the window is closed
    gaps = [((hours[(i + 1) % len(hours)] - h) % 24 or 24, h) for i, h in enumerate(hours)]
    gap, after = max(gaps)
    start = (after + gap) % 24
    end = (after + 1) % 24
    end_text = "24:00" if end == 0 else f"{end:02d}:00"
    return f"{start:02d}:00-{end_text}", f"calls in {len(hours)} distinct UTC hours"


def suggest(
    obs: Observer,
    current: CharterSet | None = None,
    per_agent: bool = False,
    hours_min_days: int = HOURS_MIN_DAYS,
    mode: str | None = None,
) -> list[Suggestion]:
    """Suggestions for every agent group in ``obs``, sorted by pattern."""
    out = [
        _suggest_one(g, obs, hours_min_days, mode) for g in group_agents(obs, current, per_agent)
    ]
    for s in out:
        # a generator bug must never write a charter check-charter rejects
        s.breadth_after = breadth(s.charter()).score
    return sorted(out, key=lambda s: s.pattern)


def _suggest_one(g: _Group, obs: Observer, hours_min_days: int, mode: str | None) -> Suggestion:
    """The charter for one group of agents, line by line, each line with why it says so."""
    agents, cur = g.agents, g.current
    ids = [a.agent_id for a in agents]
    calls = Seen()
    for a in agents:
        calls.merge(a.calls)
    s = Suggestion(g.pattern, ids, calls=calls.count)
    s.breadth_before = breadth(cur).score if cur is not None else None
    L = s.lines.append
    shown = ", ".join(ids[:3]) + (f" … (+{len(ids) - 3})" if len(ids) > 3 else "")
    L(Line(f"agent: {q(g.pattern)}", f"{len(ids)} agent(s): {shown}; {seen_text(calls)}"))
    _identity(s, g, mode)
    granted_classes = _tools(s, agents, obs)
    _tenants_and_domains(s, agents)
    _resources(s, agents)
    _forbidden_chains(s, agents, granted_classes)
    L(Line("limits:", "from observed rates, credentials and sponsor activity"))
    _limits(s, agents, cur, obs, hours_min_days)
    if cur is not None and cur.baseline.model_dump() != type(cur.baseline)().model_dump():
        b = cur.baseline
        L(
            Line(
                f"baseline: {{enabled: {str(b.enabled).lower()}, warmup_events: {b.warmup_events}, "
                f"alert_score: {b.alert_score}, revoke_score: {b.revoke_score}}}",
                "kept from the current charter",
            )
        )
    return s


def _identity(s: Suggestion, g: _Group, mode: str | None) -> None:
    """The kind (the traffic's most common ``agent_kind``), the mission and the mode lines."""
    L, agents, cur = s.lines.append, g.agents, g.current
    kinds: dict[str, int] = {}
    for a in agents:
        for k, n in a.kinds.items():
            kinds[k] = kinds.get(k, 0) + n
    if kinds and max(kinds.values()) > 0:
        kind = max(kinds, key=lambda k: kinds[k])
        why = "agent_kind on " + ", ".join(f"{n:,} {k}" for k, n in sorted(kinds.items()))
    elif cur is not None:
        kind, why = cur.kind, "not in the traffic: kept from the current charter"
    else:
        kind, why = "autonomous", "no agent_kind in the traffic: assumed; review"
    L(Line(f"kind: {kind}", why))

    mission = cur.mission if cur is not None and cur.mission else ""
    if mission:
        L(Line(f"mission: {q(mission)}", "kept from the current charter"))
    else:
        L(Line(f"mission: {q('observed behaviour of ' + g.pattern)}", "write the real mission"))

    if mode is not None:
        L(Line(f"mode: {mode}", "chosen with --mode"))
    elif cur is not None:
        L(Line(f"mode: {cur.mode}", "kept from the current charter"))
    else:
        L(Line("mode: observe", "shadow mode first: review the alerts, then enforce"))


def _tools(s: Suggestion, agents: list[AgentTraffic], obs: Observer) -> set[str]:
    """The tools lines: every tool some call got through, with its classes; a tool the gateway
    denied every time is left out (and said so). Returns the classes granted."""
    L = s.lines.append
    tools: dict[ToolKey, Any] = {}
    for a in agents:
        for key, use in a.tools.items():
            t = tools.setdefault(key, {"seen": Seen(), "classes": set(), "denied": 0, "n": 0})
            t["seen"].merge(use.seen)
            t["classes"] |= use.classes
            t["denied"] += use.denied
            t["n"] += 1
    granted = {k: t for k, t in tools.items() if t["denied"] < t["seen"].count}
    left_out = sorted(set(tools) - set(granted))
    L(Line("tools:", f"{len(granted)} tool(s) used; {len(left_out)} only ever denied, not granted"))
    granted_classes: set[str] = set()
    for (server, tool), t in sorted(granted.items()):
        classes = sorted(t["classes"])
        granted_classes.update(classes)
        denied = f", {t['denied']:,} denied" if t["denied"] else ""
        L(
            Line(
                f"  - {{server: {q(server)}, tool: {q(tool)}, classes: [{', '.join(classes)}]}}",
                f"{seen_text(t['seen'])}{denied}; {t['n']} agent(s); {_origin(obs, server, tool)}",
            )
        )
    for server, tool in left_out:
        t = tools[(server, tool)]
        L(
            Line(
                f"  # not granted: {server}/{tool}",
                f"all {t['seen'].count:,} calls denied by the gateway "
                f"(first {when(t['seen'].first)})",
            )
        )
    s.grants = len(granted)
    return granted_classes


def _tenants_and_domains(s: Suggestion, agents: list[AgentTraffic]) -> None:
    """The tenants and data_domains lines: every one seen, or unset when no call named one."""
    L = s.lines.append
    for scope, label in (("tenants", "tenant"), ("data_domains", "data domain")):
        seen = _merge_seen([a.tenants if scope == "tenants" else a.domains for a in agents])
        if not seen:
            L(Line(f"# {scope}: not set", f"no call named a {label}: any {label} stays allowed"))
            continue
        names = sorted(seen)
        L(
            Line(
                f"{scope}: {qlist(names)}",
                "; ".join(f"{n}: {seen[n].count:,} calls" for n in names[:8])
                + (" …" if len(names) > 8 else ""),
            )
        )
        if scope == "tenants":
            s.tenants = len(names)
        else:
            s.domains = len(names)


def _resources(s: Suggestion, agents: list[AgentTraffic]) -> None:
    """The resources lines: the resources seen, generalised into pattern families."""
    L = s.lines.append
    resources: dict[str, Seen] = _merge_seen([a.resources for a in agents])
    dropped = sum(a.resources_dropped for a in agents)
    if not resources:
        L(Line("# resources: not set", "no call named a resource: any resource stays allowed"))
        return
    fams = generalise(resources)
    extra = f"; {dropped:,} more not kept (memory cap)" if dropped else ""
    L(
        Line(
            "resources:",
            f"{len(resources):,} distinct resources in {len(fams)} families{extra}",
        )
    )
    for f in fams:
        n = sum(resources[r].count for r in resources if f.examples and r in f.examples)
        L(
            Line(
                f"  - {q(f.pattern)}",
                f"{f.resources:,} distinct, e.g. {f.examples[0]}"
                + (f" ({n:,} calls on the examples)" if f.resources == 1 else ""),
            )
        )
    s.resource_patterns = len(fams)


def _forbidden_chains(s: Suggestion, agents: list[AgentTraffic], granted: set[str]) -> None:
    """The forbidden_chains lines: dangerous class orders the agents never took."""
    L = s.lines.append
    chains = _chains(agents, granted)
    s.chains = sum(1 for text, _ in chains if not text.lstrip().startswith("#"))
    if s.chains:
        L(Line("forbidden_chains:", "dangerous class orders this agent never took"))
    elif chains:
        L(Line("forbidden_chains: []", "every dangerous order it can do, it did (below)"))
    for text, why in chains:
        L(Line(text, why))


def _origin(obs: Observer, server: str, tool: str) -> str:
    found = obs.classifier.override(server, tool)
    return f"classes from the mapping ({found[0]})" if found else "classes from the name"


def _chains(agents: list[AgentTraffic], granted: set[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, first, then in DANGEROUS_PAIRS:
        if then not in granted:
            continue
        gap = PairGap()
        n_first = sum(a.class_calls[first] for a in agents)
        n_then = sum(a.class_calls[then] for a in agents)
        for a in agents:
            g = a.pairs.get(name)
            if g is None:
                continue
            gap.within_window += g.within_window
            if g.min_calls is not None:
                gap.min_calls = (
                    g.min_calls if gap.min_calls is None else min(gap.min_calls, g.min_calls)
                )
            if g.min_seconds is not None:
                gap.min_seconds = (
                    g.min_seconds
                    if gap.min_seconds is None
                    else min(gap.min_seconds, g.min_seconds)
                )
            gap.example = gap.example or g.example
        counts = f"{n_first:,} {first} calls, {n_then:,} {then} calls"
        closest = (
            f"closest: {gap.min_calls} calls / {gap.min_seconds:,.0f} s apart"
            if gap.min_calls is not None and gap.min_seconds is not None
            else f"never {then} after {first}"
        )
        within = PATH_WITHIN_CALLS
        if gap.within_window and gap.min_calls is not None:
            # taken inside the default window: forbid it only closer than it was ever taken
            within = gap.min_calls - 1
            if within < 2:
                ex = f" e.g. events {gap.example[0]} → {gap.example[1]}" if gap.example else ""
                out.append(
                    (
                        f"  # not forbidden: {name} ({first} → {then})",
                        f"taken {gap.within_window:,} times on consecutive calls{ex}: "
                        "legitimate? review",
                    )
                )
                continue
            closest += f"; taken {gap.within_window:,} times within {PATH_WITHIN_CALLS} calls"
        out.append(
            (
                f"  - {{name: {name}, sequence: [{first}, {then}], "
                f"within_calls: {within}, within_seconds: {PATH_WITHIN_SECONDS:g}}}",
                f"{counts}; never within {within} calls ({closest})",
            )
        )
    return out


def _limits(
    s: Suggestion,
    agents: list[AgentTraffic],
    cur: Charter | None,
    obs: Observer,
    hours_min_days: int,
) -> None:
    """The limits lines: learned from the traffic where it tells, else kept or defaulted."""
    L = s.lines.append
    busy = [float(n) for a in agents for n in a.per_minute.values()]
    if busy:
        top, p99 = max(busy), _quantile(busy, 0.99)
        limit = max(5, -(-int(2 * top) // 5) * 5)
        L(
            Line(
                f"  max_calls_per_minute: {limit}",
                f"per agent: busiest minute {top:.0f} calls (× 2), 99th percentile {p99:.0f} "
                f"over {len(busy):,} active minutes",
            )
        )
    _credential_ttl(s, agents, cur)
    grace = cur.limits.task_grace_seconds if cur is not None else 30.0
    L(
        Line(
            f"  task_grace_seconds: {grace:g}",
            "kept from the current charter" if cur is not None else "the default",
        )
    )
    _sponsor_quiet(s, agents, cur)
    _working_hours(s, agents, cur, hours_min_days)
    if cur is not None:  # credential and footprint controls are policy, not learned: kept
        lim = cur.limits
        for key in ("require_jit_credentials", "max_tenants_per_hour", "max_domains_per_hour"):
            v = getattr(lim, key)
            if v is not None:
                text = str(v).lower() if isinstance(v, bool) else str(v)
                L(Line(f"  {key}: {text}", "kept from the current charter"))


def _credential_ttl(s: Suggestion, agents: list[AgentTraffic], cur: Charter | None) -> None:
    """The credential_max_ttl line: the longest TTL issued plus headroom, at most the current
    cap; and the issuer TTL the tasks' lengths would allow."""
    ttls = [t for a in agents for t in a.credential_ttls]
    if not ttls:
        return
    cap = ttl_cap(max(ttls), cur.limits.credential_max_ttl if cur is not None else None)
    lengths = [x for a in agents for x in a.task_lengths()]
    task = ""
    if lengths:
        p95 = _quantile(lengths, 0.95)
        need = max(60, math.ceil(p95 * 1.5 / 60) * 60)
        task = f"; tasks p95 {p95:,.0f} s over {len(lengths):,} tasks"
        if need < cap:
            task += f" → an issuer TTL of {need:,} s would do (then lower this cap)"
    s.lines.append(
        Line(
            f"  credential_max_ttl: {cap}",
            f"longest TTL issued {max(ttls):,.0f} s over {len(ttls):,} credentials "
            f"(+{TTL_HEADROOM - 1:.0%} headroom, whole 5 min, at most the current cap){task}",
        )
    )


def _sponsor_quiet(s: Suggestion, agents: list[AgentTraffic], cur: Charter | None) -> None:
    """The sponsor_quiet_seconds line: the current one if it covers the longest sponsor
    silence seen at a call, else that silence + 50 %."""
    quiet = [a.sponsor_quiet_max for a in agents if a.sponsor_quiet_max is not None]
    if not quiet:
        return
    observed = max(quiet)
    learned = max(300, math.ceil(observed * 1.5 / 60) * 60)
    current = cur.limits.sponsor_quiet_seconds if cur is not None else None
    if current is not None and current >= observed:
        s.lines.append(
            Line(
                f"  sponsor_quiet_seconds: {current:g}",
                f"kept from the current charter; longest sponsor silence at a call "
                f"{observed:,.0f} s",
            )
        )
    else:
        s.lines.append(
            Line(
                f"  sponsor_quiet_seconds: {learned}",
                f"longest sponsor silence at a call {observed:,.0f} s, + 50 %",
            )
        )


def _working_hours(
    s: Suggestion, agents: list[AgentTraffic], cur: Charter | None, hours_min_days: int
) -> None:
    """The hours line: kept, learned from ``hours_min_days`` days or more, or left unset."""
    days = len({d for a in agents for d in a.days})
    if cur is not None and cur.limits.hours is not None:
        s.lines.append(
            Line(f"  hours: {q(cur.limits.hours)}", "kept from the current charter (UTC)")
        )
    elif days >= hours_min_days and (h := _hours(agents)) is not None:
        s.lines.append(Line(f"  hours: {q(h[0])}", f"{h[1]} over {days} days (UTC)"))
    else:
        s.lines.append(
            Line(
                "  # hours: not set",
                f"{days} day(s) of traffic; working hours are learned from {hours_min_days}+",
            )
        )


def render_summary(suggestions: list[Suggestion]) -> str:
    rows = [
        "| charter | agents | calls | grants | resource patterns | tenants | domains | chains "
        "| breadth before → after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in suggestions:
        d = s.size()
        rows.append(
            f"| `{d['charter']}` | {d['agents']} | {d['calls']:,} | {d['grants']} | "
            f"{d['resource_patterns']} | {d['tenants'] if d['tenants'] is not None else 'any'} | "
            f"{d['data_domains'] if d['data_domains'] is not None else 'any'} | "
            f"{d['forbidden_chains']} | {_breadth_change(s)} |"
        )
    return "\n".join(rows)


def _breadth_change(s: Suggestion) -> str:
    before = "—" if s.breadth_before is None else str(s.breadth_before)
    after = "—" if s.breadth_after is None else str(s.breadth_after)
    broad = s.breadth_after is not None and breadth(s.charter()).too_broad
    return f"{before} → {after}" + (" (too broad for static scoping)" if broad else "")
