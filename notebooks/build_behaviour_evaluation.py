"""Write ``behaviour_evaluation.ipynb`` from the cells below and execute it once (with outputs).

    python notebooks/build_behaviour_evaluation.py            # write + execute in place
    python notebooks/build_behaviour_evaluation.py --no-run   # write only

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
NOTEBOOK = HERE / "behaviour_evaluation.ipynb"

INTRO = """\
# Behaviour baseline (`behaviour_anomaly`): scores, ROC, warm-up

Issue 5, *Evaluation*. One held-out seed of the simulator's labelled traffic
(`monitor.simulate`, the same 60 agents × 360 min per seed as
`results/detection.md`), run through the whole engine — every detector on,
charter defaults (`warmup_events: 200`, `alert_score: 0.98`,
`revoke_score: 0.999`). For every tool call we record what the behaviour
detector computed: the **raw score** (nats of surprise), the agent's
**p-value** for it and the **calibrated score** `(1 − p)^1000` that the
charter's `alert_score` is compared with.

Labels per call:

- **attack** — a call of a behaviour-only attack (the labelled call and the
  calls of the same script after it: the carrier's calls until its first
  pause of ≥ 65 s, the simulator's post-scenario gap);
- **rule scenario** — calls around a rule scenario's labelled event (a burst,
  a call after a task ended, …): abnormal by design, counted neither way;
- **benign** — everything else.

Figures go to `results/` (or to `$MCPMON_FIGURES` when set — the test does
that so CI does not rewrite the committed pictures). Regenerate the notebook
with `python notebooks/build_behaviour_evaluation.py`.
"""

SETUP = """\
import os
import time
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import orjson
from IPython.display import Image, Markdown, display

from monitor.charter import Baseline
from monitor.core import Engine
from monitor.core.baseline.calibration import calibrated
from monitor.evaluate import DETECTION_WINDOW_CALLS, TUNING_SEEDS, evaluate
from monitor.events import ToolCall, decode_event
from monitor.simulate import SCENARIO_BY_NAME, simulate

REPO = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "pyproject.toml").exists())
OUT = Path(os.environ.get("MCPMON_FIGURES") or REPO / "results")
OUT.mkdir(parents=True, exist_ok=True)

SEED, AGENTS, MINUTES = 11, 60, 360  # a held-out seed: not one the baseline was tuned on
assert SEED not in TUNING_SEEDS
POST_GAP_S = 65.0  # the simulator's silence after a scenario's script
t_start = time.perf_counter()
"""

SIMULATE = """\
sim = simulate(AGENTS, MINUTES, SEED)
behaviour_labels = [x for x in sim.labels if x.get("detector") == "behaviour_anomaly"]
rule_labels = [x for x in sim.labels if x.get("detector") != "behaviour_anomaly"]
print(f"{len(sim.events):,} events, {len(sim.labels)} labels "
      f"({len(behaviour_labels)} behaviour-only attacks, {len(rule_labels)} rule scenarios)")
"""

COLLECT = """\
# Run the engine and record, for every tool call the behaviour detector scored, what it computed.
# Between on_call and after_call the detector keeps the context and model of the call it is
# judging, and the model keeps the call (features, surprises, raw score: AgentBaseline.pending);
# we read it right after on_call, before the model learns.
engine = Engine(sim.charters)
det = next(d for d in engine.detectors if d.name == "behaviour_anomaly")
scored = {}  # event id -> (raw, p, calls learned before it, calibrating, scored by the detector)
_on_call = det.on_call  # the detector's compiled step (CallStep.on_call)

def on_call(ctx, st):
    found = _on_call(ctx, st)
    m = det._step.pending_m
    if m is not None and det._step.pending_ctx is ctx:
        f, _, raw = m.pending()
        if raw is None:  # before warmup_events / 2 the detector does not score: do it here
            raw = m.score_one(f)[0]  # (score_one only reads the model)
            scored[ctx.call.event_id] = (raw, float("nan"), m.n_learned, True, False)
        else:  # p-values exist once the agent's calibration holds enough scores
            p = float("nan") if m.calibrating else m.p_value(raw)
            scored[ctx.call.event_id] = (raw, p, m.n_learned, m.calibrating, True)
    return found

