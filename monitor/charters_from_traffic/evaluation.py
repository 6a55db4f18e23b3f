"""Suggest → replay on held-out traffic: are learned charters tight *and* quiet?

The question behind ``charter suggest``: does a charter learned from past
benign traffic stay silent on tomorrow's benign traffic, and still catch calls
outside what the agent legitimately does? Measured on the simulator:

1. simulate a labelled fleet (``seed``, with attacks);
2. **learn** from the first ``train_fraction`` of its time, without the
   attack-labelled events (suggest learns whatever it is shown: it must be
   shown benign traffic); clauses traffic cannot teach (mission, mode, a
   sponsor's shift in ``hours``, grace) come from the simulator's charters as
   "current" — exactly what ``mcpmon charter suggest --current`` does;
3. **replay** the whole stream with the rule detectors on the suggested
   charters (the one :class:`~monitor.core.Engine`);
4. **false positives**: alerts at or after the cut whose evidence holds no
   attack-labelled event, per 1,000 benign tool calls after the cut (held out:
   never seen by suggest); **catch**: attacks whose labelled event is in an
   alert's evidence, for every ``out_of_charter_tool`` attack of the run.

The same replay is run on the simulator's hand-written tight charters and on a
*broad* charter per agent pattern (``tools: [{server: "*", tool: "*"}]``, any
tenant, domain and resource, no chains, no limits — the standing grant teams
fall back to) for comparison.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from monitor.charter import Charter
from monitor.charters_from_traffic.suggest import Suggestion, suggest
from monitor.charters_from_traffic.traffic import Observer
from monitor.charters_from_traffic.whatif import run_engine
from monitor.core import Engine, EngineSettings
from monitor.core.policy import CharterSet, CompiledCharter
from monitor.evaluate import RULE_DETECTORS
from monitor.events import decode_event
from monitor.simulate import simulate

OOC = "out_of_charter_tool"
BEHAVIOUR = "behaviour_anomaly"
#: The issue's bar: held-out benign false positives per 1,000 calls.
MAX_FP_PER_1K = 1.0


def broad_charter(c: Charter) -> Charter:
    """The standing grant a tight charter replaces: every tool, anywhere, no chains or limits."""
    return Charter.model_validate(
        {
            "agent": c.agent,
            "kind": c.kind,
            "mission": c.mission,
            "mode": c.mode,
            "tools": [{"server": "*", "tool": "*", "classes": []}],
        }
    )


def charter_size(c: Charter, fleet_tools: set[tuple[str, str]]) -> dict[str, Any]:
    """Grant lines, (server, tool) pairs of the fleet it grants, resource patterns, scopes."""
    cc = CompiledCharter(c)
    return {
        "grant_lines": len(c.tools),
        "fleet_tools_granted": sum(1 for s, t in fleet_tools if cc.grant(s, t) is not None),
        "resource_patterns": None if c.resources is None else len(c.resources),
        "tenants": None if c.tenants is None else len(c.tenants),
        "data_domains": None if c.data_domains is None else len(c.data_domains),
        "forbidden_chains": len(c.forbidden_chains),
    }


@dataclass(slots=True)
class Outcome:
    """One charter set on one run."""

    alerts: int = 0
    held_out_fp: int = 0
    in_sample_fp: int = 0
    attacks: Counter[str] = field(default_factory=Counter)  # detector -> injected
    caught: Counter[str] = field(default_factory=Counter)  # detector -> caught
    missed: list[str] = field(default_factory=list)  # scenario names
    fp_by_detector: Counter[str] = field(default_factory=Counter)  # held-out false positives

    def add(self, o: Outcome) -> None:
        self.alerts += o.alerts
        self.held_out_fp += o.held_out_fp
        self.in_sample_fp += o.in_sample_fp
        self.attacks.update(o.attacks)
        self.caught.update(o.caught)
        self.missed += o.missed
        self.fp_by_detector.update(o.fp_by_detector)


@dataclass(slots=True)
class SuggestEvaluation:
    seeds: list[int]
    agents: int
    minutes: float
    train_fraction: float
    train_calls: int = 0
    held_out_calls: int = 0
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    sizes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fleet_tools: int = 0

    def fp_per_1k(self, name: str) -> float:
        return 1000 * self.outcomes[name].held_out_fp / max(1, self.held_out_calls)

    def catch_rate(self, name: str, detector: str = OOC) -> float:
        o = self.outcomes[name]
        return o.caught[detector] / o.attacks[detector] if o.attacks[detector] else 1.0

    def passed(self) -> bool:
        return self.fp_per_1k("suggested") <= MAX_FP_PER_1K and self.catch_rate("suggested") == 1.0

    def totals(self, name: str) -> dict[str, Any]:
        rows = self.sizes[name]
        return {
            k: (None if any(r[k] is None for r in rows) else sum(r[k] for r in rows))
            for k in (
                "grant_lines",
                "fleet_tools_granted",
                "resource_patterns",
                "tenants",
                "data_domains",
                "forbidden_chains",
            )
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "seeds": self.seeds,
            "agents": self.agents,
            "minutes": self.minutes,
            "train_fraction": self.train_fraction,
            "train_calls": self.train_calls,
            "held_out_calls": self.held_out_calls,
            "fleet_tools": self.fleet_tools,
            "passed": self.passed(),
            "charter_sets": {
                name: {
                    "fp_held_out": o.held_out_fp,
                    "fp_per_1k_held_out": round(self.fp_per_1k(name), 3),
                    "fp_in_sample": o.in_sample_fp,
                    "attacks": dict(o.attacks),
                    "caught": dict(o.caught),
                    "missed": o.missed,
                    "fp_by_detector": dict(o.fp_by_detector),
                    "size": self.totals(name),
                }
                for name, o in self.outcomes.items()
            },
            "sizes": self.sizes,
        }

    def to_markdown(self) -> str:
        def any_(v: Any) -> str:
            return "any" if v is None else f"{v:,}"

        names = ("broad", "simulator", "suggested")
        out = [
            "# Charters suggested from traffic: size, false positives, catch rate",
            "",
            f"Seeds {', '.join(map(str, self.seeds))}: {self.agents} agents × "
            f"{self.minutes:g} simulated minutes each. `mcpmon charter suggest` learned from the "
            f"first {self.train_fraction:.0%} of each run's time (attack-labelled events left "
            f"out: {self.train_calls:,} calls) with the simulator's charters as `--current`; the "
            "rule detectors then replayed the whole run. False positives are counted on the "
            f"held-out rest ({self.held_out_calls:,} benign calls never shown to suggest). "
            "Produced by `mcpmon charter evaluate` (monitor/charters_from_traffic/evaluation.py).",
            "",
            "| charter set | grant lines | fleet tools granted (of "
            f"{self.fleet_tools}) | resource patterns | tenants | data domains | forbidden "
            "chains | FP / 1,000 held-out benign calls | out-of-charter attacks caught | "
            "all rule attacks caught | behaviour-only attacks caught (rules only) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name in names:
            if name not in self.outcomes:
                continue
            t, o = self.totals(name), self.outcomes[name]
            all_att = sum(n for d, n in o.attacks.items() if d in RULE_DETECTORS)
            all_c = sum(n for d, n in o.caught.items() if d in RULE_DETECTORS)
            out.append(
                f"| {name} | {t['grant_lines']:,} | {t['fleet_tools_granted']:,} | "
                f"{any_(t['resource_patterns'])} | {any_(t['tenants'])} | "
                f"{any_(t['data_domains'])} | {t['forbidden_chains']} | "
                f"{self.fp_per_1k(name):.3f} ({o.held_out_fp}) | "
                f"{o.caught[OOC]}/{o.attacks[OOC]} | {all_c}/{all_att} | "
                f"{o.caught[BEHAVIOUR]}/{o.attacks[BEHAVIOUR]} |"
            )
        out += [
            "",
            "Sizes are summed over the charters of all runs (one per agent pattern, or per "
            "agent where the simulator has an exact charter). *fleet tools granted*: of the "
            "distinct server/tool pairs any agent of the run used, how many each charter "
            "grants, summed over charters — a broad `*/*` grants all of them to every "
            "pattern. *any*: the charter sets no restriction.",
            "",
        ]
        for name in names:
            missed = self.outcomes[name].missed if name in self.outcomes else []
            if missed:
                shown = ", ".join(f"{k} ×{n}" for k, n in Counter(missed).most_common())
                out.append(f"- {name}: attacks not caught: {shown}")
        for name in names:
            fps = self.outcomes[name].fp_by_detector if name in self.outcomes else Counter()
            if fps:
                shown = ", ".join(f"{k} ×{n}" for k, n in fps.most_common())
                out.append(f"- {name}: held-out false positives by detector: {shown}")
        out += ["", "## Per charter (first seed)", ""]
        out.append(
            "| charter | broad: grants / fleet tools | simulator: grants / resources | "
            "suggested: grants / resources / chains |"
        )
        out.append("|---|---|---|---|")
        by = {n: {r["charter"]: r for r in self.sizes.get(n, []) if r["seed"] == self.seeds[0]}
              for n in names}  # fmt: skip
        for pattern in sorted(by["suggested"]):
            b, s, g = (
                by["broad"].get(pattern),
                by["simulator"].get(pattern),
                by["suggested"][pattern],
            )
            out.append(
                f"| `{pattern}` | "
                + (f"1 / {b['fleet_tools_granted']}" if b else "—")
                + " | "
                + (f"{s['grant_lines']} / {any_(s['resource_patterns'])}" if s else "—")
                + f" | {g['grant_lines']} / {any_(g['resource_patterns'])} / "
                f"{g['forbidden_chains']} |"
            )
        return "\n".join(out) + "\n"


def _replay(events: list[bytes], charters: Sequence[Charter]) -> list[dict]:
    engine = Engine(charters, EngineSettings(detectors=RULE_DETECTORS))
    alerts, _ = run_engine(events, engine)
    return alerts


def _score(
    alerts: list[dict], attack_labels: dict[str, dict], cut_iso: str, sim_start_iso: str
) -> Outcome:
    o = Outcome(alerts=len(alerts))
    hit: set[str] = set()
    for a in alerts:
        ev = set(a["evidence"])
        hits = ev & attack_labels.keys()
        if hits:
            hit |= hits
            continue
        # ts strings are RFC 3339 from one serializer: comparable as datetimes
        if _ts(a["ts"]) >= _ts(cut_iso):
            o.held_out_fp += 1
            o.fp_by_detector[a["detector"]] += 1
        else:
            o.in_sample_fp += 1
    for eid, lab in attack_labels.items():
        det = lab.get("detector") or "?"
        o.attacks[det] += 1
        if eid in hit:
            o.caught[det] += 1
        else:
            o.missed.append(str(lab.get("scenario")))
    return o


def _ts(s: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def evaluate_suggest(
    seeds: Sequence[int] = (11, 12, 13, 14, 15),
    agents: int = 60,
    minutes: float = 360,
    train_fraction: float = 0.5,
) -> SuggestEvaluation:
    ev = SuggestEvaluation(list(seeds), agents, minutes, train_fraction)
    fleet_total = 0
    for seed in seeds:
        sim = simulate(agents, minutes, seed, attacks=True)
        lines = [orjson.dumps(e) for e in sim.events]
        labels = {lab["event_id"]: lab for lab in sim.labels if lab["label"] == "attack"}
        start, end = _ts(sim.events[0]["ts"]), _ts(sim.events[-1]["ts"])
        cut = start + train_fraction * (end - start)
        from datetime import UTC, datetime

        cut_iso = datetime.fromtimestamp(cut, UTC).isoformat()
        obs = Observer()
        fleet: set[tuple[str, str]] = set()
        for e in sim.events:
            if e["type"] == "tool_call":
                fleet.add((e["server"], e["tool"]))
            t = _ts(e["ts"])
            if e["event_id"] in labels:
                continue
            if t < cut:
                obs.observe(decode_event(orjson.dumps(e)))
            elif e["type"] == "tool_call":
                ev.held_out_calls += 1
        ev.train_calls += obs.total_calls()
        fleet_total = max(fleet_total, len(fleet))
        suggestions: list[Suggestion] = suggest(obs, CharterSet(sim.charters))
        suggested = [s.charter() for s in suggestions]
        sets = {
            "broad": [broad_charter(c) for c in suggested],
            "simulator": list(sim.charters),
            "suggested": suggested,
        }
        for name, charters in sets.items():
            out = _score(_replay(lines, charters), labels, cut_iso, sim.events[0]["ts"])
            ev.outcomes.setdefault(name, Outcome()).add(out)
            ev.sizes.setdefault(name, []).extend(
                {"seed": seed, "charter": c.agent, **charter_size(c, fleet)} for c in charters
            )
    ev.fleet_tools = fleet_total
    return ev
