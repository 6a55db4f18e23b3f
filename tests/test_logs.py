"""A logger pinned under one test's logging configuration is captured in the next test;
each log line is written whole."""

from __future__ import annotations

import io
import sys

import orjson
import pytest
import structlog
from structlog.testing import capture_logs

from monitor.proxy import gateway
from monitor.runtime import configure_logging
from tests.logs import reset_structlog


def test_a_logger_cached_under_a_service_configuration_is_captured_after_the_reset(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("error")  # what `mcpmon sink` / `revoker` do in-process: loggers cached
    gateway.log.error("pinned_here")  # first use: this logger is cached with that configuration
    assert "pinned_here" in capsys.readouterr().err
    reset_structlog()  # what tests/conftest.py does between tests
    configure_logging("error")  # a later test reconfigures (a new processor list) ...
    reset_structlog()
    with capture_logs() as logs:  # ... and the test after it captures
        gateway.log.warning("policy_would_refuse", check="out_of_charter_tool:tools")
    assert [e["event"] for e in logs] == ["policy_would_refuse"]


class _Writes(io.StringIO):
    """A stream that keeps each ``write`` call apart."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def write(self, s: str) -> int:
        self.calls.append(s)
        return super().write(s)


@pytest.mark.parametrize("in_process", [False, True], ids=["service", "in-process"])
def test_each_log_line_is_one_write_with_its_newline(
    monkeypatch: pytest.MonkeyPatch, in_process: bool
) -> None:
    """Worker processes share one stderr, and the image sets PYTHONUNBUFFERED: a line written
    apart from its newline (print() does) is two write(2)s, and two processes' lines came
    out glued together (``{...}{...}``), spoiling both for a log shipper."""
    rec = _Writes()
    monkeypatch.setattr(sys, "stderr", rec)
    configure_logging("info", in_process=in_process)
    log = structlog.get_logger("tests.test_logs")
    log.info("first", n=1)
    log.warning("second", text="a\nb")
    assert len(rec.calls) == 2, rec.calls
    for call, event in zip(rec.calls, ("first", "second"), strict=True):
        assert call.endswith("\n") and call.count("\n") == 1, call
        assert orjson.loads(call)["event"] == event