det.on_call = on_call

calls = []  # (event id, agent, t, calls of this agent so far)
alerted = set()  # event ids in the evidence of behaviour alerts
n_calls = defaultdict(int)
for e in sim.events:
    ev = decode_event(orjson.dumps(e))
    if isinstance(ev, ToolCall):
        n_calls[ev.agent_id] += 1
        calls.append((ev.event_id, ev.agent_id, ev.ts.timestamp(), n_calls[ev.agent_id]))
    for a in engine.process(ev).alerts:
        if a.detector == "behaviour_anomaly":
            alerted.update(a.evidence)

def baseline_of(agent):
    c = engine.charters.for_agent(agent)
    return c.baseline if c is not None else Baseline()

# label every call: 1 = behaviour attack, 0 = benign, -1 = rule scenario (excluded)
by_agent = defaultdict(list)
for i, (_, agent, _, _) in enumerate(calls):
    by_agent[agent].append(i)
label = np.zeros(len(calls), dtype=int)
attack_of = {}  # call index -> index of its behaviour attack
index_of = {c[0]: i for i, c in enumerate(calls)}
for k, lab in enumerate(behaviour_labels):
    i0 = index_of[lab["event_id"]]
    agent, t0 = calls[i0][1], calls[i0][2]
    span = SCENARIO_BY_NAME[lab["scenario"]].minutes * 60
    seq = by_agent[agent]
    prev = t0
    for i in seq[seq.index(i0):]:
        t = calls[i][2]
        if t - prev >= POST_GAP_S or t - t0 > span:
            break
        label[i], attack_of[i], prev = 1, k, t
for lab in rule_labels:
    if lab["event_id"] not in index_of:
        continue  # a lifecycle event (task end, credential, ...), not a call
    i0 = index_of[lab["event_id"]]
    agent, t0 = calls[i0][1], calls[i0][2]
    span = SCENARIO_BY_NAME[lab["scenario"]].minutes * 60
    for i in by_agent[agent]:
        if abs(calls[i][2] - t0) <= span and label[i] == 0:
            label[i] = -1

eids = [c[0] for c in calls]
has = np.array([e in scored and scored[e][4] for e in eids])  # scored by the detector itself
raw = np.array([scored[e][0] if e in scored else np.nan for e in eids])
p = np.array([scored[e][1] if e in scored else np.nan for e in eids])
learned = np.array([scored[e][2] if e in scored else -1 for e in eids])
calibrating = np.array([scored[e][3] if e in scored else True for e in eids])
score = np.array([calibrated(x) if x == x else np.nan for x in p])
warmup = np.array([baseline_of(c[1]).warmup_events for c in calls])
warm = has & (learned >= warmup) & ~calibrating  # the detector may alert on these calls
warm &= ~np.isnan(p)
alert_score = {baseline_of(a).alert_score for a in by_agent}
assert len(alert_score) == 1, alert_score
ALERT = alert_score.pop()
is_alert = np.array([e in alerted for e in eids])
benign, attack = (label == 0) & warm, (label == 1) & warm
print(f"{len(calls):,} tool calls; scored {has.sum():,}; after warm-up: {benign.sum():,} benign, "
      f"{attack.sum()} attack calls ({(label == 1).sum()} in all), "
      f"{(label == -1).sum()} rule-scenario calls left out")
"""

PLOT_SCORES = """\
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
bins = np.linspace(0, np.nanmax(raw[warm]) * 1.02, 60)
ax = axes[0]
ax.hist(raw[benign], bins=bins, alpha=0.6, density=True, label=f"benign ({benign.sum():,})")
ax.hist(raw[attack], bins=bins, alpha=0.6, density=True, label=f"attack ({attack.sum()})")
ax.set_yscale("log")
ax.set_xlabel("raw score (nats of surprise above the agent's own mean)")
ax.set_ylabel("density (log)")
ax.set_title("Raw behaviour score, calls after warm-up")
ax.legend()

