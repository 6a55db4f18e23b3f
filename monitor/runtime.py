"""What every long-running command shares: JSON log lines on stderr, a clean stop on SIGTERM.

:func:`configure_logging` is the one logging set-up (worker, revoker, sink,
tap, proxy): key-value JSON lines on stderr (structlog, orjson).
:func:`run_until_stopped` runs a service until it returns or a SIGTERM / SIGINT
asks it to finish what it holds (the revoker the command in hand, the sink the
alert in hand, the tap its batch and checkpoint).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import traceback
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import orjson
import structlog
from structlog.typing import EventDict

from monitor.core.redact import DEFAULT_REDACTOR, MAX_DEPTH

__all__ = ["Stoppable", "configure_logging", "redact_secrets", "run_until_stopped"]

T = TypeVar("T", covariant=True)

#: characters of one string a log line keeps: its head and its tail (a traceback ends with
#: the exception), the middle cut, so a caller's 1 MB value is not a 1 MB line
MAX_LOG_STRING = 16 * 1024
#: levels of a log line :func:`redact_secrets` walks: an event logged whole (the proxy's
#: ``event_not_emitted``) has its arguments two levels down, and they may be 64 deep
_LOG_DEPTH = MAX_DEPTH + 8


def redact_secrets(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """A structlog processor: every string of a log line, in lists and dicts too (keys
    included), through the default secret rules (:data:`~monitor.core.redact.DEFAULT_REDACTOR`:
    token families, authorization values, URL passwords, secret-named assignments, a
    secret-named key's value whole: :meth:`~monitor.core.redact.Redactor.structure`), then
    bounded to :data:`MAX_LOG_STRING` characters (head and tail kept, the cut counted).
    ``tool_call`` (an event the proxy could not deliver, logged whole so that it can be
    recovered from the log) is redacted but not cut.

    Each site that logs what a caller or a remote end sent redacts it already (the proxy's
    refusals, the revoker's endpoint replies); this is the net under them, so a line that
    quotes an input (an error's text, a traceback, a library's message) cannot carry a
    credential into the log. It runs after the traceback is formatted and before the line is
    rendered; e-mail addresses are kept (an operator needs the sponsor it names).
    """
    return {k: _field(k, v) for k, v in event.items()}  # the names are the code's own


def _field(name: str, value: Any) -> Any:
    """One field, redacted (and bounded unless logged whole); a value that cannot even be
    made text (a ``__str__`` that raises) is named by its type: a log call never raises."""
    try:
        bound = None if name in _WHOLE else _bounded
        return DEFAULT_REDACTOR.structure(value, depth=_LOG_DEPTH, text=bound)
    except Exception:
        return f"[unprintable {type(value).__name__}]"


#: fields logged whole, never cut: a record meant to be recovered from the log
_WHOLE = frozenset({"tool_call"})


def _bounded(text: str) -> str:
    """``text``, or its head and tail around ``…[N characters cut]…`` when it is longer than
    :data:`MAX_LOG_STRING` (cut after redaction: a secret cut in two would not be found)."""
    if len(text) <= MAX_LOG_STRING:
        return text
    half = MAX_LOG_STRING // 2
    return f"{text[:half]}…[{len(text) - 2 * half} characters cut]…{text[-half:]}"


def _dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def configure_logging(level: str = "info", *, in_process: bool = False) -> None:
    """Key-value JSON lines on stderr (structlog, orjson), at ``level`` and above.

    A service process (worker, revoker, sink; ``in_process=False``): loggers are
    cached, and the standard library's warnings and errors (Faust, mode,
    aiokafka, where nothing printed them: a crashed agent or a stuck shutdown
    was silent) go to the same stream as the same JSON lines
    (``event: library_log``).

    ``in_process=True`` (tap, proxy): loggers are not cached and find
    ``sys.stderr`` when they log, and the standard library's logging is left
    alone: they log rarely (rotation, resume, refusals), and a run inside
    another process (tests, notebooks) must not pin a stream that is swapped
    later.
    """
    processors: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if not in_process:
        processors.append(structlog.processors.format_exc_info)
    processors.append(redact_secrets)
    processors.append(structlog.processors.JSONRenderer(serializer=_dumps))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # one write per line, the newline included: PrintLogger's print() writes the line and
        # its newline apart, and with PYTHONUNBUFFERED (the image sets it) those are two
        # write(2)s, so the worker processes sharing one stderr glued two JSON lines together
        logger_factory=(
            (lambda *_: structlog.WriteLogger(sys.stderr))
            if in_process
            else structlog.WriteLoggerFactory(sys.stderr)
        ),
        cache_logger_on_first_use=not in_process,
    )
    if in_process:
        return
    root = logging.getLogger()
    if not any(isinstance(h, _LibraryLines) for h in root.handlers):
        root.addHandler(_LibraryLines())
        # a warning per table write while Faust's send buffer is over 100 records: load, not news
        logging.getLogger("faust.transport.producer").addFilter(
            lambda r: not str(r.msg).startswith("producer buffer full")
        )
    root.setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))


class _LibraryLines(logging.Handler):
    """A standard-library log record as one JSON line on stderr (``event: library_log``)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            doc: dict[str, Any] = {
                "event": "library_log",
                "logger": record.name,
                "message": _bounded(DEFAULT_REDACTOR(record.getMessage())),
                "level": record.levelname.lower(),
                "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            }
            if record.exc_info:
                doc["exception"] = _bounded(
                    DEFAULT_REDACTOR("".join(traceback.format_exception(*record.exc_info)))
                )
            sys.stderr.write(orjson.dumps(doc, default=str).decode() + "\n")
        except Exception:
            self.handleError(record)


class Stoppable(Protocol[T]):
    def run(self) -> Awaitable[T]: ...

    def stop(self) -> None: ...


async def run_until_stopped(service: Stoppable[T]) -> T:
    """Run ``service``; SIGTERM / SIGINT call its ``stop()`` (finish what it holds) and return."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stop)
    try:
        return await service.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
