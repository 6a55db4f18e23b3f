"""The proxy's MCP server: every request forwarded upstream, every ``tools/call`` guarded and logged.

A low-level SDK :class:`~mcp.server.lowlevel.Server` faces the client; an SDK
:class:`~mcp.Client` session faces the real server. The server registers a
handler only for what the upstream advertises (tools, resources, prompts,
completions), so the client sees the upstream's capabilities, name, version
and instructions.

``tools/call`` is the one method that is more than forwarded, in this order:

1. **identity** (:mod:`monitor.proxy.identity`); unresolvable: refused
   (``no_identity``) when enforcing; with ``--no-enforce`` forwarded, but no
   event can be keyed: logged ``event_not_emitted`` and counted as lost;
2. **deny-list** (:mod:`monitor.proxy.guard`), when enforcing; denied, or
   unreadable while failing closed: refused, event with outcome ``denied``;
3. **forward**; the upstream's result is returned as it is (outcome ``error``
   when ``isError``), its JSON-RPC error is passed on (outcome ``error``);
4. **emit** one ``tool_call`` event (:mod:`monitor.proxy.emit`), which never
   waits for Kafka: the call's latency does not depend on the broker.

Refusals are JSON-RPC errors (:mod:`monitor.proxy.refusal` says why).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import mcp.types as types
import orjson
import structlog
from mcp import Client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from monitor.errors import DecodeError
from monitor.events import Outcome, ToolCall
from monitor.proxy import refusal
from monitor.proxy.emit import EventSink
from monitor.proxy.guard import DenyListGuard
from monitor.proxy.identity import Identity, IdentityResolver
from monitor.proxy.metrics import ProxyMetrics

log = structlog.get_logger("monitor.proxy")

_PROGRESS_KEYS = ("progressToken", "progress_token")  # progress is not relayed upstream


def _wire(model: Any) -> bytes:
    return orjson.dumps(model.model_dump(by_alias=True, mode="json", exclude_none=True))


class Gateway:
    """Holds what every call needs; :meth:`server` builds the client-facing MCP server."""

    def __init__(
        self,
        upstream: Client,
        identity: IdentityResolver,
        sink: EventSink,
        metrics: ProxyMetrics,
        *,
        guard: DenyListGuard | None = None,
        redact_args: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.upstream = upstream
        self.identity = identity
        self.sink = sink
        self.metrics = metrics
        self.guard = guard
        self.redact_args = redact_args
        self.clock = clock
        self.new_id = new_id

    # ------------------------------------------------------------------ the server
    def server(self) -> Server[Any]:
        caps = self.upstream.server_capabilities
        info = self.upstream.server_info
        handlers: dict[str, Any] = {}
        if caps.tools is not None:
            handlers.update(on_list_tools=self.list_tools, on_call_tool=self.call_tool)
        if caps.resources is not None:
            handlers.update(
                on_list_resources=self.list_resources,
                on_list_resource_templates=self.list_resource_templates,
                on_read_resource=self.read_resource,
            )
        if caps.prompts is not None:
            handlers.update(on_list_prompts=self.list_prompts, on_get_prompt=self.get_prompt)
        if caps.completions is not None:
            handlers.update(on_completion=self.complete)
        return Server(
            info.name if info else "mcpmon-proxy",
            version=info.version if info else "",
            title=info.title if info else None,
            instructions=self.upstream.instructions,
            **handlers,
        )

    # ------------------------------------------------------------------ pass-through
    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return await self.upstream.session.list_tools(params=params)

    async def list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await self.upstream.session.list_resources(params=params)

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return await self.upstream.session.list_resource_templates(params=params)

    async def read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult | types.InputRequiredResult:
        return await self.upstream.session.send_request(
            types.ReadResourceRequest(params=params), types.ReadResourceResult
        )

    async def list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return await self.upstream.session.list_prompts(params=params)

    async def get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult | types.InputRequiredResult:
        return await self.upstream.session.send_request(
            types.GetPromptRequest(params=params), types.GetPromptResult
        )

    async def complete(
        self, ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        return await self.upstream.session.send_request(
            types.CompleteRequest(params=params), types.CompleteResult
        )

    # ------------------------------------------------------------------ tools/call
    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        started = time.perf_counter()
        ts = self.clock()
        tool = params.name
        meta = dict(params.meta or {})
        headers = getattr(ctx.request, "headers", None)
        try:
            who: Identity | None = self.identity.resolve(tool, params.arguments, meta, headers)
        except DecodeError as err:
            if self.guard is not None:  # enforcing: a caller that cannot be checked is refused
                self.metrics.refused.labels("no_identity").inc()
                self.metrics.calls.labels("denied").inc()
                log.warning("call_refused", reason="no_identity", tool=tool, error=err.reason)
                raise refusal.no_identity(tool, err.reason) from None
            # monitoring only: the call goes on, its event cannot (no agent_id to key it by)
            self.metrics.lost.labels("no_identity").inc()
            log.error("event_not_emitted", reason="no_identity", tool=tool, error=err.reason)
            who = None
        bytes_in = len(_wire(params))

        if self.guard is not None and who is not None:
            checked = time.perf_counter()
            verdict = await self.guard.check(who.ids)
            self.metrics.denylist_latency.observe(time.perf_counter() - checked)
            if verdict.error is not None and verdict.allowed:
                self.metrics.fail_open.inc()
                log.warning(
                    "denylist_unavailable_fail_open", tool=tool, error=verdict.error, **who.ids
                )
            if not verdict.allowed:
                reason = "denied" if verdict.entries else "denylist_unavailable"
                self.metrics.refused.labels(reason).inc()
                self._finish(who, tool, params, ts, "denied", bytes_in, 0, started)
                log.info(
                    "call_refused",
                    reason=reason,
                    tool=tool,
                    denied=sorted(verdict.entries),
                    error=verdict.error,
                    **who.ids,
                )
                if verdict.entries:
                    raise refusal.denied(tool, verdict.entries)
                raise refusal.unavailable(tool, verdict.error or "unknown error")

        forwarded_meta = {k: v for k, v in meta.items() if k not in _PROGRESS_KEYS}
        try:
            result = await self.upstream.session.call_tool(
                tool,
                params.arguments,
                input_responses=params.input_responses,
                request_state=params.request_state,
                meta=forwarded_meta or None,  # type: ignore[arg-type]
                allow_input_required=True,
                allow_claimed=True,
            )
        except MCPError:  # the upstream's own JSON-RPC error: passed on as it is
            self._finish(who, tool, params, ts, "error", bytes_in, 0, started)
            raise
        except Exception as err:
            self._finish(who, tool, params, ts, "error", bytes_in, 0, started)
            log.error("upstream_failed", tool=tool, error=f"{type(err).__name__}: {err}")
            raise MCPError(
                types.INTERNAL_ERROR, f"upstream server failed: {type(err).__name__}: {err}"
            ) from None
        outcome: Outcome = "error" if getattr(result, "is_error", False) else "ok"
        self._finish(who, tool, params, ts, outcome, bytes_in, len(_wire(result)), started)
        return result  # type: ignore[return-value]

    def _finish(
        self,
        who: Identity | None,
        tool: str,
        params: types.CallToolRequestParams,
        ts: datetime,
        outcome: Outcome,
        bytes_in: int,
        bytes_out: int,
        started: float,
    ) -> None:
        self.metrics.calls.labels(outcome).inc()
        self.metrics.latency.observe(time.perf_counter() - started)
        if who is None:
            return  # counted and logged as not emitted when the identity failed
        ids = dict(who.ids)
        try:
            event = ToolCall(
                event_id=self.new_id(),
                ts=ts,
                tool=tool,
                args={} if self.redact_args else dict(params.arguments or {}),
                resources=who.resources,
                outcome=outcome,
                bytes_in=bytes_in,
                bytes_out=bytes_out,
                **ids,  # type: ignore[arg-type]
            )
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            self.metrics.lost.labels("invalid").inc()
            log.error(
                "event_not_emitted",
                reason=f"invalid event: {where}: {first['msg']}",
                tool=tool,
                outcome=outcome,
                **ids,
            )
            return
        self.sink.emit(event)
