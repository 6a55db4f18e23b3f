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
# The behaviour layer on public corpora: ROC curves, tuning vs held out

Issue 14. Agent Security Bench run logs (MIT; 10 agent types × 13 models,
clean runs and successful prompt-injection / memory attacks) and τ-bench airline
trajectories (MIT; benign only), converted to our events
(`monitor/corpora/`, committed fixtures in `data/corpora/`). Each is split into
a tuning and a held-out part by a hash of the source case before any tuning.

Every scored session gets the **highest score of an alert pointing at it**
(0 when none): a threshold on that score is a detector, so sweeping it draws
the ROC curve of a configuration — *+ hijack detectors* (learned baseline off)
and *+ learned baseline* (everything on). Attack sessions are the successful
hijacks (failed attempts are left out: the agent did not do what the attacker
asked); benign sessions are the clean runs (ASB) and τ-bench's trajectories,
which give the false-positive axis real arguments and real result digests.
InjecAgent, the third corpus, is in `results/external_injecagent.md` (its run
takes longer than this notebook should).
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
"""

SCORE = """\
CONFIGS = {"+ hijack detectors": dict(baseline=False), "+ learned baseline": {}}
benign_tau = {
    name: [s for s in session_scores(registry.load("tau"), **kw) if s.kind == "benign"]
    for name, kw in CONFIGS.items()
}
asb = {name: session_scores(registry.load("asb"), **kw) for name, kw in CONFIGS.items()}
sizes = {
    part: (
        sum(s.kind == "attack" and s.split == part for s in asb["+ learned baseline"]),
        sum(s.kind == "benign" and s.split == part for s in asb["+ learned baseline"]),
    )
    for part in ("tuning", "held_out")
}
display(Markdown(
    "| part | ASB hijacked sessions | ASB benign sessions | τ-bench benign sessions |\\n"
    "|---|---:|---:|---:|\\n"
    + "\\n".join(
        f"| {p} | {a} | {b} | {sum(s.split == p for s in benign_tau['+ learned baseline'])} |"
        for p, (a, b) in sizes.items()
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


fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
rows = []
for ax, part in zip(axes, ("tuning", "held_out"), strict=True):
    for name, scores in asb.items():
        attacks = [s for s in scores if s.kind == "attack" and s.split == part]
        benign = [s for s in scores if s.kind == "benign" and s.split == part]
        benign += [s for s in benign_tau[name] if s.split == part]
        pts = roc(attacks, benign)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=name)
        at_alert = pts[-2]  # the lowest cut: any alert at all
        rows.append((part, name, len(attacks), len(benign), at_alert))
    ax.axvline(0.01, color="grey", linestyle=":", linewidth=1)
    ax.axhline(0.85, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlim(0, 1)
    ax.set_title(f"ASB hijacks vs ASB + τ-bench benign, {part}")
    ax.set_xlabel("benign sessions flagged (symlog)")
axes[0].set_ylabel("hijacked sessions caught")
axes[0].legend(loc="lower right")
fig.tight_layout()
fig.savefig(OUT / "external_roc.png", dpi=110)
plt.close(fig)
display(Image(filename=str(OUT / "external_roc.png")))
display(Markdown(
    "At the alerting threshold (any alert), per part and configuration:\\n\\n"
    "| part | configuration | hijacked sessions | benign sessions | flagged | caught |\\n"
    "|---|---|---:|---:|---:|---:|\\n"
    + "\\n".join(
        f"| {p} | {n} | {a} | {b} | {pt[0]:.4f} | {pt[1]:.3f} |" for p, n, a, b, pt in rows
    )
))
"""

READING = """\
**Reading it.** The curves are steps: most hijack detectors alert at a fixed
score, so the operating point is set by what fires, not by a threshold. The
dotted lines are issue 14's held-out target (≥ 0.85 caught at ≤ 1 % of benign
sessions flagged): the held-out curve ends short of it — ASB's misses are
agents that use many tools occasionally (their toolset never settles, so a new
tool is no signal) and ASB logs no arguments (provenance has nothing to
compare). The tuning and held-out curves lie close: what was tuned on the
tuning part carried over to cases it never saw.
"""


def build() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell(INTRO),
        new_code_cell(SETUP),
        new_code_cell(SCORE),
        new_code_cell(ROC),
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
