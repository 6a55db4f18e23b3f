"""A logger pinned under one test's logging configuration is captured in the next test;
each log line is written whole."""

from __future__ import annotations

import io
import logging
import sys

import orjson
import pytest
import structlog
from structlog.testing import capture_logs

from monitor import cli
from monitor.proxy import gateway
from monitor.runtime import MAX_LOG_STRING, configure_logging
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


AWS_KEY = "AKIAIOSFODNN7EXAMPLF"
GITHUB_TOKEN = "ghp_" + "a1B2" * 9
PASSWORD = "hunter2-pass"
BEARER = "abcdefghijklmnop1234"
SECRETS = (AWS_KEY, GITHUB_TOKEN, PASSWORD, BEARER)


@pytest.mark.parametrize("in_process", [False, True], ids=["service", "in-process"])
def test_no_secret_reaches_a_log_line_in_any_field_at_any_depth(
    monkeypatch: pytest.MonkeyPatch, in_process: bool
) -> None:
    """Each site redacts what it quotes; this is the net under them: a string field, a key or
    value deep in a dict or list, a set, an exception object, a formatted traceback."""
    rec = _Writes()
    monkeypatch.setattr(sys, "stderr", rec)
    configure_logging("info", in_process=in_process)
    log = structlog.get_logger("tests.test_logs")
    try:
        raise ValueError(f"upstream said Authorization: Bearer {BEARER}")
    except ValueError as err:
        log.error("upstream_failed", exc_info=True, error=err)
    log.warning(
        "call_refused",
        detail=f"agent_kind {AWS_KEY!r} is not one of delegated, autonomous",
        nested={
            "url": f"redis://:{PASSWORD}@cache:6379/0",
            GITHUB_TOKEN: [AWS_KEY, 3, None],
            "args": {"db_password": PASSWORD},  # a bare value under a secret's name
        },
        tokens={GITHUB_TOKEN},
        sponsor="alice@corp.example",
        agent_id="spiffe://corp/agents/a",
        attempts=2,
    )
    text = "".join(rec.calls)
    assert not [s for s in SECRETS if s in text]
    failed, refused = (orjson.loads(c) for c in rec.calls)
    assert failed["error"] == "upstream said Authorization: Bearer [REDACTED:authorization]"
    if not in_process:  # a service formats the traceback, then it is redacted like the rest
        assert "Traceback" in failed["exception"]
        assert "[REDACTED:authorization]" in failed["exception"]
    assert (
        refused["detail"] == "agent_kind '[REDACTED:aws-key]' is not one of delegated, autonomous"
    )
    assert refused["nested"] == {
        "url": "redis://:[REDACTED:url-password]@cache:6379/0",
        "[REDACTED:github-token]": ["[REDACTED:aws-key]", 3, None],
        "args": {"db_password": "[REDACTED:key-value]"},
    }
    assert refused["tokens"] == ["[REDACTED:github-token]"]
    kept = {k: refused[k] for k in ("sponsor", "agent_id", "attempts", "event")}
    assert kept == {"sponsor": "alice@corp.example", "agent_id": "spiffe://corp/agents/a",
                    "attempts": 2, "event": "call_refused"}  # fmt: skip


def test_a_librarys_log_record_is_redacted_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faust's and aiokafka's warnings reach the same stream as ``library_log`` lines."""
    rec = _Writes()
    monkeypatch.setattr(sys, "stderr", rec)
    configure_logging("info")
    lib = logging.getLogger("tests.a_library")
    try:
        raise ConnectionError(f"redis://:{PASSWORD}@cache:6379/0 refused")
    except ConnectionError:
        lib.warning("sasl_password=%s rejected", PASSWORD, exc_info=True)
    [line] = [orjson.loads(c) for c in rec.calls]
    assert line["message"] == "sasl_password=[REDACTED:key-value]"  # to the end of the line
    assert "redis://:[REDACTED:url-password]@cache" in line["exception"]
    assert PASSWORD not in "".join(rec.calls)


def test_a_commands_warnings_before_its_logging_is_set_up_are_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``mcpmon replay`` and the other one-shot commands log with structlog's own renderer."""
    reset_structlog()
    cli._warnings_to_stderr()
    structlog.get_logger("tests.test_logs").warning("malformed_setting", value=AWS_KEY)
    err = capsys.readouterr().err
    assert "malformed_setting" in err and "[REDACTED:aws-key]" in err and AWS_KEY not in err


@pytest.mark.parametrize("in_process", [False, True], ids=["service", "in-process"])
def test_a_megabyte_value_is_cut_in_the_middle_but_an_undelivered_event_is_logged_whole(
    monkeypatch: pytest.MonkeyPatch, in_process: bool
) -> None:
    """A caller's 1 MB header quoted in a refusal would be a 1 MB line, past what log shippers
    take; a traceback ends with its exception, so the tail is kept too."""
    rec = _Writes()
    monkeypatch.setattr(sys, "stderr", rec)
    configure_logging("info", in_process=in_process)
    value = "HEAD" + "x" * 1_000_000 + f" {AWS_KEY} TAIL"
    log = structlog.get_logger("tests.test_logs")
    log.warning("call_refused", error=value, n=len(value))
    # an event the proxy could not deliver is logged whole, to be recovered from the log
    event = {"tool": "write_file", "args": {"text": "y" * 40_000, "key": AWS_KEY}}
    log.error("event_not_emitted", reason="buffer_full", tool_call=event)
    line, lost = (orjson.loads(c) for c in rec.calls)
    assert lost["tool_call"] == {"tool": "write_file",
                                 "args": {"text": "y" * 40_000, "key": "[REDACTED:aws-key]"}}  # fmt: skip
    assert len(line["error"]) < MAX_LOG_STRING + 40 and len(rec.calls[0]) < MAX_LOG_STRING + 200
    cut = len(value) - len(AWS_KEY) + len("[REDACTED:aws-key]") - MAX_LOG_STRING
    head, tail = line["error"].split(f"…[{cut} characters cut]…")
    assert head.startswith("HEAD") and len(head) == len(tail) == MAX_LOG_STRING // 2
    assert tail.endswith(" [REDACTED:aws-key] TAIL")  # redacted first, then cut
    assert line["n"] == len(value)


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_a_value_that_cannot_be_made_text_is_named_by_its_type_and_the_line_still_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rec = _Writes()
    monkeypatch.setattr(sys, "stderr", rec)
    configure_logging("info", in_process=True)
    structlog.get_logger("tests.test_logs").warning("odd", thing=_Unprintable(), key=AWS_KEY)
    [line] = [orjson.loads(c) for c in rec.calls]
    assert line["thing"] == "[unprintable _Unprintable]" and line["key"] == "[REDACTED:aws-key]"
