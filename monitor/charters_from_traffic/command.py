"""``mcpmon map`` and ``mcpmon charter suggest|diff|evaluate``: arguments, help and wiring.

Kept apart from :mod:`monitor.cli`, which only registers them; building the
parsers imports nothing heavy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from monitor.command_support import out_dir

SOURCE_HELP = "recorded events, one JSON object a line (- for stdin); or use --topic"
KAFKA_EPILOG = """\
Kafka input: --topic mcp.events reads every partition of the topic from the
beginning up to its end offset when the command started, or --to
(MCPMON_KAFKA_BOOTSTRAP, default 127.0.0.1:9092), keeping records whose offset
— or, given an RFC 3339 time such as 2026-03-02T08:00:00Z, whose record
timestamp — lies in [--from, --to] (inclusive, per partition).
"""

MAP_DESCRIPTION = """\
Draw each agent's workflow from recorded traffic: its tools (nodes, with call
counts and capability classes), tool-to-tool transitions with counts (edges),
the tenants, data domains and resource families it touched, and its escalation
points — calls in the exec, admin, credential and egress classes, and
read_secret → egress paths (within 10 calls and 600 s). Classes are inferred
from tool names and arguments; --mapping overrides them.

Writes OUT/map.json (summary per agent), OUT/map.dot (Graphviz), OUT/map.png
(when Graphviz `dot` is installed: bash scripts/chromium.sh install) and
OUT/map.html — one self-contained page, no network needed to view it: pick an
agent, hover a tool to highlight its transitions, drag nodes. Progress shows
on stderr when it is a terminal.
"""

SUGGEST_DESCRIPTION = """\
Propose a least-privilege charter per agent group from observed traffic, one
YAML file per charter in OUT (check-charter accepts every one). Each line
carries its evidence in a comment: counts, first/last seen, the percentile a
limit came from. What it learns:

  tools            every server/tool used, with capability classes inferred
                   from the name/arguments (or --mapping); tools whose every
                   call the gateway denied are left out
  resources        globs generalised just enough per family, e.g.
                   mailto:*@corp.com, file:///repo/app/**, fleet://prod/*
  tenants, data_domains   those named by calls
  forbidden_chains read_secret→egress, read_untrusted→exec, credential→admin
                   for every pair the agent can do but never did within 10
                   calls (tighter if it did, further apart)
  limits           max_calls_per_minute = 2 × the busiest minute;
                   credential_max_ttl = the longest TTL issued +25% headroom,
                   in whole 5 minutes, at most the current cap (the comment
                   gives the TTL task lengths would need); sponsor_quiet from
                   the longest sponsor silence; hours only from 7+ days

Grouping: with --current, agents are grouped by the charter that governs them
now, and what traffic cannot teach (mission, mode, hours, task grace, baseline)
is kept from it; otherwise by id with its trailing number made a glob
(coding-assistant-007 → coding-assistant-*); --per-agent gives one charter per
agent id. Suggested charters start in observe mode unless --current or --mode
says otherwise. Review them, then test with:
  mcpmon replay EVENTS --charters OUT --out whatif --compare-charters CURRENT
