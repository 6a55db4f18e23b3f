"""Counts the hostile inputs tried, per class; ``tests/conftest.py`` prints them at the end.

The summary lives in the top-level conftest because under pytest-xdist (``make test``
runs the unit tests on two workers) only that one is loaded by the controlling process:
each worker sends its counts back when it finishes and the controller adds them up.
"""

from __future__ import annotations

from collections import Counter

TRIED: Counter[str] = Counter()