ax = axes[1]
lp = -np.log10(np.clip(p, 1e-16, 1))
lbins = np.linspace(0, max(lp[warm].max(), 8) * 1.02, 60)
ax.hist(lp[benign], bins=lbins, alpha=0.6, density=True, label="benign")
ax.hist(lp[attack], bins=lbins, alpha=0.6, density=True, label="attack")
p_alert = 1 - ALERT ** (1 / 1000)
ax.axvline(-np.log10(p_alert), color="k", ls="--",
           label=f"alert_score {ALERT} (p ≤ {p_alert:.1e})")
ax.set_yscale("log")
ax.set_xlabel("−log10 p  (calibrated score = (1 − p)^1000)")
ax.set_title("Calibrated: the agent's own p-value")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "behaviour_scores.png", dpi=110)
plt.close(fig)
display(Image(OUT / "behaviour_scores.png"))  # Agg draws nothing inline: show the file
"""

ROC = """\
def roc(pos, neg):
    \"\"\"TPR and FPR at every threshold on -log10 p (higher = more anomalous); and the AUC.\"\"\"
    s = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # one point per distinct score
    tp, fp = np.cumsum(y)[last], np.cumsum(1 - y)[last]
    tpr, fpr = np.r_[0, tp / len(pos)], np.r_[0, fp / len(neg)]
    return fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoids

lp_alert = -np.log10(p_alert)
neg = lp[benign]
# per call: every attack call is a positive (some calls of an attack look normal on purpose)
fpr_c, tpr_c, auc_c = roc(lp[attack], neg)
# per attack: an attack is found when any call of it (or the next DETECTION_WINDOW_CALLS of its
# carrier, as evaluate() counts) reaches the threshold; its score is the maximum over those calls
att = []
for lab in behaviour_labels:
    i0 = index_of[lab["event_id"]]
    seq = by_agent[calls[i0][1]]
    j = seq.index(i0)
    window = [i for i in seq[j : j + DETECTION_WINDOW_CALLS + 1] if warm[i] and label[i] != -1]
    att.append(max(lp[i] for i in window) if window else 0.0)
att = np.array(att)
fpr_a, tpr_a, auc_a = roc(att, neg)

fp_op = (neg >= lp_alert).mean() * 1000  # FP per 1,000 benign calls at alert_score
rec_call = (lp[attack] >= lp_alert).mean()
rec_att = (att >= lp_alert).mean()
fp_alerts = (is_alert & benign).sum() / benign.sum() * 1000

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
ax = axes[0]
ax.plot(fpr_c, tpr_c, label=f"per call (AUC {auc_c:.3f})")
ax.plot(fpr_a, tpr_a, label=f"per attack (AUC {auc_a:.3f})")
ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
ax.set_xlabel("false-positive rate (benign calls after warm-up)")
ax.set_ylabel("true-positive rate")
ax.set_title("ROC")
ax.legend(loc="lower right")
ax = axes[1]
floor = 1000 / len(neg) / 2  # draw zero FP at half the smallest non-zero rate
ax.plot(np.maximum(fpr_c * 1000, floor), tpr_c, label="per call")
ax.plot(np.maximum(fpr_a * 1000, floor), tpr_a, label="per attack")
ax.plot([max(fp_op, floor)] * 2, [rec_call, rec_att], "ko")
ax.annotate(f"alert_score {ALERT}:\\n{fp_op:.2f} FP / 1k, recall {rec_att:.2f} (attacks)",
            (max(fp_op, floor), rec_att), textcoords="offset points", xytext=(12, -30))
