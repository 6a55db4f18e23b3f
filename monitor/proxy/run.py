"""Start-up and shut-down of ``mcpmon proxy``: upstream, event emitter, guard, client-facing transport.

Order matters and is the same on both transports:

1. identity configuration is validated (fail fast, before anything starts);
2. the event emitter starts (Kafka may be down: it buffers and retries);
3. the upstream MCP server is connected (stdio: launched as a subprocess with
   this environment minus ``MCPMON_*``; HTTP: a streamable-HTTP URL), and kept
   connected (:mod:`monitor.proxy.upstream`: a lost connection is opened again);
4. the client is served on stdio until it closes stdin, or on streamable HTTP
   until SIGTERM / Ctrl-C (calls under way get ``MCPMON_PROXY_DRAIN_SECONDS`` to end,
   then are cancelled: each still an event, outcome ``unknown``);
5. the emitter delivers what it holds (bounded wait), the upstream is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from mcp import StdioServerParameters
from mcp.server.lowlevel import Server

from monitor.charter import load_charter_dir
from monitor.core.redact import RedactionRules, Redactor
from monitor.errors import CharterError
from monitor.metrics import serve_if
from monitor.proxy.emit import EventEmitter, FileEmitter, KafkaEmitter
from monitor.proxy.exceptions import ProxyError
from monitor.proxy.gateway import Gateway
from monitor.proxy.guard import DenyListGuard
from monitor.proxy.identity import IdentityResolver, JwtConfig
from monitor.proxy.metrics import ProxyMetrics
from monitor.proxy.policy import MODES, InlinePolicy, PolicyMode
from monitor.proxy.upstream import UpstreamLink
from monitor.revoker.actuators.denylist import connect
from monitor.settings import Settings
from monitor.worker.charters import CharterFeed

log = structlog.get_logger("monitor.proxy")


@dataclass(frozen=True)
class ProxyConfig:
    """What ``mcpmon proxy`` was asked to do (flags); the rest comes from :class:`Settings`."""

    command: list[str] = field(default_factory=list)  # upstream over stdio
    url: str | None = None  # upstream over streamable HTTP
    listen: tuple[str, int] | None = None  # serve streamable HTTP; None: stdio
    mapping: str | None = None
    constants: dict[str, str | None] = field(default_factory=dict)
    jwt: JwtConfig | None = None
    to_file: str | None = None
    redact_args: bool = False
    redact_secrets: bool = True  # --no-redact: False
    policy: str = "monitor"  # --policy monitor|shadow|inline
    charters: str | None = None  # --charters DIR
    stop_timeout: float = 10.0


def upstream_target(cfg: ProxyConfig) -> StdioServerParameters | str:
    if bool(cfg.command) == bool(cfg.url):
        raise ProxyError(
            "give the upstream MCP server either as a command after -- (stdio) or as "
            "--upstream-url URL (streamable HTTP), not both and not neither"
        )
    if cfg.url:
        if not cfg.url.startswith(("http://", "https://")):
            raise ProxyError(f"--upstream-url {cfg.url!r}: expected an http:// or https:// URL")
        return cfg.url
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPMON_")}
    return StdioServerParameters(command=cfg.command[0], args=cfg.command[1:], env=env)


def build_emitter(cfg: ProxyConfig, settings: Settings, metrics: ProxyMetrics) -> EventEmitter:
    if cfg.to_file:
        return FileEmitter(cfg.to_file, metrics)
    return KafkaEmitter(
        settings.kafka_bootstrap,
        settings.topic_events,
        metrics,
        buffer_events=settings.proxy.emit_buffer_events,
        partitions=settings.partitions,
        replication_factor=settings.replication_factor,
    )


def build_redactor(cfg: ProxyConfig, settings: Settings) -> Redactor | None:
    """The monitor's secret rules, always on unless --no-redact; e-mails and extra
    patterns as the alert settings ask (MCPMON_REDACT_EMAILS, MCPMON_REDACT_PATTERNS)."""
    if not cfg.redact_secrets:
        return None
    rules = settings.redaction()
    return Redactor(RedactionRules(secrets=True, emails=rules.emails, extra=rules.extra))


def build_policy(
    cfg: ProxyConfig, settings: Settings, metrics: ProxyMetrics
) -> InlinePolicy | None:
    """The charter decision engine for --policy shadow|inline; None for monitor.

    Charters that do not load are a configuration error (exit 1): a proxy asked to
    decide must not start without the charters it decides by."""
    if cfg.policy not in MODES:
        raise ProxyError(f"--policy {cfg.policy!r}: expected one of {', '.join(MODES)}")
    if cfg.policy == "monitor":
        if cfg.charters:
            log.warning("charters_unused", why="--charters is read by --policy shadow|inline only")
        return None
    if not cfg.charters:
        raise ProxyError(f"--policy {cfg.policy} needs --charters DIR (the worker's charters)")
    try:
        charters = load_charter_dir(cfg.charters)
    except CharterError as err:
        raise ProxyError(f"--charters {cfg.charters}: {err}") from None
    mode: PolicyMode = "inline" if cfg.policy == "inline" else "shadow"
    return InlinePolicy(charters, mode, settings.engine(), metrics)


async def start_charter_feed(
    policy: InlinePolicy, settings: Settings, timeout: float = 15.0
) -> asyncio.Task[None]:
    """Signed charter updates from the worker's broadcast topic: caught up (bounded), then
    followed. A broker that cannot be read at start leaves the charters of --charters in
    force (logged) while the feed keeps trying."""
    feed = CharterFeed(
        settings.kafka_bootstrap, settings.topic_charters, policy.apply_charter_update
    )
    try:
        n = await asyncio.wait_for(feed.catch_up(timeout), timeout + 5)
        log.info("charter_feed_caught_up", topic=settings.topic_charters, applied=n)
    except Exception as err:  # the feed's follow() retries; decisions use the directory
        log.warning(
            "charter_feed_unavailable",
            topic=settings.topic_charters,
            error=f"{type(err).__name__}: {err}",
            why="the charters of --charters are in force until the feed is read",
        )
    return asyncio.create_task(feed.follow(), name="proxy-charter-feed")


def build_guard(settings: Settings) -> DenyListGuard | None:
    if not settings.proxy.enforce:
        return None
    return DenyListGuard(
        connect(settings.revoker.redis_url, settings.proxy.denylist_timeout_seconds),
        prefix=settings.revoker.denylist_prefix,
        timeout=settings.proxy.denylist_timeout_seconds,
        fail_mode=settings.proxy.fail_mode,
    )


async def run_proxy(cfg: ProxyConfig, settings: Settings) -> None:
    target = upstream_target(cfg)
    session_id = None if cfg.listen else uuid.uuid4().hex
    # validate the identity configuration before starting anything
    checked = IdentityResolver.build(cfg.mapping, cfg.constants, upstream_name=None, jwt=cfg.jwt)
    unverified = checked.unverified_sources()
    if unverified:
        log.warning(
            "identity_from_unverified_source",
            fields=unverified,
            why="these paths are the caller's word: sound only when a component in front "
            "authenticates the caller and sets them; prefer verified claims.* (--jwt-key / "
            "--jwt-jwks-url)",
        )
    redactor = build_redactor(cfg, settings)
    if redactor is None:
        log.warning("redaction_off", why="--no-redact: events carry arguments as sent")
    metrics = ProxyMetrics()
    exposition = serve_if(
        metrics.registry if settings.proxy.metrics_port else None,
        settings.proxy.metrics_port,
        settings.metrics_addr,
    )
    policy = build_policy(cfg, settings, metrics)
    emitter = build_emitter(cfg, settings, metrics)
    guard = build_guard(settings)
    await emitter.start()
    feed: asyncio.Task[None] | None = None
    try:
        if policy is not None and not cfg.to_file:
            feed = await start_charter_feed(policy, settings)
        upstream = UpstreamLink.to(target, metrics)
        try:
            await upstream.start()
            info = upstream.server_info
            identity = IdentityResolver.build(
                cfg.mapping,
                cfg.constants,
                upstream_name=info.name if info else None,
                jwt=cfg.jwt,
                session_id=session_id,
            )
            gateway = Gateway(
                upstream,
                identity,
                emitter,
                metrics,
                guard=guard,
                policy=policy,
                redact_args=cfg.redact_args,
                redactor=redactor,
            )
            server = gateway.server()
            log.info(
                "proxy_ready",
                upstream=info.name if info else None,
                protocol=upstream.protocol_version,
                transport="http" if cfg.listen else "stdio",
                listen=f"{cfg.listen[0]}:{cfg.listen[1]}" if cfg.listen else None,
                enforce=guard is not None,
                fail_mode=settings.proxy.fail_mode,
                policy=cfg.policy,
                sink="file" if cfg.to_file else "kafka",
            )
            if cfg.listen:
                await serve_http(server, *cfg.listen, drain=settings.proxy.drain_seconds)
            else:
                await serve_stdio(server)
        finally:
            await upstream.aclose()
    finally:
        if feed is not None:
            feed.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feed
        await emitter.close(cfg.stop_timeout)
        if guard is not None:
            await guard.aclose()
        if exposition is not None:
            exposition.close()
        log.info("proxy_stopped")


async def serve_stdio(server: Server[Any]) -> None:
    """Serve one client on this process's stdin/stdout until it closes stdin or SIGTERM."""
    from mcp.server.stdio import stdio_server

    async def serve() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    task = asyncio.create_task(serve())
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)


async def serve_http(server: Server[Any], host: str, port: int, *, drain: int) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp`` until SIGTERM / Ctrl-C; then wait
    at most ``drain`` seconds for calls under way, and cancel the rest (each still an
    event: :meth:`Gateway._guarded`), so a hung call cannot hold the proxy, and the events
    it buffers, past the orchestrator's grace period into a SIGKILL."""
    import uvicorn

    class Uvicorn(uvicorn.Server):
        """uvicorn, minus re-raising the signal after its graceful stop (which would kill
        the process before the event emitter delivered what it holds)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            stop = functools.partial(setattr, self, "should_exit", True)
            with contextlib.suppress(NotImplementedError, RuntimeError):
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, stop)
            try:
                yield
            finally:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    for sig in (signal.SIGTERM, signal.SIGINT):
                        loop.remove_signal_handler(sig)

    app = server.streamable_http_app(host=host)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=drain,
    )
    await Uvicorn(config).serve()


def main_sync(cfg: ProxyConfig, settings: Settings) -> int:
    try:
        asyncio.run(run_proxy(cfg, settings))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
