"""Per-agent behaviour baselines: features, counting models, calibration.

One concept per module:

- :mod:`.features` — what a call looks like (named, hashed, explainable);
- :mod:`.window` — the agent's recent past (rate, fan-out, transitions, streaks);
- :mod:`.counts` — exact hashed count tables and the surprise of a count;
- :mod:`.moments` — running moments for data volume;
- :mod:`.calibration` — raw score → per-agent calibrated score, and what 0.98 means;
- :mod:`.model` — :class:`AgentBaseline`: ``score_one`` / ``learn_one`` / snapshot;
- :mod:`.explain` — which features drove a score, in words.

The detector that uses them is :mod:`monitor.core.detectors.behaviour`.
"""

from __future__ import annotations

from monitor.core.baseline.features import FEATURES, CallFeatures, extract
from monitor.core.baseline.model import AgentBaseline

__all__ = ["FEATURES", "AgentBaseline", "CallFeatures", "extract"]
