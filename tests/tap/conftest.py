from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """``mcpmon tap`` run in-process configures logging; leave none of it behind."""
    yield
    structlog.reset_defaults()
