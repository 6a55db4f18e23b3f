"""``mcpmon sink --from-file``: deliver an alerts file to a SIEM without Kafka.

Why: replay users and incident reviews have ``alerts.jsonl`` on disk, not a
topic. The same transports and the same retrying :class:`Deliverer` as the
streaming sink deliver each line in order; what differs is the end of the
road. A line that is not an alert, or an alert the transport can never take,
is reported on stderr with its line number and reason and counted (exit 1);
an alert still failing after ``timeout`` seconds of retries stops the run and
says which line to resume from (``--start-line``), so nothing is dropped
silently and nothing is delivered twice by a resumed run.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import IO

import orjson
from pydantic import ValidationError

from monitor import deadletter
from monitor.events import MAX_MESSAGE_BYTES
from monitor.linereader import Oversize
from monitor.output_contracts import Alert
from monitor.replay import read_lines
from monitor.retry import RetryPolicy
from monitor.sinks.service import Deliverer, Undeliverable
from monitor.sinks.transports import Transport


@dataclass(slots=True)
class FileDelivery:
    delivered: int = 0
    bad: int = 0  # lines that are not alerts, and alerts the transport can never take
    stopped_at: int | None = None  # line that was still failing when the run gave up

    def render(self) -> str:
        text = f"delivered {self.delivered:,}, refused {self.bad:,}"
        if self.stopped_at is not None:
            text += (
                f"; stopped at line {self.stopped_at} (still failing): "
                f"resume with --start-line {self.stopped_at}"
            )
        return text


def _report(err: IO[str], line: int, reason: str) -> None:
    err.write(orjson.dumps({"line": line, "reason": deadletter.clip(reason)}).decode() + "\n")


async def deliver_file(
    path: str,
    transport: Transport,
    policy: RetryPolicy,
    timeout: float,
    start_line: int = 1,
    err: IO[str] | None = None,
) -> FileDelivery:
    """Deliver the alerts in ``path`` (``-``: stdin, gzip read transparently) from ``start_line``.

    Refused lines are reported on ``err``, by default the ``sys.stderr`` of the call (not of
    the import: a caller that redirects stderr gets the reports where it points).
    """
    err = sys.stderr if err is None else err
    out = FileDelivery()
    deliverer = Deliverer(transport, policy)
    try:
        for n, raw in enumerate(read_lines(path, MAX_MESSAGE_BYTES), 1):
            if n < start_line:
                continue
            if isinstance(raw, Oversize):
                out.bad += 1
                _report(err, n, f"line of {raw.length} bytes exceeds {MAX_MESSAGE_BYTES}")
                continue
            if not raw.strip():
                continue
            try:
                alert = Alert.model_validate_json(raw)
            except ValidationError as e:
                first = e.errors(include_url=False)[0]
                where = ".".join(str(x) for x in first["loc"])
                out.bad += 1
                _report(err, n, f"invalid alert: {where + ': ' if where else ''}{first['msg']}")
                continue
            try:
                delivered = await asyncio.wait_for(deliverer.deliver(alert), timeout)
            except Undeliverable as e:
                out.bad += 1
                _report(err, n, f"undeliverable alert: {e}")
                continue
            except TimeoutError:
                delivered = False
            if not delivered:
                out.stopped_at = n
                break
            out.delivered += 1
    finally:
        deliverer.stop()
        await transport.aclose()
    return out
