"""Prometheus metrics of ``mcpmon proxy`` (served on ``MCPMON_PROXY_METRICS_PORT``; 0: off).

``mcpmon_proxy_calls_total{outcome}``          tools/call by outcome: ok / error (forwarded),
                                               denied (refused), unknown (cancelled by its
                                               caller once forwarded: it may have run)
``mcpmon_proxy_requests_total{method,outcome}`` resources/read, prompts/get,
                                               completion/complete by outcome (guarded like
                                               tools/call, the same four outcomes)
``mcpmon_proxy_refused_total{reason}``         refusals of any method: denied /
                                               denylist_unavailable / no_identity /
                                               token_expired / policy /
                                               policy_unavailable
``mcpmon_proxy_denylist_fail_open_total``      calls forwarded unchecked (fail mode open)
``mcpmon_proxy_events_emitted_total``          tool_call events the emitter confirmed
``mcpmon_proxy_emit_failures_total{reason}``   failed delivery attempts (retried): connect /
                                               send / write; sender: the sending task failed
``mcpmon_proxy_events_lost_total{reason}``     events that will never be delivered (buffer
                                               full, shutdown, invalid, rejected by the
                                               broker), each logged in full
``mcpmon_proxy_events_cut_total``              events whose arguments were cut to fit the
                                               1 MiB message limit (still sent)
``mcpmon_proxy_emit_buffer_events``            events waiting in the emitter
``mcpmon_proxy_upstream_reconnects_total``     upstream connections opened again after one
                                               was lost (a stdio server restarted)
``mcpmon_proxy_call_seconds``                  wall time of a tools/call through the proxy
``mcpmon_proxy_denylist_seconds``              wall time of the deny-list check alone
``mcpmon_proxy_policy_decisions_total{result}`` charter decisions (--policy shadow/inline):
                                               allow / refuse / would_refuse (shadow) /
                                               unavailable_refused / unavailable_forwarded
``mcpmon_proxy_policy_seconds``                wall time of one charter decision (in process)
``mcpmon_proxy_policy_agents_evicted_total``   agents whose proxy-held history (rate window,
                                               partial chains) was dropped: over the cap
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.metrics import LATENCY_BUCKETS


class ProxyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.calls = Counter(
            "mcpmon_proxy_calls", "tools/call handled, by outcome", ["outcome"], registry=r
        )
        self.requests = Counter(
            "mcpmon_proxy_requests",
            "Guarded requests other than tools/call (resources/read, prompts/get, "
            "completion/complete), by method and outcome",
            ["method", "outcome"],
            registry=r,
        )
        self.refused = Counter(
            "mcpmon_proxy_refused",
            "Requests refused (any method), by reason",
            ["reason"],
            registry=r,
        )
        self.fail_open = Counter(
            "mcpmon_proxy_denylist_fail_open",
            "tools/call forwarded without a deny-list check (fail mode open)",
            registry=r,
        )
        self.emitted = Counter(
            "mcpmon_proxy_events_emitted", "tool_call events delivered by the emitter", registry=r
        )
        self.emit_failures = Counter(
            "mcpmon_proxy_emit_failures",
            "Failed event delivery attempts (retried), by reason",
            ["reason"],
            registry=r,
        )
        self.lost = Counter(
            "mcpmon_proxy_events_lost",
            "Events that will not be delivered (logged in full), by reason",
            ["reason"],
            registry=r,
        )
        self.cut = Counter(
            "mcpmon_proxy_events_cut",
            "Events sent with their arguments cut to fit the message limit",
            registry=r,
        )
        self.upstream_reconnects = Counter(
            "mcpmon_proxy_upstream_reconnects",
            "Upstream connections opened again after one was lost",
            registry=r,
        )
        self.buffered = Gauge(
            "mcpmon_proxy_emit_buffer_events", "Events waiting in the emitter", registry=r
        )
        self.latency = Histogram(
            "mcpmon_proxy_call_seconds",
            "Wall time of one tools/call through the proxy, upstream included",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.denylist_latency = Histogram(
            "mcpmon_proxy_denylist_seconds",
            "Wall time of one deny-list check",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.policy_decisions = Counter(
            "mcpmon_proxy_policy_decisions",
            "Charter decisions before forwarding (--policy shadow/inline), by result",
            ["result"],
            registry=r,
        )
        self.policy_latency = Histogram(
            "mcpmon_proxy_policy_seconds",
            "Wall time of one charter decision before forwarding (in process)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.policy_evicted = Counter(
            "mcpmon_proxy_policy_agents_evicted",
            "Agents whose proxy-held policy history was dropped (least recently used, over the "
            "cap of agents the proxy keeps)",
            registry=r,
        )
