"""``mcpmon bench models``: the counting baseline beside river's anomaly models.

Same calls, same features, one model per agent; the table is
``results/baseline_models.md``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from monitor.events import decode_event


def _river_vector(f: Any) -> dict[str, float]:
    """What a generic numeric anomaly model sees of a call: values scaled into [0, 1].

    Categorical values (tool, transition, destination, resource, argument shape)
    become their 32-bit hash scaled to [0, 1): a numeric model has no better way
    to see "which one" without a count table of its own.
    """
    scale = 1.0 / 2**32
    return {
        "tool": f.tool * scale,
        "transition": max(f.transition, 0) * scale,
        "destination": (f.destination_hashes[0] if f.destination_hashes else 0) * scale,
        "resource": (f.resource_hashes[0] if f.resource_hashes else 0) * scale,
        "shape": f.shape * scale,
        "rate": min(f.rate, 32) / 32,
        "burst": min(f.burst, 32) / 32,
        "fanout": min(f.fanout, 32) / 32,
        "bytes_out": min(f.bytes_out / 25, 1.0),
        "bytes_in": min(f.bytes_in / 25, 1.0),
        "error_streak": min(f.error_streak, 8) / 8,
        "task_length": min(f.task_length, 128) / 128,
        "hour": f.hour / 24,
    }


class _GaussianSum:
    """river ``GaussianScorer`` per continuous feature; score = Σ -log(1 - score_f)."""

    KEYS = ("rate", "burst", "fanout", "bytes_out", "bytes_in", "error_streak", "task_length")

    def __init__(self) -> None:
        from river import anomaly

        self.scorers = {k: anomaly.GaussianScorer(grace_period=20) for k in self.KEYS}

    def score_one(self, x: dict[str, float]) -> float:
        from math import log

        return sum(-log(max(1e-12, 1 - s.score_one(None, x[k]))) for k, s in self.scorers.items())

    def learn_one(self, x: dict[str, float]) -> None:
        for k, s in self.scorers.items():
            s.learn_one(None, x[k])


NAMES = (
    "counting (ours)",
    "HalfSpaceTrees",
    "LODA",
    "GaussianScorer ×7",
    "HalfSpaceTrees on our surprises",
)


def _new_models(agent_id: str) -> tuple[Any, ...]:
    """One of each model for an agent, river models seeded from the agent id."""
    import zlib

    from river import anomaly

    from monitor.core.baseline.model import AgentBaseline

    agent_seed = zlib.crc32(agent_id.encode())
    return (
        AgentBaseline(),
        anomaly.HalfSpaceTrees(seed=agent_seed),
        anomaly.LODA(seed=agent_seed),
        _GaussianSum(),
        anomaly.HalfSpaceTrees(seed=agent_seed),
    )


def _score_and_learn(
    models: tuple[Any, ...], call: Any, warmup: int
) -> tuple[dict[str, float], tuple[float, ...]]:
    """Every model scores ``call`` then learns it: (scores by model, seconds by model)."""
    ours, hst, loda, gauss, hst2 = models
    f = ours.observe(call, call.ts.timestamp())
    x = _river_vector(f)
    scores: dict[str, float] = {}
    start = time.perf_counter()
    surprises = None
    if ours.n_learned >= warmup // 2:
        raw, surprises = ours.score_one(f)
        ours.push(surprises)
        ours.learn_one(f, surprises, raw)
        scores[NAMES[0]] = raw
    else:
        ours.learn_one(f)
    t1 = time.perf_counter()
    scores[NAMES[1]] = hst.score_one(x)
    hst.learn_one(x)
    t2 = time.perf_counter()
    scores[NAMES[2]] = loda.score_one(x)
    loda.learn_one(x)
    t3 = time.perf_counter()
    scores[NAMES[3]] = gauss.score_one(x)
    gauss.learn_one(x)
    t4 = time.perf_counter()
    if surprises is not None:  # a learned combiner instead of our clipped sum
        z = {str(i): min(v / 30, 1.0) for i, v in enumerate(surprises)}
        scores[NAMES[4]] = hst2.score_one(z)
        hst2.learn_one(z)
    t5 = time.perf_counter()
    return scores, (t1 - start, t2 - t1, t3 - t2, t4 - t3, t5 - t4 + t1 - start)


@dataclass
class _Tally:
    """The figures of :func:`compare_models`, summed over seeds."""

    spent: dict[str, float] = field(default_factory=lambda: dict.fromkeys(NAMES, 0.0))
    calls_seen: int = 0
    found: dict[str, int] = field(default_factory=lambda: dict.fromkeys(NAMES, 0))
    ranks: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n in NAMES})
    sizes: dict[str, list[int]] = field(default_factory=lambda: {n: [] for n in NAMES})
    attacks_total: int = 0

    def judge(
        self, attack: dict[str, dict[str, float]], benign: dict[str, dict[str, list[float]]]
    ) -> None:
        """Found at the agent's benign maximum, and the rank among its benign calls."""
        for aid, best in attack.items():
            self.attacks_total += 1
            for name in NAMES:
                past = benign.get(aid, {}).get(name, [])
                if not past or name not in best or best[name] == float("-inf"):
                    continue
                self.found[name] += best[name] > max(past)
                self.ranks[name].append(sum(v < best[name] for v in past) / len(past))

    def measure_state(self, models: list[tuple[Any, ...]]) -> None:
        import pickle

        for ours, hst, loda, gauss, hst2 in models[:50]:
            self.sizes[NAMES[0]].append(len(orjson.dumps(ours.snapshot())))
            self.sizes[NAMES[1]].append(len(pickle.dumps(hst)))
            self.sizes[NAMES[2]].append(len(pickle.dumps(loda)))
            self.sizes[NAMES[3]].append(len(pickle.dumps(gauss)))
            self.sizes[NAMES[4]].append(
                len(orjson.dumps(ours.snapshot())) + len(pickle.dumps(hst2))
            )

    def table(self) -> str:
        lines = [
            "| model | attacks found at the agent's benign max | mean attack rank "
            "| µs per call (score + learn) | state per agent |",
            "|---|---:|---:|---:|---:|",
        ]
        for name in NAMES:
            ranks, found, total = self.ranks[name], self.found[name], self.attacks_total
            mean_rank = sum(ranks) / len(ranks) if ranks else float("nan")
            size = sum(self.sizes[name]) / len(self.sizes[name])
            lines.append(
                f"| {name} | {found}/{total} ({found / total:.2f}) "
                f"| {mean_rank:.4f} | {self.spent[name] / self.calls_seen * 1e6:.1f} "
                f"| {size / 1024:,.1f} KiB |"
            )
        return "\n".join(lines) + "\n"


