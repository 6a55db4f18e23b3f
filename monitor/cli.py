"""``mcpmon``: the command line. Every sub-command is a thin shell over the core."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from monitor import __version__
from monitor.charters_from_traffic.command import add_charter_parser, add_map_parser
from monitor.corpora.registry import CORPORA
from monitor.errors import CharterError, MonitorError
from monitor.proxy.command import add_proxy_parser
from monitor.revoker.command import add_revoker_parser
from monitor.signing_command import add_sign_charter_parser
from monitor.sinks.command import add_sink_parser
from monitor.tap.command import add_tap_parser

EPILOG = "Contracts and charter format: README.md and schemas/. Exit status: 0 ok, 1 findings/problems, 2 usage."


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from monitor.settings import load_settings

    return load_settings(
        {
            "force_observe": True if getattr(args, "observe", False) else None,
            "allowed_lateness_seconds": getattr(args, "lateness", None),
            "alert_dedup_seconds": getattr(args, "dedup_seconds", None),
        }
    )


def _engine(charters_dir: str, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from monitor.charter import load_charter_dir
    from monitor.core import Engine

    return Engine(load_charter_dir(charters_dir), _settings(args).engine())


# ---------------------------------------------------------------- replay
def cmd_replay(args: argparse.Namespace) -> int:
    from monitor.output_contracts import RevocationCommand
    from monitor.replay import replay_file
    from monitor.signing import CommandSigner

    engine = _engine(args.charters, args)
    if args.events != "-" and (not Path(args.events).exists() or Path(args.events).is_dir()):
        # exists, not is_file: <(zcat events.gz) and /dev/stdin are not regular files
        raise MonitorError(f"events file not found: {args.events}")
    ring = _settings(args).command_keyring()  # sign as the worker does, when it has a key
    encode = CommandSigner(ring).encode if ring is not None else RevocationCommand.to_json
    if args.compare_charters and args.events == "-":
        raise MonitorError("--compare-charters replays the events twice: give a file, not -")
    summary = replay_file(
        args.events,
        engine,
        args.out,
        progress=sys.stderr,
        encode_command=encode,
        revocations=args.revocations,
        deadletter=args.deadletter,
    )
    whatif = None
    if args.compare_charters:
        from monitor.charters_from_traffic.command import run_whatif

        whatif = run_whatif(args, _settings(args).engine())
    report = sys.stderr if args.out == "-" else sys.stdout  # stdout carries the alerts then
    if args.json:
        report.write(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(summary.render(), file=report)
        where = "stdout" if args.out == "-" else f"{args.out}/alerts.jsonl"
        rev = args.revocations or f"{args.out}/revocations.jsonl"
        dead = args.deadletter or f"{args.out}/deadletter.jsonl"
        print(f"wrote alerts to {where}, {rev}, {dead}", file=report)
    if whatif:
        print(whatif, file=sys.stderr if args.json or args.out == "-" else sys.stdout)
    return 0


# ---------------------------------------------------------------- check-charter
def cmd_check_charter(args: argparse.Namespace) -> int:
    from monitor.charter import charter_warnings, load_charter_dir
    from monitor.core.breadth import breadth

    failed = 0
    report: list[dict[str, object]] = []
    for path in args.files:
        try:
            charters = load_charter_dir(path)
        except CharterError as err:
            failed += 1
            problems = [str(p) for p in err.problems]
            report.append({"path": path, "ok": False, "errors": problems})
            if not args.json:
                for p in problems:
                    print(f"error: {p}")
            continue
        for c in charters:
            b = breadth(c)
            warnings = [b.warning()] if b.too_broad else []  # valid: a finding, not a failure
            warnings += [f"{c.agent}: {w}" for w in charter_warnings(c)]
            report.append(
                {
                    "path": path,
                    "ok": True,
                    "agent": c.agent,
                    "kind": c.kind,
                    "mode": c.mode,
                    "tools": len(c.tools),
                    "forbidden_chains": len(c.forbidden_chains),
                    "breadth": b.to_dict(),
                    "warnings": warnings,
                }
            )
            if args.json:
                continue
            print(
                f"ok: {path}: {c.agent} ({c.kind}, {c.mode}, {len(c.tools)} tools, "
                f"{len(c.forbidden_chains)} forbidden chains, {b.summary()})"
            )
            for w in warnings:
                print(f"warning: {path}: {w}")
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 1 if failed else 0


# ---------------------------------------------------------------- schemas
def cmd_schemas(args: argparse.Namespace) -> int:
    from monitor import schemas

    if args.check:
        bad = schemas.stale(args.out)
        if bad:
            print(
                f"stale schema files in {args.out}: {', '.join(bad)} (run: mcpmon schemas --out {args.out})"
            )
            return 1
        print(f"{args.out}: up to date")
        return 0
    for p in schemas.write(args.out):
        print(f"wrote {p}")
    return 0


# ---------------------------------------------------------------- simulate / evaluate
def cmd_simulate(args: argparse.Namespace) -> int:
    from monitor import simulate

    sim = simulate.simulate(args.agents, args.minutes, args.seed, attacks=not args.no_attacks)
    simulate.write(sim, args.out)
    n_attacks = sum(1 for label in sim.labels if label["label"] == "attack")
    if args.json:
        summary = {
            "events": len(sim.events),
            "charters": len(sim.charters),
            "labels": len(sim.labels),
            "attacks": n_attacks,
            "out": str(args.out),
        }
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(
        f"wrote {len(sim.events):,} events, {len(sim.charters)} charters, {len(sim.labels)} labels "
        f"({n_attacks} injected violations) to {args.out}/"
    )
    return 0


def cmd_evaluate_corpus(args: argparse.Namespace) -> int:
    from monitor.corpora import registry
    from monitor.corpora.scoring import PARTS, evaluate_corpus, meets_target

    corpus = registry.load(args.corpus, args.source)
    parts = PARTS if args.part == "all" else (args.part,)
    report = evaluate_corpus(corpus, parts, _settings(args).engine())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"external_{args.corpus}.md", out / f"external_{args.corpus}.json"
    md.write_text(report.to_markdown())
    js.write_bytes(report.to_json())
    if args.json:
        sys.stdout.buffer.write(report.to_json())
        print(f"wrote {md} and {js}", file=sys.stderr)
    else:
        print(report.to_markdown())
        print(f"wrote {md} and {js}")
    return 0 if meets_target(report) else 1


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.corpus is not None:
        return cmd_evaluate_corpus(args)
    if args.source is not None or args.part != "all":
        raise MonitorError("--source and --part go with --corpus NAME")
    from monitor.evaluate import evaluate_seeds

    report = evaluate_seeds(args.agents, args.minutes, args.seeds, _settings(args).engine())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "detection.md").write_text(report.to_markdown())
    (out / "detection.json").write_bytes(report.to_json())
    if args.json:
        sys.stdout.buffer.write(report.to_json())
        print(f"wrote {out}/detection.md and detection.json", file=sys.stderr)
    else:
        print(report.to_markdown())
        print(f"wrote {out}/detection.md and detection.json")
    return 0 if report.passed() else 1


# ---------------------------------------------------------------- bench
REPLAY_DEFAULT_EVENTS = 500_000
TAP_DEFAULT_LINES = 200_000
KAFKA_DEFAULT_RATE = 2000.0
KAFKA_DEFAULT_SECONDS = 20.0


def _given(value: float | None, default: float) -> float:
    """A flag's value, or the benchmark's own default when the flag was not given.

    The flags default to ``None`` so that "not given" is never confused with a
    value that happens to equal another benchmark's default (``bench soak
    --rate 2000`` once ran at 400/s).
    """
    return default if value is None else value


def cmd_bench(args: argparse.Namespace) -> int:
    from monitor import bench

    if args.what == "replay":
        n = int(_given(args.events, REPLAY_DEFAULT_EVENTS))
        return bench.bench_replay(n, args.seed, args.rounds, args.file)
    if args.what == "baseline":
        n = int(_given(args.events, REPLAY_DEFAULT_EVENTS))
        rc = bench.bench_baseline(n, args.seed, args.rounds)
        return rc or bench.bench_baseline_memory()
    if args.what == "tap":
        from monitor.tap.bench import bench_tap

        return bench_tap(
            int(_given(args.events, TAP_DEFAULT_LINES)), args.seed, args.rounds, args.file
        )
    if args.what == "kafka":
        from monitor.bench_kafka import KAFKA_DEFAULT_EVENTS, bench_kafka

        return bench_kafka(
            _settings(args).kafka_bootstrap,
            int(_given(args.events, KAFKA_DEFAULT_EVENTS)),
            args.seed,
            _given(args.rate, KAFKA_DEFAULT_RATE),
            _given(args.seconds, KAFKA_DEFAULT_SECONDS),
            **({"processes": args.processes} if args.processes != 1 else {}),
        )
    if args.what == "soak":
        from monitor.bench_soak import SOAK_DEFAULT_RATE, SOAK_DEFAULT_SECONDS, bench_soak

        rate = _given(args.rate, SOAK_DEFAULT_RATE)
        seconds = _given(args.seconds, SOAK_DEFAULT_SECONDS)
        return bench_soak(_settings(args).kafka_bootstrap, rate, seconds, args.seed)
    if args.what == "proxy":
        from monitor.proxy.bench import PROXY_DEFAULT_CALLS, bench_proxy

        n = PROXY_DEFAULT_CALLS if args.events == REPLAY_DEFAULT_EVENTS else args.events
        return bench_proxy(n, args.rounds)
    raise MonitorError(f"unknown benchmark {args.what!r}")


# ---------------------------------------------------------------- worker
def cmd_worker(args: argparse.Namespace) -> int:
    from monitor.worker.run import run_worker

    if not Path(args.charters).exists():
        raise MonitorError(f"charters not found: {args.charters}")
    processes = getattr(args, "processes", 1)
    if processes < 1:
        raise MonitorError(f"--processes must be at least 1, got {processes}")
    if processes > 1:
        from monitor.worker.supervisor import run_processes

        return run_processes(
            _settings(args), args.charters, processes, args.loglevel, bool(args.observe)
        )
    return run_worker(_settings(args), args.charters, args.loglevel)


# ---------------------------------------------------------------- explain
def cmd_explain(args: argparse.Namespace) -> int:
    from monitor.core.redact import Redactor
    from monitor.explain import explain, render

    redactor = Redactor(_settings(args).redaction())
    x = explain(args.alert_id, args.alerts, args.events, redactor, args.revocations)
    if args.json:
        sys.stdout.write(orjson.dumps(x.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(render(x))
    return 0


# ---------------------------------------------------------------- completion
def cmd_completion(args: argparse.Namespace) -> int:
    from monitor.completion import bash_script

    sys.stdout.write(bash_script(build_parser()))
    return 0


# ---------------------------------------------------------------- tail
def cmd_tail(args: argparse.Namespace) -> int:
    from monitor.tail import ALIASES, run_tail

    settings = _settings(args)
    topic = getattr(settings, f"topic_{args.topic}") if args.topic in ALIASES else args.topic
    if args.lines < 0:
        raise MonitorError("-n must be >= 0")
    run_tail(
        settings.kafka_bootstrap,
        topic,
        sys.stdout.buffer,
        last=None if args.all else args.lines,
        follow=args.follow,
        meta=args.meta,
    )
    return 0


# ---------------------------------------------------------------- report
def cmd_report(args: argparse.Namespace) -> int:
    from monitor.charter import load_charter_dir
    from monitor.core.policy import CharterSet
    from monitor.core.standing import PrivilegeUsage
    from monitor.errors import DecodeError
    from monitor.events import decode_event
    from monitor.replay import read_lines

    usage = PrivilegeUsage(CharterSet(load_charter_dir(args.charters)))
    bad = 0
    for raw in read_lines(args.events):
        if not isinstance(raw, bytes):  # longer than the message limit: never decoded
            bad += 1
            continue
        if not raw.strip():
            continue
        try:
            usage.observe(decode_event(raw))
        except DecodeError:
            bad += 1
    report = usage.report(unused_days=args.days)
    text = (
        orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode()
        if args.json
        else report.to_markdown()
    )
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"wrote {args.out}")
    else:
        print(text)
    if bad:
        print(
            f"skipped {bad:,} undecodable lines (mcpmon replay dead-letters them with reasons)",
            file=sys.stderr,
        )
    return 0


# ---------------------------------------------------------------- feedback
def _agent_of(alert_id: str, alerts_file: str) -> str:
    for raw in Path(alerts_file).read_bytes().splitlines():
        if raw.strip() and alert_id.encode() in raw:
            doc = orjson.loads(raw)
            if doc.get("alert_id") == alert_id:
                return str(doc["agent_id"])
    raise MonitorError(f"alert {alert_id} not found in {alerts_file}")


def cmd_feedback(args: argparse.Namespace) -> int:
    import asyncio
    import hashlib
    from datetime import UTC, datetime

    from monitor.events import AlertFeedback, encode_event

    agent = args.agent or (_agent_of(args.alert_id, args.alerts) if args.alerts else None)
    if agent is None:
        raise MonitorError("say whose alert it is: --agent AGENT_ID, or --alerts alerts.jsonl")
    digest = hashlib.sha256(f"{args.alert_id}|{args.verdict}|{args.note}".encode()).hexdigest()
    event = AlertFeedback(
        event_id=f"fb-{digest[:24]}",  # the same verdict twice is one event (dedup by event_id)
        ts=datetime.now(UTC),  # the analyst's time of decision: a shell may read the clock
        agent_id=agent,
        alert_id=args.alert_id,
        verdict=args.verdict,
        note=args.note,
    )
    line = encode_event(event)
    if args.to_file:
        with open(args.to_file, "ab") as f:
            f.write(line + b"\n")
        print(f"appended {args.verdict} feedback on {args.alert_id} to {args.to_file}")
        return 0
    from monitor.kafka_io import produce

    settings = _settings(args)
    asyncio.run(produce(settings.kafka_bootstrap, settings.topic_events, [(agent.encode(), line)]))
    print(f"sent {args.verdict} feedback on {args.alert_id} to {settings.topic_events}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mcpmon",
        description="Streaming behaviour monitor for AI agents that call tools over MCP.",
        epilog=EPILOG,
    )
    p.add_argument("--version", action="version", version=f"mcpmon {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    r = sub.add_parser(
        "replay",
        help="run the detection engine over a JSONL events file (no Kafka)",
        description="Replay events through the detection engine and write DIR/alerts.jsonl, "
        "DIR/revocations.jsonl and DIR/deadletter.jsonl (bad lines with line number and reason). "
        "Prints a summary; shows progress on stderr when it is a terminal.",
        epilog="Example: mcpmon replay examples/events.jsonl --charters examples/charters --out out",
    )
    r.add_argument(
        "events", metavar="EVENTS.jsonl", help="events file, one JSON object a line; - for stdin"
    )
    r.add_argument(
        "--charters", required=True, metavar="DIR", help="charter YAML files (a dir or one file)"
    )
    r.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="output directory (created); - = alerts on stdout (then give --revocations and "
        "--deadletter) and the summary on stderr",
    )
    r.add_argument("--revocations", metavar="FILE", help="revocation commands here instead")
    r.add_argument("--deadletter", metavar="FILE", help="dead letters here instead")
    r.add_argument("--observe", action="store_true", help="shadow mode: mark every command observe")
    r.add_argument(
        "--lateness", type=float, metavar="S", help="watermark lag in seconds (default 0)"
    )
    r.add_argument(
        "--dedup-seconds", type=float, metavar="S", help="alert dedup window (default 300)"
    )
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.add_argument(
        "--compare-charters",
        metavar="DIR",
        help="what-if: also replay with these (current) charters and write DIR/whatif.md and "
        "whatif.json under --out: alerts and revocations that appear or disappear with "
        "--charters, keyed by detector + agent + evidence. Example: mcpmon replay past.jsonl "
        "--charters suggested --out whatif --compare-charters charters",
    )
    r.set_defaults(func=cmd_replay)

    c = sub.add_parser(
        "check-charter",
        help="validate charter files, reporting every problem with file, key and line",
        description="Validate charters. Unknown keys are errors (a misspelt rule must not be "
        "silently ignored). Exit 1 if any file has a problem. Each charter's breadth (servers + "
        "tenants + data domains it grants; an unbounded axis counts 10) is printed, and an "
        "autonomous charter of breadth 10 or more gets a 'warning:' line naming the grants that make "
        "it too broad for static scoping (a warning: the exit code stays 0).",
    )
    c.add_argument("files", nargs="+", metavar="FILE", help="charter YAML files or directories")
    c.add_argument(
        "--json", action="store_true", help="one JSON list: per charter ok/errors and warnings"
    )
    c.set_defaults(func=cmd_check_charter)

    s = sub.add_parser(
        "schemas",
        help="write the JSON Schema of every contract (default into mcpmon-schemas/)",
        description="Generate JSON Schema files from the pydantic contracts; --check fails on "
        "drift. In a checkout, the committed schemas are regenerated with --out schemas.",
    )
    s.add_argument(
        "--out",
        default="mcpmon-schemas",
        metavar="DIR",
        help="target directory (default mcpmon-schemas: a new one, never a checkout's schemas/)",
    )
    s.add_argument("--check", action="store_true", help="only check that the files are up to date")
    s.set_defaults(func=cmd_schemas)

    m = sub.add_parser(
        "simulate",
        help="write realistic labelled synthetic traffic, charters and labels",
        description="Simulate delegated and autonomous agents with charters, tasks, sponsors and "
        "credentials, with injected violations of every detector and benign near-misses. Writes "
        "DIR/events.jsonl, DIR/labels.jsonl and DIR/charters/*.yaml. Deterministic per seed.",
    )
    m.add_argument("--agents", type=int, default=40, help="number of agents (default 40)")
    m.add_argument("--minutes", type=float, default=60, help="simulated minutes (default 60)")
    m.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    m.add_argument("--out", default="sim", metavar="DIR", help="output directory (default sim)")
    m.add_argument("--no-attacks", action="store_true", help="benign traffic only")
    m.add_argument("--json", action="store_true", help="print the counts as JSON")
    m.set_defaults(func=cmd_simulate)

    e = sub.add_parser(
        "evaluate",
        help="measure detection quality on labelled simulated traffic or a public corpus",
        description="Simulate several seeds, run the engine, and score every detector: precision, "
        "recall, false positives per 1,000 benign calls, near-miss false positives. Writes "
        "OUT/detection.md and OUT/detection.json. Behaviour baselines need a warm-up (200 calls "
        "per agent by default), so behaviour-only attacks are planted only in runs of about 2 h "
        "of simulated time or more. Exit 1 if a rule detector missed an injected violation or "
        "behaviour_anomaly is below recall 0.9 or above 1 false positive per 1,000 benign calls "
        "after warm-up. With --corpus NAME it scores a public agent-trace corpus instead "
        "(OUT/external_NAME.md and .json; see --corpus).",
    )
    e.add_argument("--agents", type=int, default=60, help="agents per seed (default 60)")
    e.add_argument(
        "--minutes", type=float, default=360, help="simulated minutes per seed (default 360)"
    )
    e.add_argument(
        "--seeds",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[11, 12, 13, 14, 15],
        help="comma-separated seeds (default 11-15: held out from the tuning seeds 1-5)",
    )
    e.add_argument(
        "--out",
        default="mcpmon-results",
        metavar="DIR",
        help="output directory (default mcpmon-results: a new one, never a checkout's "
        "committed results/; regenerate those with --out results)",
    )
    e.add_argument(
        "--corpus",
        metavar="NAME",
        help="instead of simulating, score a public agent-trace corpus nobody on this team wrote "
        f"(known: {', '.join(sorted(CORPORA))}): its committed fixture under data/corpora/NAME, "
        "or --source. "
        "Writes OUT/external_NAME.md and .json: per part (tuning, held out) hijacked-session "
        "recall, benign sessions flagged, false positives per 1,000 benign calls, per attack "
        "class, for three configurations (charter rules; + hijack detectors; + learned "
        "baseline), alerts per detector. Exit 1 if the full configuration misses the held-out "
        "target (recall >= 0.85 with <= 1%% of benign sessions "
        "flagged)",
    )
    e.add_argument(
        "--part",
        choices=("tuning", "held_out", "all"),
        default="all",
        help="with --corpus: which part to score (default all: both, side by side); the split "
        "is fixed by source case before any tuning",
    )
    e.add_argument(
        "--source",
        metavar="DIR",
        help="with --corpus: convert from this source (a checkout, or for injecagent a bare git "
        "snapshot) instead of the committed fixture; python -m monitor.corpora NAME --source DIR "
        "rewrites the fixture",
    )
    e.add_argument(
        "--json", action="store_true", help="print the report as JSON instead of the tables"
    )
    e.set_defaults(func=cmd_evaluate)

    b = sub.add_parser(
        "bench",
        help="benchmarks that report a figure and, from the same run, the baseline it compares to",
        description="replay: events/s of the full engine (decode + validate + detect + encode) vs an "
        "orjson-decode-only loop over the same bytes, in the same process, best of N rounds. "
        "kafka: events/s of the worker end to end (--processes N) vs a raw aiokafka consume + "
        "orjson loop over the same topic and vs replay over the same events, then "
        "produce-to-revocation latency at --rate and at 50 % of the measured capacity (needs the broker: "
        "bash scripts/kafka.sh start; MCPMON_KAFKA_BOOTSTRAP). "
        "tap: gateway-log lines/s mapped per format vs an orjson-decode-only loop over the same "
        "lines. soak: --rate events/s (400) for --seconds (300) into one worker on the broker, "
        "restarted half-way; events in vs processed, outputs and state vs in-process, lag "
        "recovery and memory over time, written to results/soak.md. "
        "baseline: µs per call for behaviour features + score + learn, the whole engine with "
        "the charters' baseline on vs off in the same rounds (CPU time: the layer's µs per "
        "call, target ≤ 15, and the on/off ratio, target ≥ 0.6), whether the compiled build "
        "is in use (python -m monitor.native_build), and memory for 100,000 agents. "
        "proxy: the charter decision of mcpmon proxy --policy inline (p50/p99, target p99 "
        "<= 1 ms in process) beside the forward time of a tools/call through the proxy to an "
        "in-memory MCP server, with --policy monitor (no decision) and inline (--events calls, "
        "2000).",
    )
    b.add_argument(
        "what",
        choices=["replay", "baseline", "kafka", "tap", "soak", "proxy"],
        help="which benchmark",
    )
    b.add_argument(
        "--events",
        type=int,
        default=None,
        help="events to simulate (default 500000; kafka: 60000; tap: 200000 lines)",
    )
    b.add_argument("--seed", type=int, default=7)
    b.add_argument("--rounds", type=int, default=3, help="rounds; the best of each is reported")
    b.add_argument("--file", metavar="EVENTS.jsonl", help="use this file instead of simulating")
    b.add_argument(
        "--rate", type=float, default=None, help="offered events/s (kafka: 2000; soak: 400)"
    )
    b.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="kafka: latency phase, ≤ 60 (20); soak: length of the run (300)",
    )
    b.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="kafka: run the worker as `mcpmon worker --processes N` (default 1)",
    )
    b.set_defaults(func=cmd_bench)

    x = sub.add_parser(
        "explain",
        help="one alert with its evidence events, charter clause, features and revocation",
        description="Join an alert (by id or a unique prefix of at least 6 characters) with the "
        "events its evidence names, its charter clause and mission, the features behind a "
        "behaviour score (details) and the revocation commands that cite it "
        "(revocations.jsonl beside the alerts file, or --revocations). Events are redacted with "
        "the deployment's rules (MCPMON_REDACT_*) before they are printed.",
        epilog="Example: mcpmon replay examples/events.jsonl --charters examples/charters "
        "--out out && mcpmon explain 4db13eb7 --alerts out/alerts.jsonl "
        "--events examples/events.jsonl",
    )
    x.add_argument("alert_id", metavar="ALERT_ID")
    x.add_argument("--alerts", default="out/alerts.jsonl", help="alerts file (out/alerts.jsonl)")
    x.add_argument("--events", metavar="FILE", help="the events file the alerts came from")
    x.add_argument("--revocations", metavar="FILE", help="default: beside the alerts file")
    x.add_argument("--json", action="store_true", help="one JSON object instead of text")
    x.set_defaults(func=cmd_explain)

    co = sub.add_parser(
        "completion",
        help="print a shell completion script (bash; zsh via bashcompinit)",
        description="Print a bash completion script generated from this CLI's own parser: "
        "sub-commands, their flags and fixed choices. Install with "
        "`mcpmon completion bash > /etc/bash_completion.d/mcpmon` or "
        "`source <(mcpmon completion bash)` in ~/.bashrc; zsh: "
        "`autoload -U bashcompinit && bashcompinit` first.",
    )
    co.add_argument("shell", choices=["bash"], help="the shell (bash)")
    co.set_defaults(func=cmd_completion)

    t = sub.add_parser(
        "tail",
        help="print messages of a topic (alerts, revocations, deadletter...) as JSON lines",
        description="Read a topic without a consumer group (nothing committed): the last -n "
        "messages of each partition, then new ones with --follow. TOPIC is a Kafka topic name "
        "or one of events, alerts, revocations, revocation_acks, deadletter, charters (the "
        "MCPMON_TOPIC_* setting). Every line is JSON written by mcpmon: values that are not JSON "
        "become escaped strings, so no message can put control sequences on your terminal.",
    )
    t.add_argument("topic", metavar="TOPIC")
    t.add_argument("-n", dest="lines", type=int, default=10, help="last N per partition (10)")
    t.add_argument("--all", action="store_true", help="from the beginning of each partition")
    t.add_argument("-f", "--follow", action="store_true", help="keep printing new messages")
    t.add_argument(
        "--meta", action="store_true", help="wrap each value with topic, partition, offset, key"
    )
    t.set_defaults(func=cmd_tail)

    w = sub.add_parser(
        "worker",
        help="run the streaming worker (Faust): mcp.events -> mcp.alerts, mcp.revocations",
        description="Consume mcp.events, run the detection engine per partition with state in "
        "changelog-backed tables, publish alerts and revocation commands; bad messages go to "
        "mcp.deadletter. Topics are created at start. Settings: MCPMON_* environment variables "
        "(MCPMON_KAFKA_BOOTSTRAP, MCPMON_PARTITIONS, MCPMON_STORE, MCPMON_APP_ID, "
        "MCPMON_WATERMARK_IDLE_SECONDS, MCPMON_TOPIC_*; see monitor/settings.py).",
        epilog="Example: MCPMON_KAFKA_BOOTSTRAP=127.0.0.1:9092 mcpmon worker --charters charters/",
    )
    w.add_argument(
        "--charters", required=True, metavar="DIR", help="charter YAML files (a dir or one file)"
    )
    w.add_argument("--observe", action="store_true", help="shadow mode: mark every command observe")
    w.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    w.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="run N worker processes in one consumer group on this host (default 1; N = the "
        "host's CPUs is recommended, with at least N input partitions). Each has its own state "
        "dir MCPMON_DATA_DIR/<i> and metrics port MCPMON_WORKER_METRICS_PORT+i; SIGTERM is "
        "forwarded to all, and if one dies the others are stopped and the exit is non-zero",
    )
    w.set_defaults(func=cmd_worker)
    rp = sub.add_parser(
        "report",
        help="reports over recorded traffic (privileges: standing privilege, least-privilege advice)",
        description="privileges: grants an agent pattern holds but has not used in the window or "
        "for --days, credentials that outlived their use, and a credential_max_ttl suggestion "
        "from how long credentials were actually used. Event time only: the report is the same "
        "whenever it is run.",
    )
    rp.add_argument("what", choices=["privileges"], help="which report")
    rp.add_argument("events", metavar="EVENTS.jsonl", help="recorded events; - for stdin")
    rp.add_argument("--charters", required=True, metavar="DIR", help="charters in force")
    rp.add_argument("--days", type=float, default=30, help="flag grants unused this long (30)")
    rp.add_argument("--json", action="store_true", help="JSON instead of markdown")
    rp.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    rp.set_defaults(func=cmd_report)
    fb = sub.add_parser(
        "feedback",
        help="mark an alert benign (the agent's baseline learns the call) or malicious",
        description="Publish an alert_feedback event for ALERT_ID on mcp.events (keyed by the "
        "alert's agent), or append it to a JSONL file for replay. benign: behaviour_anomaly "
        "learns the alerted call as normal for this agent; malicious: it un-learns it. The same "
        "verdict sent twice is one event.",
        epilog="Example: mcpmon feedback 05c28b0d... --alerts out/alerts.jsonl --verdict benign",
    )
    fb.add_argument("alert_id", metavar="ALERT_ID")
    fb.add_argument("--verdict", required=True, choices=["benign", "malicious"])
    fb.add_argument("--agent", metavar="AGENT_ID", help="the alert's agent")
    fb.add_argument("--alerts", metavar="FILE", help="find the agent in this alerts.jsonl")
    fb.add_argument("--note", default="", help="free text kept with the verdict")
    fb.add_argument("--to-file", metavar="EVENTS.jsonl", help="append here instead of Kafka")
    fb.set_defaults(func=cmd_feedback)
    add_tap_parser(sub)  # mcpmon tap: monitor/tap/command.py
    add_proxy_parser(sub)  # mcpmon proxy: monitor/proxy/command.py
    add_revoker_parser(sub)  # mcpmon revoker: monitor/revoker/command.py
    add_sink_parser(sub)  # mcpmon sink: monitor/sinks/command.py
    add_sign_charter_parser(sub)  # mcpmon sign-charter: monitor/signing_command.py
    add_map_parser(sub)  # mcpmon map: monitor/charters_from_traffic/command.py
    add_charter_parser(sub)  # mcpmon charter suggest|diff|evaluate: same module
    return p


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            sub: argparse.ArgumentParser = action.choices[command]
            return sub
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the sub-command's usage, not the top level's
        _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args))
    except CharterError as err:
        for p in err.problems:
            print(f"error: {p}", file=sys.stderr)
        return 1
    except MonitorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
