"""The registry of log formats ``mcpmon tap --format NAME`` understands.

One module per format, each a class with the small interface of
:class:`~monitor.tap.formats.base.Format`, listed here by name. Adding a
gateway preset (issue 9: agentgateway, ToolHive, Teleport, OTel, MCPX, Docker)
is one new module and one line in :data:`FORMATS`; ``--format auto`` can then
try each format's recogniser in this order.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.tap.exceptions import TapError
from monitor.tap.formats.base import Format, FormatContext, LineFormat
from monitor.tap.formats.jsonrpc import JsonRpcFormat
from monitor.tap.formats.ours import OursFormat

__all__ = ["FORMATS", "Format", "FormatContext", "LineFormat", "make_format"]

#: name -> factory; the order is the order ``--help`` lists them in.
FORMATS: dict[str, Callable[[FormatContext], Format]] = {
    OursFormat.name: OursFormat,
    JsonRpcFormat.name: JsonRpcFormat,
}


def make_format(name: str, ctx: FormatContext) -> Format:
    try:
        factory = FORMATS[name]
    except KeyError:
        raise TapError(f"unknown format {name!r} (known: {', '.join(FORMATS)})") from None
    fmt = factory(ctx)
    if ctx.mapping is not None and not fmt.uses_mapping:
        raise TapError(f"--format {name} takes no --mapping: its lines carry our fields already")
    return fmt