def _one_seed(
    tally: _Tally, seed: int, agents: int, minutes: float, warmup: int, window: int
) -> None:
    """Every model over one simulated run; attacks and benign scores per agent into ``tally``."""
    from monitor import simulate as sim_mod
    from monitor.core.detectors.behaviour import BehaviourAnomaly
    from monitor.events import ToolCall

    sim = sim_mod.simulate(agents, minutes, seed)
    labels = {
        lab["event_id"]: lab for lab in sim.labels if lab["detector"] == BehaviourAnomaly.name
    }
    rule_carriers = {lab["agent_id"] for lab in sim.labels} - {
        lab["agent_id"] for lab in labels.values()
    }
    models: dict[str, tuple[Any, ...]] = {}
    benign: dict[str, dict[str, list[float]]] = {}
    attack: dict[str, dict[str, float]] = {}
    open_at: dict[str, int] = {}
    count: dict[str, int] = {}
    for e in sim.events:
        if e["type"] != "tool_call" or e["agent_id"] in rule_carriers:
            continue
        call = decode_event(orjson.dumps(e))
        if type(call) is not ToolCall:  # the simulator's own output: a bug if it happens
            raise TypeError(f"simulated tool_call decoded as {type(call).__name__}")
        aid = call.agent_id
        got = models.get(aid)
        if got is None:
            got = models[aid] = _new_models(aid)
        k = count[aid] = count.get(aid, 0) + 1
        scores, steps = _score_and_learn(got, call, warmup)
        for name, dt in zip(NAMES, steps, strict=True):
            tally.spent[name] += dt
        tally.calls_seen += 1
        if call.event_id in labels:
            open_at[aid] = k
            attack[aid] = dict.fromkeys(NAMES, float("-inf"))
        if k <= warmup:
            continue
        if aid in open_at and k - open_at[aid] <= window:
            for name, v in scores.items():
                attack[aid][name] = max(attack[aid][name], v)
        elif aid not in open_at or k - open_at[aid] > 200:  # well after: benign again
            for name, v in scores.items():
                benign.setdefault(aid, {}).setdefault(name, []).append(v)
    tally.judge(attack, benign)
    tally.measure_state(list(models.values()))


def compare_models(
    seeds: tuple[int, ...] = (1, 2),
    agents: int = 60,
    minutes: float = 360,
    warmup: int = 200,
    window: int = 45,
) -> str:
    """Counting baseline vs river's anomaly models on the same calls, same features.

    Every model sees each agent's calls in order (one model per agent, river
    models seeded from the agent id), scores a call, then learns it. Measured
    on behaviour-attack carriers and benign agents after ``warmup`` calls:

    - **recall at the agent's benign maximum** — an attack counts as found when
      some call of it (the labelled call and the ``window`` calls after it)
      scores above *every* benign call of the same agent: a per-agent threshold
      with no false positive on that agent, the best any calibration can do;
    - **attack rank** — the mean fraction of the agent's benign calls scoring
      below the attack's best call (1.0 = above all of them);
    - **µs per call** (score + learn) and **state bytes per agent** (pickle for
      river models; the JSON snapshot for the counting model).

    Returns the markdown table (``results/baseline_models.md``).
    """
    tally = _Tally()
    for seed in seeds:
        _one_seed(tally, seed, agents, minutes, warmup, window)
    return tally.table()
