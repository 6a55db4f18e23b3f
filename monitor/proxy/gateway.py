"""The proxy's MCP server: every request forwarded upstream, every one guarded.

A low-level SDK :class:`~mcp.server.lowlevel.Server` faces the client; an SDK
:class:`~mcp.Client` session faces the real server. The server registers a
handler only for what the upstream advertises (tools, resources, prompts,
completions), so the client sees the upstream's capabilities, name, version
and instructions. Nothing else reaches the upstream: ``resources/subscribe``,
logging levels and server-to-client requests (sampling, elicitation, roots)
are not relayed at all (the client gets "method not found"; the upstream's
requests fail), so there is no unguarded path through the proxy.

Every request that reads or acts — ``tools/call``, ``resources/read``,
``prompts/get``, ``completion/complete`` — goes through the same path, in order:

1. **identity** (:mod:`monitor.proxy.identity`), canonical; unresolvable or
   refused by :func:`monitor.identity.canonical_id`: refused (``no_identity``,
   the error names the field) when enforcing; with ``--no-enforce`` forwarded,
   but no event can be keyed: logged ``event_not_emitted`` and counted as lost.
   A missing or bad bearer token (when tokens are verified) is refused always;
   a verified token past its own expiry too, as its own check (-32015
   ``token_expired``; event outcome ``denied``, ``denied_by: token_expired``);
2. **deny-list** (:mod:`monitor.proxy.guard`), when enforcing; denied, or
   unreadable while failing closed: refused, event with outcome ``denied``;
2b. **charter** (:mod:`monitor.proxy.policy`), with ``--policy shadow|inline``:
   the event this call would emit is judged by the proxy's engine before it is
   forwarded; inline, a violation is refused (event outcome ``denied``,
   ``denied_by`` the check), shadow logs ``policy_would_refuse`` and goes on.
   The engine is then fed the event, so it counts this call (rate, chains);
3. **forward**; the upstream's result is returned as it is (outcome ``error``
   when ``isError``), its JSON-RPC error is passed on (outcome ``error``); a lost
   upstream is opened again (:mod:`monitor.proxy.upstream`), and while it is, the
   call is refused with -32603 (outcome ``error``); a call its caller cancels, or
   leaves by disconnecting, once it is forwarded still has its event (outcome
   ``unknown``: the server may have acted), logged ``call_cancelled``;
4. **emit** one ``tool_call`` event (:mod:`monitor.proxy.emit`), with the
   digests of the entity-like values the result carried (``result_digests``,
   :func:`result_digests`: at most 64, never the values) and the families of
   the secrets in it (``result_secrets``: at most 8, never the secrets), arguments and
   resources redacted (:class:`~monitor.core.redact.Redactor`) unless turned
   off, and so is the tool name wherever the proxy repeats it (event, logs,
   refusals: the upstream still gets the name as sent); the event never waits
   for Kafka. For a method other than ``tools/call`` the event's ``tool`` is the
   MCP method name (``resources/read``: ``args.uri`` and ``resources``; ``prompts/get``:
   ``args.name`` and ``args.arguments``; ``completion/complete``: ``args.ref``
   and ``args.argument``), so a charter grants it like a tool.

The listing methods (``tools/list``, ``resources/list``, ``resources/templates/list``,
``prompts/list``) reveal the catalogue, not data: they are refused for a caller
whose bearer token is missing or bad, or whose resolved identity is denied, and
emit no event (every client lists at start; those are not actions). A listing
whose identity does not resolve is forwarded: clients send no ``_meta`` on it.

Refusals are JSON-RPC errors (:mod:`monitor.proxy.refusal` says why).
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import mcp.types as types
import orjson
import structlog
from mcp import Client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError

from monitor.core.detectors.secret_transit import result_secrets
from monitor.core.redact import Redactor
from monitor.core.values import result_digests
from monitor.errors import DecodeError, described
from monitor.events import Outcome, ToolCall
from monitor.proxy import refusal
from monitor.proxy.emit import EventEmitter
from monitor.proxy.guard import DenyListGuard
from monitor.proxy.identity import Identity, IdentityResolver, TokenExpired
from monitor.proxy.metrics import ProxyMetrics
from monitor.proxy.policy import InlinePolicy, PolicyVerdict
from monitor.proxy.redaction import redact_args
from monitor.proxy.upstream import UpstreamLink

log = structlog.get_logger("monitor.proxy")

_PROGRESS_KEYS = ("progressToken", "progress_token")  # progress is not relayed upstream
R = TypeVar("R")


def _wire(model: Any) -> bytes:
    return orjson.dumps(model.model_dump(by_alias=True, mode="json", exclude_none=True))


def _result_facts(tool: str, dumped: Any) -> dict[str, list[str]]:
    """What the event says of a result: its provenance digests (``result_digests``) and the
    families of the secrets in it (``result_secrets``), the non-empty ones; each none
    (logged) if it cannot be computed: a call never fails over what its event says."""
    facts: dict[str, list[str]] = {}
    for name, of in (("result_digests", result_digests), ("result_secrets", result_secrets)):
        try:
            found = of(dumped)
        except Exception as err:
            log.warning(f"{name}_failed", tool=tool, error=type(err).__name__)
            continue
        if found:
            facts[name] = found
    return facts


def _meta(params: Any) -> dict[str, Any]:
    return dict(getattr(params, "meta", None) or {}) if params is not None else {}


class Gateway:
    """Holds what every call needs; :meth:`server` builds the client-facing MCP server."""

    def __init__(
        self,
        upstream: Client | UpstreamLink,
        identity: IdentityResolver,
        emitter: EventEmitter,
        metrics: ProxyMetrics,
        *,
        guard: DenyListGuard | None = None,
        policy: InlinePolicy | None = None,
        redact_args: bool = False,
        redactor: Redactor | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.upstream = upstream
        self.identity = identity
        self.emitter = emitter
        self.metrics = metrics
        self.guard = guard
        self.policy = policy
        self.redact_args = redact_args
        self.redactor = redactor
        self.clock = clock
        self.new_id = new_id
        self._sessionless_told = False  # no_session_id is logged once per proxy

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

    # ------------------------------------------------------------------ listings
    async def _listing(
        self,
        ctx: ServerRequestContext[Any],
        method: str,
        params: Any,
        forward: Callable[[], Awaitable[R]],
    ) -> R:
        """A listing: refused for a bad token or a denied identity, else forwarded."""
        who: Identity | None = None
        try:
            who = await self._resolve(ctx, method, {}, _meta(params))
        except TokenExpired as err:
            self._refuse_expired(method, err)
        except DecodeError as err:
            if err.field == "claims":  # a missing or bad token: refused, enforcing or not
                self._refuse_no_identity(method, err)
        if who is not None:
            await self._check(method, who, lambda _outcome, _bytes, _by: None)
        return await self._forward(forward)

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return await self._listing(
            ctx, "tools/list", params, lambda: self.upstream.session.list_tools(params=params)
        )

    async def list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await self._listing(
            ctx,
            "resources/list",
            params,
            lambda: self.upstream.session.list_resources(params=params),
        )

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return await self._listing(
            ctx,
            "resources/templates/list",
            params,
            lambda: self.upstream.session.list_resource_templates(params=params),
        )

    async def list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return await self._listing(
            ctx, "prompts/list", params, lambda: self.upstream.session.list_prompts(params=params)
        )

    # ------------------------------------------------------------------ reads and actions
    async def read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult | types.InputRequiredResult:
        uri = str(params.uri)

        async def forward() -> Any:
            return await self.upstream.session.send_request(
                types.ReadResourceRequest(params=params), types.ReadResourceResult
            )

        return await self._guarded(ctx, "resources/read", params, {"uri": uri}, forward, [uri])

    async def get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult | types.InputRequiredResult:
        args = {"name": params.name, "arguments": dict(params.arguments or {})}

        async def forward() -> Any:
            return await self.upstream.session.send_request(
                types.GetPromptRequest(params=params), types.GetPromptResult
            )

        return await self._guarded(ctx, "prompts/get", params, args, forward)

    async def complete(
        self, ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        args = {
            "ref": params.ref.model_dump(by_alias=True, mode="json", exclude_none=True),
            "argument": params.argument.model_dump(by_alias=True, mode="json"),
        }

        async def forward() -> Any:
            return await self.upstream.session.send_request(
                types.CompleteRequest(params=params), types.CompleteResult
            )

        return await self._guarded(ctx, "completion/complete", params, args, forward)

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        meta = _meta(params)
        forwarded_meta = {k: v for k, v in meta.items() if k not in _PROGRESS_KEYS}

        async def forward() -> Any:
            return await self.upstream.session.call_tool(
                params.name,
                params.arguments,
                input_responses=params.input_responses,
                request_state=params.request_state,
                meta=forwarded_meta or None,  # type: ignore[arg-type]
                allow_input_required=True,
                allow_claimed=True,
            )

        return await self._guarded(
            ctx, params.name, params, dict(params.arguments or {}), forward, tool_call=True
        )

    # ------------------------------------------------------------------ the one path
    async def _forward(self, forward: Callable[[], Awaitable[R]]) -> R:
        """``forward()``; a ``Connection closed`` from it is reported to the link, which
        probes the connection and opens a new one if it is (:mod:`monitor.proxy.upstream`)."""
        link = self.upstream if isinstance(self.upstream, UpstreamLink) else None
        generation = link.generation if link is not None else 0
        try:
            return await forward()
        except MCPError as err:
            if link is not None and err.error.code == types.CONNECTION_CLOSED:
                link.lost(generation)
            raise

    async def _resolve(
        self, ctx: ServerRequestContext[Any], tool: str, args: Mapping[str, Any], meta: Any
    ) -> Identity:
        headers = getattr(ctx.request, "headers", None)
        # a stateful HTTP session of a handshake protocol: the SDK issued Mcp-Session-Id and
        # refuses an unknown one; protocol 2026-07-28 has no sessions, so any caller may
        # send any id there, and a revoked session would be one new header away
        checked = getattr(ctx, "protocol_version", None) in HANDSHAKE_PROTOCOL_VERSIONS
        resolve = functools.partial(self.identity.resolve, session_header=checked)
        if self.identity.jwt is not None and self.identity.jwt.fetches_keys:
            # JWKS: PyJWKClient fetches over blocking HTTP; keep the event loop free
            return await asyncio.to_thread(resolve, tool, args, meta, headers)
        return resolve(tool, args, meta, headers)

    def _refuse_expired(
        self,
        what: str,
        err: TokenExpired,
        finish: Callable[[Outcome, int, str | None], None] | None = None,
    ) -> None:
        """A verified token past its own expiry: refused in every mode, naming the check;
        ``finish`` emits the call's event (``denied``, ``denied_by: token_expired``)."""
        self.metrics.refused.labels("token_expired").inc()
        if finish is not None:
            finish("denied", 0, "token_expired")
        ids = err.identity.ids if err.identity is not None else {}
        log.info(
            "call_refused", reason="token_expired", tool=what, expired_at=err.expired_at, **ids
        )
        raise refusal.token_expired(what, err.expired_at) from None

    def _refuse_no_identity(self, what: str, err: DecodeError) -> None:
        self.metrics.refused.labels("no_identity").inc()
        log.warning("call_refused", reason="no_identity", tool=what, error=err.reason)
        raise refusal.no_identity(what, err.reason, err.field) from None

    async def _check(
        self, what: str, who: Identity, finish: Callable[[Outcome, int, str | None], None]
    ) -> None:
        """The deny-list check; raises the refusal (after ``finish("denied")``) when refused."""
        if self.guard is None:
            return
        checked = time.perf_counter()
        verdict = await self.guard.check(who.ids)
        self.metrics.denylist_latency.observe(time.perf_counter() - checked)
        if verdict.error is not None and verdict.allowed:
            self.metrics.fail_open.inc()
            log.warning("denylist_unavailable_fail_open", tool=what, error=verdict.error, **who.ids)
        if verdict.allowed:
            return
        reason = "denied" if verdict.entries else "denylist_unavailable"
        self.metrics.refused.labels(reason).inc()
        finish("denied", 0, "denylist" if verdict.entries else reason)
        log.info(
            "call_refused",
            reason=reason,
            tool=what,
            denied=sorted(verdict.entries),
            error=verdict.error,
            **who.ids,
        )
        if verdict.entries:
            raise refusal.denied(what, verdict.entries)
        raise refusal.unavailable(what, verdict.error or "unknown error")

    async def _guarded(
        self,
        ctx: ServerRequestContext[Any],
        tool: str,
        params: Any,
        args: dict[str, Any],
        forward: Callable[[], Awaitable[R]],
        resources: list[str] | None = None,
        *,
        tool_call: bool = False,
    ) -> R:
        started = time.perf_counter()
        if self.redactor is not None:  # the name is the caller's too: its event, logs, refusals
            tool = self.redactor(tool)
        ts = self.clock()
        event_id = self.new_id()
        bytes_in = len(_wire(params))
        recorded = False  # the policy engine has been fed this call's event

        def finish(
            outcome: Outcome,
            bytes_out: int = 0,
            denied_by: str | None = None,
            result: dict[str, list[str]] | None = None,
        ) -> None:
            if tool_call:
                self.metrics.calls.labels(outcome).inc()
                self.metrics.latency.observe(time.perf_counter() - started)
            else:
                self.metrics.requests.labels(tool, outcome).inc()
            event = self._event(
                who, tool, args, resources or [], ts, outcome, bytes_in, bytes_out, event_id,
                denied_by, result,
            )  # fmt: skip
            if event is None:
                return
            if self.policy is not None and not recorded:
                self.policy.record(event)
            self.emitter.emit(event)

        who: Identity | None = None
        try:
            who = await self._resolve(ctx, tool, args, _meta(params))
        except TokenExpired as err:
            who = err.identity
            self._refuse_expired(tool, err, finish)
        except DecodeError as err:
            self._unidentified(tool, err, tool_call)

        if who is not None:
            if "session_id" not in who.ids:
                self._sessionless(tool, who)
            await self._check(tool, who, finish)
            if self.policy is not None:
                self._decide(who, tool, args, resources or [], ts, bytes_in, event_id, finish)
                recorded = True

        try:
            result = await self._forward(forward)
        except asyncio.CancelledError:
            # the caller cancelled the request or went away while it was upstream: the
            # server may have acted on it all the same, so it is still an event (outcome
            # unknown), or a call followed by a cancel would never reach the monitor
            finish("unknown")
            log.warning("call_cancelled", tool=tool, **(who.ids if who is not None else {}))
            raise
        except MCPError:  # the upstream's own JSON-RPC error: passed on as it is
            finish("error")
            raise
        except Exception as err:  # e.g. a result the SDK cannot read: its text may quote it
            finish("error")
            detail = described(err)
            if self.redactor is not None:
                detail = self.redactor(detail)
            log.error("upstream_failed", tool=tool, error=detail)
            raise MCPError(types.INTERNAL_ERROR, f"upstream server failed: {detail}") from None
        outcome: Outcome = "error" if getattr(result, "is_error", False) else "ok"
        dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)  # type: ignore[attr-defined]
        finish(outcome, len(orjson.dumps(dumped)), result=_result_facts(tool, dumped))
        return result

    def _sessionless(self, tool: str, who: Identity) -> None:
        """A call with no session id: an HTTP client of protocol 2026-07-28 has no session
        (an Mcp-Session-Id it sends is its own word, not used), and the mapping names none.
        Said once per proxy, as session-scoped revocations and per-session detection need
        one."""
        if self._sessionless_told:
            return
        self._sessionless_told = True
        log.warning(
            "no_session_id",
            tool=tool,
            why="the client has no checked Mcp-Session-Id (protocol 2026-07-28 has no "
            "sessions) and the mapping names no session_id: events carry none, so a session "
            "cannot be revoked alone; map it from a verified claim (session_id: claims.sid) "
            "or the task",
            **who.ids,
        )

    def _unidentified(self, tool: str, err: DecodeError, tool_call: bool) -> None:
        """A caller whose identity cannot be resolved. Enforcing (deny-list or ``--policy
        inline``): refused, as it cannot be checked; a missing or bad bearer token is refused
        even without enforcement. Monitoring only: the call goes on, but its event cannot
        (no agent_id to key it by), counted as lost."""
        inline = self.policy is not None and self.policy.mode == "inline"
        if self.guard is not None or err.field == "claims" or inline:
            if tool_call:
                self.metrics.calls.labels("denied").inc()
            else:
                self.metrics.requests.labels(tool, "denied").inc()
            self._refuse_no_identity(tool, err)
        self.metrics.lost.labels("no_identity").inc()
        log.error("event_not_emitted", reason="no_identity", tool=tool, error=err.reason)

    def _decide(
        self,
        who: Identity,
        tool: str,
        args: dict[str, Any],
        resources: list[str],
        ts: datetime,
        bytes_in: int,
        event_id: str,
        finish: Callable[[Outcome, int, str | None], None],
    ) -> None:
        """The charter decision (``--policy shadow|inline``); raises the refusal when inline
        refuses. The engine is fed this call at once (not when it completes), so concurrent
        calls are counted in the order they were decided."""
        policy = self.policy
        assert policy is not None
        candidate = self._event(
            who, tool, args, resources, ts, "ok", bytes_in, 0, event_id, quiet=True
        )
        if candidate is None:  # logged and counted lost once, when emitted; nothing to judge
            verdict = PolicyVerdict(
                policy.mode != "inline", error="the call's event could not be built"
            )
            result = "unavailable_forwarded" if verdict.forward else "unavailable_refused"
            self.metrics.policy_decisions.labels(result).inc()
        else:
            verdict = policy.decide(candidate)
        check = verdict.check
        if check is None:
            if candidate is not None:
                policy.record(candidate)
            return
        f = verdict.finding
        detail = f.reason if f is not None else (verdict.error or "")
        if self.redactor is not None:
            detail = self.redactor(detail)
        fields: dict[str, Any] = {
            "tool": tool,
            "check": check,
            "detail": detail,
            "decision_us": round(verdict.seconds * 1e6, 1),
            **who.ids,
        }
        if verdict.forward:
            log.warning("policy_would_refuse", mode=policy.mode, **fields)
            if candidate is not None:
                policy.record(candidate)
            return
        reason = "policy" if f is not None else "policy_unavailable"
        self.metrics.refused.labels(reason).inc()
        log.info("call_refused", reason=reason, **fields)
        finish("denied", 0, check)  # fed to the engine there, as outcome denied
        if f is None:
            raise refusal.policy_unavailable(tool, verdict.error or "unknown error")
        raise refusal.policy(tool, check, f.key, f.clause_text, detail)

    def _event(
        self,
        who: Identity | None,
        tool: str,
        args: dict[str, Any],
        resources: list[str],
        ts: datetime,
        outcome: Outcome,
        bytes_in: int,
        bytes_out: int,
        event_id: str,
        denied_by: str | None = None,
        result: dict[str, list[str]] | None = None,
        *,
        quiet: bool = False,
    ) -> ToolCall | None:
        """The call's ``tool_call`` event, redacted; None (logged, counted lost unless
        ``quiet``: built only to be judged) if invalid. ``result``: what the result carried
        (``result_digests``, ``result_secrets``: families, never values; absent when empty)."""
        if who is None:
            return None  # counted and logged as not emitted when the identity failed
        ids = dict(who.ids)
        found = [*resources, *(r for r in who.resources if r not in resources)]
        event_args: dict[str, Any] = {} if self.redact_args else args
        if self.redactor is not None:
            event_args = redact_args(self.redactor, event_args)
            found = [self.redactor(r) for r in found]
        try:
            return ToolCall(
                event_id=event_id,
                ts=ts,
                tool=tool,
                args=event_args,
                resources=found,
                outcome=outcome,
                bytes_in=bytes_in,
                bytes_out=bytes_out,
                denied_by=denied_by,
                **(result or {}),  # type: ignore[arg-type]
                **ids,  # type: ignore[arg-type]
            )
        except ValidationError as err:
            if quiet:
                return None
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
            return None
