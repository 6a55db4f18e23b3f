"""The registry of log formats ``mcpmon tap --format NAME`` understands.

One module per format, each a class with the small interface of
:class:`~monitor.tap.formats.base.Format`, listed here by name. Adding a
gateway preset is one new module (a
:class:`~monitor.tap.formats.preset.PresetFormat` with its default mapping
and a ``recognise``) and one line here, plus its line in
:data:`monitor.tap.formats.auto.RECOGNISERS` for ``--format auto``.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.tap.exceptions import TapError
from monitor.tap.formats.agentgateway import AgentgatewayFormat
from monitor.tap.formats.auto import AutoFormat
from monitor.tap.formats.base import Format, FormatContext, LineFormat
from monitor.tap.formats.docker_audit import DockerAuditFormat
from monitor.tap.formats.jsonrpc import JsonRpcFormat
from monitor.tap.formats.mcpx import McpxFormat
from monitor.tap.formats.otel import OtelFormat
from monitor.tap.formats.ours import OursFormat
from monitor.tap.formats.teleport import TeleportFormat
from monitor.tap.formats.toolhive import ToolHiveFormat

__all__ = ["FORMATS", "Format", "FormatContext", "LineFormat", "make_format"]

#: name -> factory; the order is the order ``--help`` lists them in.
FORMATS: dict[str, Callable[[FormatContext], Format]] = {
    OursFormat.name: OursFormat,
    JsonRpcFormat.name: JsonRpcFormat,
    AgentgatewayFormat.name: AgentgatewayFormat,
    ToolHiveFormat.name: ToolHiveFormat,
    TeleportFormat.name: TeleportFormat,
    OtelFormat.name: OtelFormat,
    McpxFormat.name: McpxFormat,
    DockerAuditFormat.name: DockerAuditFormat,
    AutoFormat.name: AutoFormat,
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
