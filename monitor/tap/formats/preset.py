"""What every gateway preset shares: one JSON object a line, mapped on its own.

A preset is a :class:`PresetFormat` with

- ``PRESET``: a :class:`~monitor.tap.mapping.FieldMapping` of where *this
  gateway* logs our ids (``agent_id``, ``sponsor``, ``task_id``,
  ``credential_id``, ``tenant``, ``session_id``, ``server``, ``trace_id``,
  ``ts``) — the defaults of ``../shared/gateway-logs/README.md``. The user's
  ``--mapping`` is laid over it, target by target, so any default can be
  replaced without touching code;
- ``recognise(doc)``: whether a decoded line has this gateway's shape (for
  ``--format auto``; cheap key checks only);
- ``map_doc(line, doc)``: what only code can say — which lines are tool calls,
  the tool, arguments and outcome, the event id, and whether the caller was
  delegated.

Delegation. An RFC 8693 token-exchange token names the human in ``sub`` and
the agent in ``act.sub``; a preset that sees that (an ``act`` claim, a
ToolHive delegation chain, a Teleport human user) calls :meth:`PresetFormat.emit`
with ``delegated=True`` and the human, and the event gets
``agent_kind: delegated`` and ``sponsor: <human>`` unless the mapping already
gave those.

Why the event id is derived per source and not per run: the monitor drops
duplicate ``event_id`` values, so re-tapping a log (or resuming after a
crash) must give the same ids. Gateways that log an id (ToolHive ``audit_id``,
Teleport ``uid``, trace and span ids) give it; the others hash the source
label, line number and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar
from urllib.parse import unquote

import orjson

from monitor.core.detectors.secret_transit import result_secrets
from monitor.core.values import result_digests
from monitor.errors import DecodeError
from monitor.tap.formats.base import (
    FormatContext,
    LineFormat,
    derive_event_id,
    mapped,
    parse_ts,
    tool_call,
)
from monitor.tap.formats.jsonrpc import trace_id_of
from monitor.tap.lines import Dead, Line, Mapped, Output
from monitor.tap.mapping import FieldMapping
from monitor.tap.paths import MISSING, DottedPath

#: argument keys whose value names what a call touches (see :func:`resources_from_args`)
RESOURCE_ARGS = ("path", "file", "filename", "uri", "url")


def decode_object(raw: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise DecodeError(f"not JSON: {err}") from None
    if not isinstance(doc, dict):
        raise DecodeError(f"not a JSON object (a {type(doc).__name__})")
    return doc


def parse_baggage(text: Any) -> dict[str, str]:
    """W3C ``baggage`` (``k=v,k2=v2;prop``) as a dict; anything else gives ``{}``.

    >>> parse_baggage("task_id=TASK-4411,sponsor=alice%40corp.example;p=1")
    {'task_id': 'TASK-4411', 'sponsor': 'alice@corp.example'}
    """
    if not isinstance(text, str):
        return {}
    out: dict[str, str] = {}
    for member in text.split(","):
        kv = member.split(";", 1)[0]
        k, sep, v = kv.partition("=")
        if sep and k.strip():
            out[k.strip()] = unquote(v.strip())
    return out


def with_baggage(doc: dict[str, Any], meta: Any) -> dict[str, Any]:
    """``doc`` plus a top-level ``baggage`` dict parsed from ``meta['baggage']``, when present.

    So a mapping (and the presets' defaults) can say ``baggage.task_id``.
    """
    if isinstance(meta, dict) and isinstance(meta.get("baggage"), str) and "baggage" not in doc:
        return {**doc, "baggage": parse_baggage(meta["baggage"])}
    return doc


def resources_from_args(args: Mapping[str, Any]) -> list[str]:
    """URIs a call touches, read from its usual argument names.

    Absolute paths become ``file://`` URIs (so charter patterns such as
    ``file://**/.env`` match them); values with a scheme are kept as they are;
    anything else (``kv/fleet/key``) is not a resource we can name.
    """
    out: list[str] = []
    for key in RESOURCE_ARGS:
        v = args.get(key)
        if not isinstance(v, str) or not v:
            continue
        if v.startswith("/"):
            out.append("file://" + v)
        elif "://" in v:
            out.append(v)
    return out


def args_of(value: Any, where: str) -> dict[str, Any]:
    """Tool arguments as logged: an object, JSON text of one, or absent (``{}``)."""
    if value is MISSING or value is None:
        return {}
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {"_raw": value}  # a gateway that logs text: keep it, redactable as one field
    if not isinstance(value, dict):
        raise DecodeError(f"{where}: expected the tool arguments as an object", where)
    return value


def first(doc: Any, *paths: DottedPath) -> Any:
    """The first value any of ``paths`` finds (not ``None``), else :data:`MISSING`."""
    for p in paths:
        v = p.get(doc)
        if v is not MISSING and v is not None:
            return v
    return MISSING


def preset(**targets: str | list[str]) -> FieldMapping:
    """A preset's mapping from ``target=path`` or ``target=[paths]`` keywords.

    A gateway's own keys have a fixed spelling, so these paths match exactly
    (no case-insensitive retry on a miss: most defaults are fallbacks that miss).
    """
    return FieldMapping(
        fields={
            t: tuple(
                DottedPath(p, casefold=False) for p in ([spec] if isinstance(spec, str) else spec)
            )
            for t, spec in targets.items()
        }
    )


class PresetFormat(LineFormat):
    """Base of the gateway presets; see the module docstring."""

    PRESET: ClassVar[FieldMapping] = FieldMapping()
    #: the prefix of event ids this preset derives
    ID_PREFIX: ClassVar[str] = ""

    def __init__(self, ctx: FormatContext) -> None:
        super().__init__(ctx)
        self.mapping = ctx.mapping.over(self.PRESET) if ctx.mapping else self.PRESET
        self._resource_paths = "resources" in self.mapping.fields

    @staticmethod
    def recognise(doc: dict[str, Any]) -> bool:
        raise NotImplementedError

    def on_line(self, line: Line) -> Iterable[Output]:
        try:
            doc = decode_object(line.raw)
        except DecodeError as err:
            return (Dead(line, err.reason, err.field),)
        return self.on_doc(line, doc)

    def on_doc(self, line: Line, doc: dict[str, Any]) -> Iterable[Output]:
        """The outputs of one decoded line (``--format auto`` decodes once and calls this)."""
        try:
            return (self.map_doc(line, doc),)
        except DecodeError as err:
            return (Dead(line, err.reason, err.field),)

    def map_doc(self, line: Line, doc: dict[str, Any]) -> Output:
        raise NotImplementedError

    def derived_id(self, line: Line) -> str:
        """For logs without an id: source label, line number and the line itself."""
        return derive_event_id(self.ID_PREFIX, self.ctx.source, str(line.number), line.raw)

    def emit(
        self,
        line: Line,
        doc: Any,
        *,
        event_id: str,
        tool: Any,
        args: dict[str, Any],
        outcome: str,
        delegated: bool = False,
        human: str | None = None,
        kind: str | None = None,
        resources: Iterable[str] = (),
        bytes_in: int = 0,
        bytes_out: int = 0,
        result: Any = None,
    ) -> Mapped:
        """Validate and encode one ``tool_call`` from the mapping's ids and the preset's facts.

        ``result``: the response body's result when the log carries one (JSON or its
        text); only digests of its values (``result_digests``) and the families of the
        secrets in it (``result_secrets``) reach the event.
        """
        if not isinstance(tool, str) or not tool:
            raise DecodeError("tool: the line names no tool", "tool")
        fields: dict[str, Any] = self.mapping.ids(doc)
        if delegated:
            fields.setdefault("agent_kind", "delegated")
            if human and "sponsor" not in fields:
                fields["sponsor"] = human
        elif kind is not None:
            fields.setdefault("agent_kind", kind)
        ts = self.mapping.raw(doc, "ts")
        if ts is MISSING:
            tried = ", ".join(repr(p.text) for p in self.mapping.fields.get("ts", ()))
            raise DecodeError(f"no ts: {tried or 'no ts field mapped'} not in the line", "ts")
        if isinstance(ts, str) and ts.isdigit():
            ts = int(ts)  # OTLP/JSON writes 64-bit integers as text
        found = self.mapping.resources(doc) if self._resource_paths else resources_from_args(args)
        res = list(dict.fromkeys([*found, *resources]))
        fields.update(
            type="tool_call",
            event_id=event_id,
            ts=parse_ts(ts),
            tool=tool,
            args=args,
            resources=res,
            outcome=outcome,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            trace_id=trace_id_of(fields.get("trace_id")),
        )
        if result is not None and result is not MISSING:
            digests = result_digests(result)
            if digests:
                fields["result_digests"] = digests
            secrets = result_secrets(result)
            if secrets:
                fields["result_secrets"] = secrets
        return mapped(tool_call(fields), (line.number,))
