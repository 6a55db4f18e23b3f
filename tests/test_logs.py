"""A logger pinned under one test's logging configuration is captured in the next test."""

from __future__ import annotations

import pytest
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
