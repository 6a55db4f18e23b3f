"""One root exception for the whole package.

Library errors (pydantic, orjson, YAML) are mapped to these at the boundary, so
callers only ever catch :class:`MonitorError` subclasses.
"""

from __future__ import annotations


def described(err: BaseException) -> str:
    """``Type: text`` for a log or an error message; ``Type`` alone when the text is empty
    (a bare ``TimeoutError()`` would otherwise read ``TimeoutError: ``)."""
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


class MonitorError(Exception):
    """Root of every error mcp-monitor raises on purpose."""


class BrokerError(MonitorError):
    """Kafka cannot be used as configured: unreachable, or its topics not as required.

    Raised by the shared Kafka helpers (:func:`monitor.kafka_io.ensure_topics`)
    for every service that uses them (worker, revoker, sink, tap, proxy).
    """


class BrokerUnavailable(BrokerError):
    """The Kafka bootstrap servers did not answer in time."""


class TopicMismatch(BrokerError):
    """An existing topic has a different partition count than configured.

    Agent state is co-partitioned with ``mcp.events``: the state table's
    changelog must have exactly as many partitions as the input topic.
    """


class DecodeError(MonitorError):
    """A message could not be turned into an event; ``reason`` says why.

    ``field`` names the offending field where one is known, so the
    dead-letter entry and the CLI can point at it.
    """

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class CharterError(MonitorError):
    """A charter document is invalid. ``problems`` lists every one found."""

    def __init__(self, problems: list[CharterProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class CharterProblem:
    """One problem in a charter: where (file, key path, line) and what."""

    __slots__ = ("file", "key", "line", "message")

    def __init__(self, file: str, key: str, line: int | None, message: str) -> None:
        self.file = file
        self.key = key
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"

    def __repr__(self) -> str:
        return f"CharterProblem({self!s})"
