"""``mcpmon evaluate``: detection quality on simulated traffic or a public corpus.

Kept apart from :mod:`monitor.cli`, which only registers it; building the
parser imports nothing heavy (what the command drives loads when it runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Protocol

from monitor.command_support import out_dir, settings_from_args
from monitor.corpora.registry import CORPORA
from monitor.errors import MonitorError


def add_evaluate_parser(sub: Any) -> None:
    """Register ``evaluate`` on the CLI's sub-parsers."""
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
        type=out_dir,
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
        "--feedback-analyst",
        action="store_true",
        help="with --corpus: simulate an analyst instead (verdicts from the labels on "
        "tuning-part alerts, sent as alert_feedback events) and score the full configuration "
        "without verdicts, with verdicts, and with the feedback ranker demoting alerts it "
        "predicts benign; writes OUT/feedback_NAME.md and .json (results/feedback_ranker.md)",
    )
    e.add_argument(
        "--feedback-delay",
        type=int,
        default=100,
        metavar="N",
        help="with --feedback-analyst: input events between an alert and its verdict (default 100)",
    )
    e.add_argument(
        "--feedback-fraction",
        type=float,
        default=1.0,
        metavar="F",
        help="with --feedback-analyst: share of tuning-part alerts that get a verdict, "
        "seeded (default 1.0)",
    )
    e.add_argument(
        "--feedback-demote-below",
        type=float,
        default=0.2,
        metavar="P",
        help="with --feedback-analyst: demote behaviour-layer alerts whose feedback_score "
        "(P(malicious)) is under this (default 0.2)",
    )
    e.add_argument(
        "--feedback-failed",
        choices=("benign", "malicious", "none"),
        default="benign",
        help="with --feedback-analyst: the verdict on an alert at a failed attack attempt "
        "(default benign: the agent did not follow the injection)",
    )
    e.add_argument(
        "--feedback-seed",
        type=int,
        default=0,
        metavar="N",
        help="with --feedback-analyst: seed of the ranker's feature hashing and of the "
        "analyst's choice of alerts (default 0)",
    )
    e.add_argument(
        "--feedback-model",
        choices=("logistic", "naive_bayes"),
        default="logistic",
        help="with --feedback-analyst: the river classifier (default logistic)",
    )
    e.add_argument(
        "--json", action="store_true", help="print the report as JSON instead of the tables"
    )
    e.set_defaults(func=cmd_evaluate)


class _Report(Protocol):
    def to_markdown(self) -> str: ...

    def to_json(self) -> bytes: ...


def _write(report: _Report, md: Path, js: Path, as_json: bool, wrote: str) -> None:
    """Both files (their directory created), and the report on stdout: JSON or the tables."""
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(report.to_markdown())
    js.write_bytes(report.to_json())
    if as_json:
        sys.stdout.buffer.write(report.to_json())
        print(wrote, file=sys.stderr)
    else:
        print(report.to_markdown())
        print(wrote)


def cmd_feedback_analyst(args: argparse.Namespace) -> int:
    from monitor.core.feedback_ranker import RankerSettings
    from monitor.corpora import registry
    from monitor.corpora.feedback import Analyst, evaluate_feedback
    from monitor.corpora.scoring import PARTS

    if args.feedback_delay < 0 or not 0.0 <= args.feedback_fraction <= 1.0:
        raise MonitorError("--feedback-delay must be >= 0 and --feedback-fraction in [0, 1]")
    corpus = registry.load(args.corpus, args.source)
    parts = PARTS if args.part == "all" else (args.part,)
    report = evaluate_feedback(
        corpus,
        parts,
        settings_from_args(args, uses=("engine",)).engine(),
        RankerSettings(
            demote=True,
            demote_below=args.feedback_demote_below,
            model=args.feedback_model,
            seed=args.feedback_seed,
        ),
        Analyst(
            delay=args.feedback_delay,
            fraction=args.feedback_fraction,
            failed=args.feedback_failed,
            seed=args.feedback_seed,
        ),
    )
    out = Path(args.out)
    md, js = out / f"feedback_{args.corpus}.md", out / f"feedback_{args.corpus}.json"
    _write(report, md, js, args.json, f"wrote {md} and {js}")
    return 0


def cmd_evaluate_corpus(args: argparse.Namespace) -> int:
    if args.feedback_analyst:
        return cmd_feedback_analyst(args)
    from monitor.corpora import registry
    from monitor.corpora.scoring import PARTS, evaluate_corpus, meets_target

    corpus = registry.load(args.corpus, args.source)
    parts = PARTS if args.part == "all" else (args.part,)
    report = evaluate_corpus(corpus, parts, settings_from_args(args, uses=("engine",)).engine())
    out = Path(args.out)
    md, js = out / f"external_{args.corpus}.md", out / f"external_{args.corpus}.json"
    _write(report, md, js, args.json, f"wrote {md} and {js}")
    return 0 if meets_target(report) else 1


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.corpus is not None:
        return cmd_evaluate_corpus(args)
    if args.source is not None or args.part != "all" or args.feedback_analyst:
        raise MonitorError("--source, --part and --feedback-analyst go with --corpus NAME")
    from monitor.evaluate import evaluate_seeds

    report = evaluate_seeds(
        args.agents, args.minutes, args.seeds, settings_from_args(args, uses=("engine",)).engine()
    )
    out = Path(args.out)
    wrote = f"wrote {out}/detection.md and detection.json"
    _write(report, out / "detection.md", out / "detection.json", args.json, wrote)
    return 0 if report.passed() else 1
