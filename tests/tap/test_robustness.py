"""No line crashes a preset: every value of every sample line swapped for odd types.

Each mutated line must come out as an event, a dead letter or a skip — never
an exception (a crash would stop the tap; a dead letter only costs a line).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from monitor.tap.lines import Dead, Mapped, Skipped
from tests.tap.support import SAMPLES, feed, lines_of, preset

ODD: list[Any] = [None, 0, -1, True, "", "x", [], [1, "a"], {}, {"a": {"b": []}}, 1.5e300]


def mutations(doc: Any) -> list[Any]:
    """``doc`` with, one at a time, each value (at any depth) replaced by each odd value."""
    out: list[Any] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += [{**doc, k: o} for o in ODD]
            out += [{**doc, k: m} for m in mutations(v)]
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += [[*doc[:i], m, *doc[i + 1 :]] for m in [*ODD, *mutations(v)]]
    return out


@pytest.mark.parametrize("name", [n for n in SAMPLES if n != "jsonrpc"] + ["auto"])
def test_mutated_sample_lines_never_raise(name: str) -> None:
    sources = list(SAMPLES) if name == "auto" else [name]
    raws = []
    for src in sources:
        for raw in SAMPLES[src].read_bytes().splitlines()[:3]:
            raws += [orjson.dumps(m) for m in mutations(orjson.loads(raw))[:4000]]
    out = feed(preset(name, "defaults: {server: s}"), lines_of(raws))
    assert all(isinstance(o, Mapped | Dead | Skipped) for o in out)
    assert any(isinstance(o, Dead) for o in out)
