"""What the sub-commands share: settings from their flags, an engine from a charter dir.

A neutral home, so every ``monitor/**/command.py`` can use it without importing
:mod:`monitor.cli` (which imports them all to register them). Nothing heavy is
imported until a command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.core import Engine
    from monitor.settings import Settings


#: The settings a command reads when its call site does not say (``uses=``): the worker
#: judges (engine), signs commands, consumes Kafka, serves metrics and a heartbeat, and
#: has its own section; other services' sections are not its business.
DEFAULT_USES: dict[str, tuple[str, ...]] = {
    "worker": ("engine", "commands", "kafka", "service", "worker"),
}


def out_dir(value: str) -> str:
    """argparse ``type=`` of an ``--out DIR`` flag: a directory cannot be stdout, so
    ``-`` is refused (exit 2, naming the flag) rather than made a directory named ``-``."""
    if value.strip() == "-":
        raise argparse.ArgumentTypeError(
            "- (stdout) is not a directory: this command writes several files; give a directory"
        )
    return value


def settings_from_args(
    args: argparse.Namespace, *, uses: Collection[str] | None = None
) -> Settings:
    """The deployment's settings (MCPMON_*), with the engine flags a command was given.

    ``--observe``, ``--lateness`` and ``--dedup-seconds`` override the
    environment only when given; a command without them leaves it alone.
    ``uses``: the settings sections and groups the command reads
    (:data:`monitor.settings.TOP_GROUPS`); a malformed value of any other is a
    warning naming its variable, not a failure. None: :data:`DEFAULT_USES` of the
    command, else all of them.
    """
    from monitor.settings import load_settings

    if uses is None:
        uses = DEFAULT_USES.get(getattr(args, "command", ""))
    return load_settings(
        {
            "force_observe": True if getattr(args, "observe", False) else None,
            "allowed_lateness_seconds": getattr(args, "lateness", None),
            "alert_dedup_seconds": getattr(args, "dedup_seconds", None),
        },
        uses=uses,
    )


def engine_from_args(
    charters_dir: str, args: argparse.Namespace, *, uses: Collection[str] = ("engine",)
) -> Engine:
    """An engine over the charters in ``charters_dir`` with :func:`settings_from_args`."""
    from monitor.charter import load_charter_dir
    from monitor.core import Engine

    return Engine(load_charter_dir(charters_dir), settings_from_args(args, uses=uses).engine())
