"""Per-agent behaviour baselines: features, counting models, calibration.

One concept per module:

- :mod:`.features` — what a call looks like (named, hashed, explainable);
- :mod:`.window` — the agent's recent past (rate, fan-out, transitions, streaks);
- :mod:`.counts` — exact hashed count tables and the surprise of a count;
- :mod:`.moments` — running moments for data volume;
- :mod:`.calibration` — raw score → per-agent calibrated score, and what 0.98 means;
- :mod:`.model` — :class:`AgentBaseline`: ``score_one`` / ``learn_one`` / snapshot;
- :mod:`.layout` — where each of the model's arrays lives in its one state buffer;
- :mod:`.feedback` — an analyst's verdict on an alert, learned (or unlearned) by the model;
- :mod:`.explain` — which features drove a score, in words;
- :mod:`.native` — the optional compiled (mypyc) build of the hot modules.

The detector that uses them is :mod:`monitor.core.detectors.behaviour`.
"""

from __future__ import annotations

from monitor.core.baseline import native as _native

if _native.stale():  # a compiled build older than its source: run the source, every module
    import importlib.util
    import sys
    import warnings

    warnings.warn(
        "monitor.core.baseline: the compiled (mypyc) build is older than its source; "
        "running the pure-Python modules (rebuild: python -m monitor.native_build)",
        RuntimeWarning,
        stacklevel=2,
    )
    for _name in _native.MODULES:
        _spec = importlib.util.spec_from_file_location(
            f"{__name__}.{_name}", _native.HERE / f"{_name}.py"
        )
        assert _spec is not None and _spec.loader is not None
        _mod = importlib.util.module_from_spec(_spec)
        sys.modules[_spec.name] = _mod
        _spec.loader.exec_module(_mod)
elif _native.built():  # a current build: its modules import mypyc's shared library by name
    _native.load_shared()

from monitor.core.baseline.features import FEATURES, CallFeatures, extract
from monitor.core.baseline.model import AgentBaseline

__all__ = ["FEATURES", "AgentBaseline", "CallFeatures", "extract"]
