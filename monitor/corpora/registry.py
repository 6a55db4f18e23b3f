"""Which public corpora ``mcpmon evaluate --corpus NAME`` knows: one line each.

An entry names the converter module (it has ``convert(source) -> Corpus`` and a
``LICENCE`` string, and may have ``NOTICE``, the licence text written beside the
fixture, and ``convert_with_stats``) and the committed fixture directory the evaluation runs from when no source
is given (CI cannot reach the sources). Register another converter with one line in
:data:`CORPORA`. What a converter must hold to: event ids unique across its corpus;
every event of a session carries the label's ``session_id`` (or ``task_id``) and
``agent_id``; ``attack_events`` name the attacker-caused calls; deterministic output.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from monitor.corpora.base import Corpus
from monitor.corpora.fixtures import load_fixture, write_fixture
from monitor.errors import MonitorError

#: Where committed fixtures live: ``<repository>/data/corpora/<name>``.
FIXTURE_ROOT = Path(__file__).resolve().parents[2] / "data" / "corpora"


@dataclass(frozen=True, slots=True)
class CorpusEntry:
    name: str
    module: str  # dotted module path with convert(source) -> Corpus

    @property
    def fixture(self) -> Path:
        return FIXTURE_ROOT / self.name

    def converter(self) -> ModuleType:
        return importlib.import_module(self.module)


CORPORA: dict[str, CorpusEntry] = {
    e.name: e
    for e in (
        CorpusEntry("injecagent", "monitor.corpora.injecagent"),
        CorpusEntry("asb", "monitor.corpora.asb"),
        CorpusEntry("tau", "monitor.corpora.tau"),
        CorpusEntry("firedrill", "monitor.corpora.firedrill"),
        CorpusEntry("livemcpbench", "monitor.corpora.livemcpbench"),
        CorpusEntry("tau2", "monitor.corpora.tau2"),
    )
}


def entry(name: str) -> CorpusEntry:
    try:
        return CORPORA[name]
    except KeyError:
        known = ", ".join(sorted(CORPORA)) or "none"
        raise MonitorError(f"unknown corpus {name!r} (known: {known})") from None


def load(name: str, source: str | Path | None = None) -> Corpus:
    """The corpus ``name``: converted from ``source`` when given, else its committed fixture."""
    e = entry(name)
    if source is not None:
        corpus: Corpus = e.converter().convert(source)
        return corpus
    if not e.fixture.is_dir():
        raise MonitorError(
            f"corpus {name!r}: no fixture at {e.fixture}; give --source DIR to convert one "
            f"(python -m monitor.corpora {name} --source DIR writes the fixture)"
        )
    return load_fixture(e.fixture)


def regenerate(name: str, source: str | Path, out: str | Path | None = None) -> Path:
    """Convert ``source`` and (re)write the fixture directory; returns it."""
    e = entry(name)
    mod = e.converter()
    src = Path(source)
    stats = None
    if hasattr(mod, "convert_with_stats"):
        corpus, stats = mod.convert_with_stats(src)
    else:
        corpus = mod.convert(src)
    notice = str(getattr(mod, "NOTICE", None) or f"{corpus.licence}\n")
    meta: dict[str, object] = {}
    if stats is not None:
        from dataclasses import asdict

        meta["conversion"] = asdict(stats)
    return write_fixture(corpus, out or e.fixture, notice, meta)


__all__ = ["CORPORA", "FIXTURE_ROOT", "CorpusEntry", "entry", "load", "regenerate"]
