"""The simulated analyst: verdicts only on tuning alerts, the no-analyst run is the report's."""

from __future__ import annotations

from pathlib import Path

from monitor.cli import main
from monitor.core.feedback_ranker import RankerSettings
from monitor.corpora import registry
from monitor.corpora.feedback import RUNS, Analyst, evaluate_feedback, verdict_of
from monitor.corpora.scoring import CONFIGS, _index, evaluate_corpus


def test_no_analyst_run_is_the_full_configuration_of_the_corpus_report() -> None:
    corpus = registry.load("firedrill", None)
    fb = evaluate_feedback(corpus, ranker_settings=RankerSettings(demote=True, min_verdicts=1))
    full = next(c for c in evaluate_corpus(corpus).configs if c.name == CONFIGS[-1][0])
    for part in ("tuning", "held_out"):
        assert fb.runs[RUNS[0]][part].to_dict() == full.parts[part].to_dict()


def test_verdicts_only_on_tuning_alerts_and_deterministic() -> None:
    corpus = registry.load("firedrill", None)
    ix = _index(corpus)
    a = evaluate_feedback(corpus, analyst=Analyst(delay=5))
    b = evaluate_feedback(corpus, analyst=Analyst(delay=5))
    assert a.to_json() == b.to_json()
    told = [verdict_of(x, ix) for x in a.run.raw]
    tuning = [v for v in told if v is not None and v[1] == "tuning"]
    assert sum(a.run.verdicts.values()) == len(tuning) > 0
    none = evaluate_feedback(corpus, analyst=Analyst(fraction=0.0))
    assert not none.run.verdicts
    assert none.runs[RUNS[1]] == none.runs[RUNS[0]] == none.runs[RUNS[2]]


def test_cli_writes_the_feedback_report(tmp_path: Path) -> None:
    rc = main(["evaluate", "--corpus", "tau", "--feedback-analyst", "--out", str(tmp_path / "o")])
    assert rc == 0
    md = (tmp_path / "o" / "feedback_tau.md").read_text()
    assert "verdicts + ranker demoting" in md
    assert (tmp_path / "o" / "feedback_tau.json").exists()
    assert not (tmp_path / "o" / "external_tau.md").exists()
