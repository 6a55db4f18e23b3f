"""docs/architecture.md names every registered detector and every detector module."""

from __future__ import annotations

from pathlib import Path

import monitor.core.detectors as detectors
from monitor.core.detectors import REGISTRY

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def test_the_map_lists_every_registered_detector_and_module() -> None:
    text = DOC.read_text()
    names = {getattr(d, "name", None) or k for k, d in REGISTRY.items()}
    assert {"static_credential", "secret_in_transit", "footprint_breadth",
            "command_class_first_use"} <= names  # fmt: skip
    assert sorted(n for n in names if f"`{n}`" not in text) == []
    modules = sorted(p.name for p in Path(detectors.__file__).parent.glob("*.py"))
    assert [
        m for m in modules if m not in ("__init__.py", "base.py") and f"`{m}`" not in text
    ] == []
