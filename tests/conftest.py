"""Suite-wide hooks: no logging configuration left behind a test; the hostile-input
counts of ``tests/fuzz`` printed at the end of the run.

Under pytest-xdist every worker counts in its own process; it hands its counts to the
controller in ``workeroutput`` when it finishes, and the controller prints the sum.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.commands import Ran, start_ran
from tests.fuzz.conftest import TRIED
from tests.logs import reset_structlog

_KEY = "mcpmon_hostile_inputs_tried"


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> Ran:
    """A sub-command's run loop replaced by a recorder: it starts without a broker."""
    return start_ran(monkeypatch)


@pytest.fixture(autouse=True)
def _no_logging_left_behind() -> Iterator[None]:
    """A test that configures logging (a command run in-process) leaves none of it, nor any
    logger cached under it, to the tests after it in the same process (``tests/logs.py``)."""
    yield
    reset_structlog()


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the counts to the controller
        workeroutput[_KEY] = dict(TRIED)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown when xdist is not loaded
def pytest_testnodedown(node: Any, error: Any) -> None:
    TRIED.update(getattr(node, "workeroutput", {}).get(_KEY, {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TRIED or hasattr(terminalreporter.config, "workeroutput"):
        return
    tr = terminalreporter
    tr.section("hostile inputs tried")
    for name, n in sorted(TRIED.items()):
        tr.write_line(f"{n:>9,}  {name}")
    tr.write_line(f"{sum(TRIED.values()):>9,}  in total")