ax.axvline(1.0, color="r", ls=":", lw=1, label="target: ≤ 1 FP / 1k")
ax.set_xscale("log")
ax.set_xlabel("false positives per 1,000 benign calls (log)")
ax.set_ylabel("recall")
ax.set_title("Same curves, the region that matters")
ax.legend(loc="lower right")
fig.tight_layout()
fig.savefig(OUT / "behaviour_roc.png", dpi=110)
plt.close(fig)
display(Image(OUT / "behaviour_roc.png"))  # Agg draws nothing inline: show the file
print(f"AUC per call {auc_c:.4f}, per attack {auc_a:.4f}")
print(f"at alert_score {ALERT}: {fp_op:.3f} FP / 1k benign calls (calls scoring over the bar; "
      f"alerts raised on them: {fp_alerts:.3f} / 1k), recall {rec_call:.3f} per call, "
      f"{rec_att:.3f} per attack ({int((att >= lp_alert).sum())}/{len(att)})")
"""

WARMUP = """\
# The warm-up effect. Left: how unusual a *benign* call looks to the raw model as the agent's
# baseline fills up (calls before warmup_events / 2 are scored here only for the picture; the
# detector itself starts scoring at 100 and may alert from 200). Right: how often a benign call
# clears the alert bar, by calls learned, with what alerting that early would have cost.
# (Below 100 calls the per-feature running means are not learned yet, so raw scores there
# count every surprise in full: the drop at 100 is partly that, not only learning.)
ben = (label == 0) & ~np.isnan(raw)
edges = np.array([0, 10, 25, 50, 75, 100, 150, 200, 300, 500, 1000])
b = np.digitize(learned[ben], edges) - 1
q = np.array([np.percentile(raw[ben][b == k], [50, 99, 99.9]) if (b == k).any() else [np.nan] * 3
              for k in range(len(edges) - 1)])
mids = np.sqrt(np.maximum(edges[:-1], 1) * edges[1:])

coarse = np.array([100, 150, 200, 300, 500, 1000])
ok = has & (label == 0) & ~np.isnan(p)
bc = np.digitize(learned[ok], coarse) - 1
over = lp[ok] >= lp_alert
rows = []
for k in range(len(coarse) - 1):
    sel = bc == k
    n_k, k_over = int(sel.sum()), int(over[sel].sum())
    sel_a = sel & (learned[ok] >= warmup[ok])
    alerts_k = 1000 * is_alert[ok][sel_a].mean() if sel_a.any() else np.nan
    rows.append((coarse[k], coarse[k + 1], n_k, k_over, alerts_k))
n_k = np.array([r[2] for r in rows])
k_over = np.array([r[3] for r in rows])
rate = 1000 * k_over / np.maximum(n_k, 1)
# rough 95 % interval: k ± 1.96 √k, and the rule of three when nothing was over the bar
hi = 1000 * np.where(k_over > 0, k_over + 1.96 * np.sqrt(k_over), 3.0) / np.maximum(n_k, 1)
lo = 1000 * np.maximum(k_over - 1.96 * np.sqrt(k_over), 0) / np.maximum(n_k, 1)
cmid = np.sqrt(coarse[:-1] * coarse[1:])

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
ax = axes[0]
ax.axvspan(1, 100, color="grey", alpha=0.25, label="not scored by the detector")
ax.axvspan(100, 200, color="grey", alpha=0.1, label="scored, calibrating: no alerts")
for col, name in enumerate(["median", "99th percentile", "99.9th percentile"]):
    ax.stairs(q[:, col], np.r_[1, edges[1:]], label=f"benign {name}", lw=1.5)
ax.plot(learned[(label == 1) & has], raw[(label == 1) & has], "x", ms=4, alpha=0.6,
        label="attack calls")
ax.set_xscale("log")
ax.set_xlim(1, 1000)
ax.set_xlabel("calls the agent's baseline has learned (log)")
ax.set_ylabel("raw score (nats)")
ax.set_title("Raw scores of benign calls fall as the baseline learns")
ax.legend(fontsize=8)

