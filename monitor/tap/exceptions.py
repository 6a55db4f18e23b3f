"""Errors of the gateway tap, all under the package's one root exception.

A *line* that cannot be mapped is not an error here: it becomes a dead letter
(:class:`monitor.tap.lines.Dead`) and the run goes on. These exceptions are
for a tap that cannot run as asked.
"""

from __future__ import annotations

from monitor.errors import MonitorError


class TapError(MonitorError):
    """The tap cannot run as configured (source, checkpoint, format)."""


class MappingConfigError(TapError):
    """The ``--mapping`` file is invalid; the message names the file and key."""


class CheckpointError(TapError):
    """The checkpoint file is unreadable or belongs to another target."""


class DeliveryError(TapError):
    """The broker did not confirm a batch; the checkpoint stays before it."""
