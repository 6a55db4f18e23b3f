"""Write ``external_corpora.ipynb`` from the cells below and execute it once (with outputs).

    python notebooks/build_external_corpora.py            # write + execute in place
    python notebooks/build_external_corpora.py --no-run   # write only

Edit the cells here, not in the notebook, so the two never drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbbuild import write

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "external_corpora.ipynb"

INTRO = """\
# The behaviour layer on public corpora: ROC curves on the held-out parts

Issue 14. Every external corpus the evaluation knows, converted to our events
(`monitor/corpora/`, committed fixtures in `data/corpora/`), each split into a
tuning and a held-out part by a hash of the source case **before** any tuning.
Only the **held-out** parts are plotted and tabulated here (the tuning parts are
in `results/external_*.md`):

- **Agent Security Bench** run logs (MIT; 10 agent types × 13 models, clean runs
  and successful prompt-injection / memory attacks; tool names only);
- **agent-firedrill** atomics (MIT; OWASP agentic attack scenarios, each with a
  benign twin; real arguments: shell lines, transfers, role grants);
- **τ-bench** airline trajectories (MIT; benign only, real arguments and result
  digests);
- **LiveMCPBench** (Apache-2.0; one general assistant's daily tasks over 51 real
  MCP servers; benign only).

Every scored session gets the **highest score of an alert pointing at it**
(0 when none): a threshold on that score is a detector, so sweeping it draws
the ROC curve of a configuration — *+ hijack detectors* (learned baseline off)
and *+ learned baseline* (everything on). Attack sessions are the successful
hijacks (failed attempts are left out: the agent did not do what the attacker
asked); the benign axis pools the held-out benign sessions of all four corpora.
InjecAgent, the fifth corpus, is in `results/external_injecagent.md`: its
41,000 events take longer to score than this notebook, run by the test suite,
should (its held-out benign sessions are one call long, so they would add
little to the false-positive axis).
"""

SETUP = """\
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import Image, Markdown, display

from monitor.corpora import registry
from monitor.corpora.scoring import session_scores

REPO = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "pyproject.toml").exists())
OUT = Path(os.environ.get("MCPMON_FIGURES") or REPO / "results")
OUT.mkdir(parents=True, exist_ok=True)
PART = "held_out"  # never the tuning part: that is what the detectors were tuned on
"""

SCORE = """\
CONFIGS = {"+ hijack detectors": dict(baseline=False), "+ learned baseline": {}}
CORPORA = {  # name in the registry -> label
    "asb": "Agent Security Bench",
    "firedrill": "agent-firedrill",
    "tau": "τ-bench",
    "livemcpbench": "LiveMCPBench",
}
scores = {}  # (corpus, configuration) -> held-out session scores
for corpus in CORPORA:
    loaded = registry.load(corpus)
    for name, kw in CONFIGS.items():
        scores[corpus, name] = [s for s in session_scores(loaded, **kw) if s.split == PART]
full = "+ learned baseline"
display(Markdown(
    "| corpus (held out) | hijacked sessions | benign sessions |\\n"
    "|---|---:|---:|\\n"
    + "\\n".join(
        f"| {label} | {sum(s.kind == 'attack' for s in scores[c, full])} "
        f"| {sum(s.kind == 'benign' for s in scores[c, full])} |"
        for c, label in CORPORA.items()
    )
))
"""

ROC = """\
def roc(attacks, benign):
    \"\"\"(false-positive rate, true-positive rate) at every threshold, highest first.\"\"\"
    cuts = sorted({s.score for s in attacks + benign if s.score > 0}, reverse=True)
    points = [(0.0, 0.0)]
    for t in cuts:
        tpr = sum(s.score >= t for s in attacks) / max(1, len(attacks))
        fpr = sum(s.score >= t for s in benign) / max(1, len(benign))
        points.append((fpr, tpr))
    points.append((1.0, 1.0))  # threshold 0: every session "alerted"
    return points


attacked = [c for c in CORPORA if any(s.kind == "attack" for s in scores[c, full])]
fig, axes = plt.subplots(1, len(attacked), figsize=(5.5 * len(attacked), 4.5), sharey=True)
rows = []
for ax, corpus in zip(axes, attacked, strict=True):
    for name in CONFIGS:
        attacks = [s for s in scores[corpus, name] if s.kind == "attack"]
        benign = [s for c in CORPORA for s in scores[c, name] if s.kind == "benign"]
        pts = roc(attacks, benign)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=name)
        rows.append((CORPORA[corpus], name, len(attacks), len(benign), pts[-2]))
    ax.axvline(0.01, color="grey", linestyle=":", linewidth=1)
    ax.axhline(0.85, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlim(0, 1)
    ax.set_title(f"{CORPORA[corpus]} hijacks vs all benign, held out")
    ax.set_xlabel("benign sessions flagged (symlog)")
axes[0].set_ylabel("hijacked sessions caught")
axes[0].legend(loc="lower right")
fig.tight_layout()
fig.savefig(OUT / "external_roc.png", dpi=110)
plt.close(fig)
display(Image(filename=str(OUT / "external_roc.png")))
display(Markdown(
    "At the alerting threshold (any alert), held out, against the pooled benign sessions:\\n\\n"
    "| hijacks of | configuration | hijacked sessions | benign sessions | flagged | caught |\\n"
    "|---|---|---:|---:|---:|---:|\\n"
    + "\\n".join(
        f"| {c} | {n} | {a} | {b} | {pt[0]:.4f} | {pt[1]:.3f} |" for c, n, a, b, pt in rows
    )
))
"""

BENIGN = """\
def flagged(corpus, name):
    benign = [s for s in scores[corpus, name] if s.kind == "benign"]
    return f"{sum(s.score > 0 for s in benign)} / {len(benign)}"


display(Markdown(
    "Benign sessions flagged (any alert), held out, per corpus:\\n\\n"
    "| corpus | " + " | ".join(CONFIGS) + " |\\n|---|" + "---:|" * len(CONFIGS) + "\\n"
    + "\\n".join(
        f"| {label} | " + " | ".join(flagged(c, n) for n in CONFIGS) + " |"
        for c, label in CORPORA.items()
    )
))
"""

READING = """\
**Reading it.** The curves are steps: most hijack detectors alert at a fixed
score, so the operating point is set by what fires, not by a threshold. The
dotted lines are issue 14's held-out target (≥ 0.85 caught at ≤ 1 % of benign
sessions flagged). ASB's curve ends short of it — its misses are agents that
use many tools occasionally (their toolset never settles, so a new tool is no
signal) and ASB logs no arguments (provenance has nothing to compare).
agent-firedrill's held-out part has ten hijacked sessions, so each moves its
curve by 0.1: destructive commands, role grants and an error cascade reuse
tools the agent uses benignly and carry no egress. τ-bench and LiveMCPBench add
no attacks; they keep the false-positive axis honest with real arguments from
ordinary tasks (LiveMCPBench's include shell lines run through
desktop-commander's `start_process`).
"""


def build() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell(INTRO),
        new_code_cell(SETUP),
        new_code_cell(SCORE),
        new_code_cell(ROC),
        new_code_cell(BENIGN),
        new_markdown_cell(READING),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main(argv: list[str]) -> None:
    write(build(), NOTEBOOK, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