ax = axes[1]
ax.axvspan(100, 200, color="grey", alpha=0.1, label="warm-up: no alerts")
ax.errorbar(cmid, rate, yerr=[rate - lo, hi - rate], fmt="s", capsize=3,
            label="benign calls over the alert bar (95 %)")
ax.plot(cmid, [r[4] for r in rows], "o", label="alerts raised (after warm-up)")
for x, y, n_ in zip(cmid, hi, n_k, strict=True):
    ax.annotate(f"n={n_:,}", (x, y), textcoords="offset points", xytext=(-18, 6), fontsize=8)
ax.axhline(1.0, color="r", ls=":", lw=1, label="target: 1 FP / 1k")
ax.set_xscale("log")
ax.set_xlim(90, 1100)
ax.set_ylim(0, max(3.0, np.nanmax(hi) * 1.2))
ax.set_xlabel("calls the agent's baseline has learned (log)")
ax.set_ylabel("false positives per 1,000 benign calls")
ax.set_title("Calibrated: the false-positive rate is flat once scoring starts")
ax.legend(fontsize=8, loc="upper right")
fig.suptitle(f"Warm-up effect (seed {SEED}, {AGENTS} agents × {MINUTES} min)")
fig.tight_layout()
fig.savefig(OUT / "behaviour_warmup.png", dpi=110)
plt.close(fig)
display(Image(OUT / "behaviour_warmup.png"))  # Agg draws nothing inline: show the file
for lo_, hi_, row in zip(edges[:-1], edges[1:], q, strict=True):
    print(f"learned {lo_:>4}–{hi_:<4}: benign raw score median {row[0]:5.2f}, "
          f"p99 {row[1]:5.2f}, p99.9 {row[2]:5.2f}")
for lo_, hi_, n_, k_, a_ in rows:
    print(f"learned {lo_:>4}–{hi_:<4}: {n_:>6,} benign calls, {k_} over the bar "
          f"({1000 * k_ / max(n_, 1):.2f} / 1k), alerts {a_:.2f} / 1k")
"""

TABLE_MD = """\
## The per-detector table for this seed

`monitor.evaluate.evaluate` on the same events (its own engine run), as
`mcpmon evaluate --seeds 11` would write it (`results/detection.md` has all
five held-out seeds).
"""

TABLE = """\
report = evaluate(sim.events, sim.labels, sim.charters)
report.meta = {"agents": AGENTS, "minutes": MINUTES, "seeds": [SEED]}
md = report.to_markdown()
display(Markdown(md.split("### Per scenario")[0]))
b = report.detectors["behaviour_anomaly"]
print(f"behaviour_anomaly: recall {b.recall:.3f}, precision {b.precision:.3f}, "
      f"{report.fp_per_1k_warm(b):.3f} FP / 1k benign calls after warm-up "
      f"(alerts are deduplicated, so fewer than the calls over the bar above)")
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")
"""


def build() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell(INTRO),
        new_code_cell(SETUP),
        new_markdown_cell("## 1. Simulate one held-out seed"),
        new_code_cell(SIMULATE),
        new_markdown_cell("## 2. Scores and labels for every tool call"),
        new_code_cell(COLLECT),
        new_markdown_cell(
            "## 3. Score distributions, benign vs attack (calls after warm-up)\n\n"
            "Left the raw score, right the agent's calibrated p-value (the dashed "
            "line is the charter's `alert_score`)."
        ),
        new_code_cell(PLOT_SCORES),
        new_markdown_cell(
            "## 4. ROC\n\nNumpy only. Per call (every call of an attack a positive) "
            "and per attack (an attack's score is its highest call in the detection "
            "window); negatives are benign calls after warm-up. The dot is the "
            "charter's `alert_score`."
        ),
        new_code_cell(ROC),
        new_markdown_cell("## 5. Warm-up effect"),
        new_code_cell(WARMUP),
        new_markdown_cell(TABLE_MD),
        new_code_cell(TABLE),
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