"""

DIFF_DESCRIPTION = """\
A semantic diff of two charter sets (files or directories), matched by agent
pattern: grants added or removed, capability classes gained or lost, tenants,
data domains and resources widened or narrowed, forbidden chains and their
windows, limits, mode, hours and baseline thresholds. Each change is marked
RISKIER (more privilege or less detection), safer, or review. Exit status: 1
when any change is riskier (so CI can require an approval), 0 otherwise, 2 on
errors (usage, an unreadable or invalid charter: never read as "riskier").
"""

EVALUATE_DESCRIPTION = """\
Measure suggest on the simulator: learn charters from the first part of each
run (attack-labelled events left out), replay the whole run with the rule
detectors, and report false positives per 1,000 held-out benign calls and the
attacks caught — beside the simulator's hand-written charters and a broad
`*/*` charter per pattern, with their sizes. Writes OUT/charter_suggest.md and
OUT/charter_suggest.json. Exit 1 if suggested charters exceed 1 false positive
per 1,000 held-out calls or miss an out-of-charter attack.
"""


def _add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("events", nargs="?", metavar="EVENTS.jsonl", help=SOURCE_HELP)
    p.add_argument("--topic", metavar="TOPIC", help="read this Kafka topic instead of a file")
    p.add_argument("--from", dest="start", metavar="OFFSET|TIME", help="first offset or time")
    p.add_argument("--to", dest="stop", metavar="OFFSET|TIME", help="last offset or time")
    p.add_argument(
        "--idle", type=float, default=10.0, help="Kafka: give up after S seconds with nothing new"
    )
    p.add_argument("--mapping", metavar="FILE", help="YAML: classes per server/tool glob")


def add_map_parser(sub: Any) -> None:
    m = sub.add_parser(
        "map",
        help="draw each agent's workflow, data paths and escalation points (HTML, DOT, PNG, JSON)",
        description=MAP_DESCRIPTION,
        epilog=KAFKA_EPILOG + "\nExample: mcpmon map sim/events.jsonl --out map && "
        "chromium map/map.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_source(m)
    m.add_argument(
        "--out", default="map", type=out_dir, metavar="DIR", help="output directory (default map)"
    )
    m.set_defaults(func=cmd_map)


def add_charter_parser(sub: Any) -> None:
    c = sub.add_parser(
        "charter",
        help="charters from observed behaviour: suggest, diff, evaluate",
        description="suggest: least-privilege charters from traffic; diff: what a charter "
        "change grants or removes; evaluate: suggest measured on the simulator. What-if on "
        "past traffic: mcpmon replay EVENTS --charters NEW --out DIR --compare-charters OLD.",
    )
    cs = c.add_subparsers(dest="charter_command", metavar="ACTION", required=True)
    s = cs.add_parser(
        "suggest",
        help="propose a least-privilege charter per agent group, every line with its evidence",
        description=SUGGEST_DESCRIPTION,
        epilog=KAFKA_EPILOG + "\nExample: mcpmon charter suggest sim/events.jsonl "
        "--current sim/charters --out suggested && mcpmon check-charter suggested",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_source(s)
    s.add_argument(
        "--out", required=True, type=out_dir, metavar="DIR", help="where to write *.yaml"
    )
    s.add_argument("--current", metavar="DIR", help="charters in force now (grouping, policy)")
    s.add_argument("--per-agent", action="store_true", help="one charter per agent id")
    s.add_argument("--mode", choices=["observe", "enforce"], help="mode of every suggestion")
    s.add_argument(
        "--hours-min-days", type=int, default=7, help="learn hours from this many days (7)"
    )
    s.add_argument(
        "--exclude-alerted",
        metavar="ALERTS.jsonl",
        help="do not learn from calls these alerts point at, nor from the rest of their "
        "sessions and tasks (e.g. mcpmon replay's out/alerts.jsonl): an attack in the "
        "recorded traffic must not become a grant",
    )
    s.add_argument("--json", action="store_true", help="print the sizes as JSON")
    s.set_defaults(func=cmd_suggest)

    d = cs.add_parser(
        "diff",
        help="semantic diff of two charter sets; exit 1 if any change is riskier, 2 on error",
        description=DIFF_DESCRIPTION,
        epilog="Example: mcpmon charter diff sim/charters suggested",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("old", metavar="OLD", help="charter file or directory (before)")
    d.add_argument("new", metavar="NEW", help="charter file or directory (after)")
    d.add_argument("--json", action="store_true", help="JSON instead of text")
    d.set_defaults(func=cmd_diff)

    e = cs.add_parser(
        "evaluate",
        help="suggest → replay on held-out simulated traffic: sizes, false positives, catch rate",
        description=EVALUATE_DESCRIPTION,
        epilog="Example: mcpmon charter evaluate --seeds 11,12,13,14,15 --out results",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument(
        "--seeds",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[11, 12, 13, 14, 15],
        help="comma-separated simulator seeds (default 11-15)",
    )
    e.add_argument("--agents", type=int, default=60, help="agents per seed (60)")
    e.add_argument("--minutes", type=float, default=360, help="simulated minutes per seed (360)")
    e.add_argument(
        "--train-fraction", type=float, default=0.5, help="share of time learned from (0.5)"
    )
    e.add_argument(
        "--out", default="results", type=out_dir, metavar="DIR", help="output directory (results)"
    )
    e.set_defaults(func=cmd_evaluate)


# ------------------------------------------------------------------------- handlers


def _alerted(path: str) -> Any:
    import orjson

    from monitor.charters_from_traffic.traffic import Alerted
    from monitor.errors import MonitorError
    from monitor.replay import read_lines

    if not Path(path).exists():
        raise MonitorError(f"--exclude-alerted: {path} not found")
    out = Alerted()
    for n, raw in enumerate(read_lines(path), 1):
        if not isinstance(raw, bytes) or not raw.strip():
            continue
        try:
            alert = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise MonitorError(f"--exclude-alerted: {path}:{n}: not JSON ({err})") from None
        if not isinstance(alert, dict) or "evidence" not in alert:
            raise MonitorError(f"--exclude-alerted: {path}:{n}: not an alert (no evidence)")
        out.add(alert)
    return out


def _observe(args: argparse.Namespace) -> Any:
    from monitor.charters_from_traffic.classes import Classifier, load_mapping
    from monitor.charters_from_traffic.traffic import (
        Observer,
        file_lines,
        kafka_lines,
        observe_lines,
    )
    from monitor.errors import MonitorError

    alerted = _alerted(args.exclude_alerted) if getattr(args, "exclude_alerted", None) else None
    obs = Observer(load_mapping(args.mapping) if args.mapping else Classifier(), alerted)
    if args.topic and args.events:
        raise MonitorError("give either EVENTS.jsonl or --topic, not both")
    if args.topic:
        from monitor.settings import load_settings

        bootstrap = load_settings({}, uses=("kafka",)).kafka_bootstrap
        lines = kafka_lines(bootstrap, args.topic, args.start, args.stop, idle=args.idle)
        observe_lines(lines, obs, sys.stderr)
    elif args.events:
        if args.start or args.stop:
            raise MonitorError("--from/--to select a Kafka range: use them with --topic")
        size = Path(args.events).stat().st_size if Path(args.events).is_file() else 0
        observe_lines(file_lines(args.events), obs, sys.stderr, size)
    else:
        raise MonitorError("no input: give EVENTS.jsonl (or -) or --topic TOPIC")
    if alerted is not None:
        print(
            f"left out {alerted.skipped:,} calls that {args.exclude_alerted} points at "
            f"({len(alerted.events):,} evidence events, {len(alerted.episodes):,} sessions/tasks)",
            file=sys.stderr,
        )
    if obs.bad_lines:
        print(
            f"skipped {obs.bad_lines:,} undecodable lines (mcpmon replay dead-letters them "
            "with reasons)",
            file=sys.stderr,
        )
    return obs


def cmd_map(args: argparse.Namespace) -> int:
    from monitor.charters_from_traffic.map import write_map

    obs = _observe(args)
    paths = write_map(obs, args.out, title=args.topic or args.events)
    agents = sum(1 for a in obs.agents.values() if a.calls.count)
    print(f"mapped {obs.total_calls():,} calls of {agents} agents")
    for p in paths.values():
        print(f"wrote {p}")
    if "png" not in paths:
        print("no map.png: Graphviz `dot` is not installed (bash scripts/chromium.sh install)")
    return 0


SUGGEST_HEADER = "# suggested by mcpmon charter suggest"


def cmd_suggest(args: argparse.Namespace) -> int:
    import orjson

    from monitor.charter import load_charter_dir
    from monitor.charters_from_traffic.suggest import render_summary, suggest
    from monitor.core.policy import CharterSet
    from monitor.errors import MonitorError
    from monitor.simulate import safe_name

    current = CharterSet(load_charter_dir(args.current)) if args.current else None
    obs = _observe(args)
    suggestions = suggest(obs, current, args.per_agent, args.hours_min_days, args.mode)
    if not suggestions:
        raise MonitorError("no tool calls in the input: nothing to suggest")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    foreign = [
        p
        for p in [*out.glob("*.yaml"), *out.glob("*.yml")]
        if not p.read_text(encoding="utf-8", errors="replace").startswith(SUGGEST_HEADER)
    ]
    if foreign:
        raise MonitorError(
            f"{out} holds charters suggest did not write ({foreign[0].name} …): "
            "choose an empty directory"
        )
    for old in out.glob("*.yaml"):
        old.unlink()  # a stale suggestion would silently govern a what-if replay
    window = f"{obs.start and _when(obs.start)} – {obs.end and _when(obs.end)} UTC"
    for s in suggestions:
        path = out / f"{safe_name(s.pattern)}.yaml"
        path.write_text(
            f"{SUGGEST_HEADER} from {obs.total_calls():,} calls, {window}\n{s.yaml()}",
            encoding="utf-8",
        )
    if args.json:
        sizes = [s.size() for s in suggestions]
        sys.stdout.write(orjson.dumps(sizes, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(render_summary(suggestions))
        print(f"wrote {len(suggestions)} charter(s) to {out}/ (check: mcpmon check-charter {out})")
    return 0


def _when(t: float) -> str:
    from monitor.charters_from_traffic.suggest import when

    return when(t)


def cmd_diff(args: argparse.Namespace) -> int:
    import orjson

    from monitor.charter import load_charter_dir
    from monitor.charters_from_traffic.diff import RISKIER, diff_charters, render, to_dict
    from monitor.errors import CharterError, MonitorError

    try:
        changes = diff_charters(load_charter_dir(args.old), load_charter_dir(args.new))
    except CharterError as err:  # exit 2: an error, never mistaken for "riskier" (1)
        for p in err.problems:
            print(f"error: {p}", file=sys.stderr)
        return 2
    except MonitorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(orjson.dumps(to_dict(changes), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(render(changes))
    return 1 if any(c.verdict == RISKIER for c in changes) else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import orjson

    from monitor.charters_from_traffic.evaluation import evaluate_suggest

    ev = evaluate_suggest(args.seeds, args.agents, args.minutes, args.train_fraction)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "charter_suggest.md").write_text(ev.to_markdown(), encoding="utf-8")
    (out / "charter_suggest.json").write_bytes(
        orjson.dumps(ev.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"
    )
    print(ev.to_markdown())
    print(f"wrote {out}/charter_suggest.md and charter_suggest.json")
    return 0 if ev.passed() else 1


def run_whatif(args: argparse.Namespace, engine_settings: Any) -> str:
    """``replay --compare-charters``: the old charters over the same events; diff the outputs."""
    from monitor.charter import load_charter_dir
    from monitor.charters_from_traffic.whatif import compare, read_jsonl, run_engine, write_whatif
    from monitor.core import Engine
    from monitor.replay import read_lines

    old_engine = Engine(load_charter_dir(args.compare_charters), engine_settings)
    old_alerts, old_revs = run_engine(read_lines(args.events), old_engine)
    out = Path(args.out)
    w = compare(
        old_alerts,
        old_revs,
        read_jsonl(out / "alerts.jsonl"),
        read_jsonl(out / "revocations.jsonl"),
    )
    md, js = write_whatif(w, out, args.compare_charters, args.charters)
    return f"{w.summary()}\nwrote {md} and {js}"
