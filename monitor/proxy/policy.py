"""Charter decisions before forwarding: ``mcpmon proxy --policy inline|shadow|monitor``.

There is one detection core, and this module does not add a second: the proxy
holds its own :class:`~monitor.core.engine.Engine` over the charters the worker
uses, feeds it every ``tool_call`` event the proxy emits (in the order it
decides them), and before forwarding a request asks it what it *would* find if
the request were applied now (:meth:`Engine.judge`, a dry run: the detectors on
a scratch copy of the agent's state, no dedup). Those findings of the checks a
gateway can make alone refuse the request:

- ``out_of_charter_tool`` — tool (server/tool grant), resources, tenant, data
  domain and hours; and an agent no charter covers (the policy cannot be
  evaluated: refused in ``inline``, forwarded in ``shadow``);
- ``rate_limit`` — more calls in a sliding minute than
  ``limits.max_calls_per_minute``, counting the calls through this proxy;
- ``forbidden_chain`` — the call that would complete a forbidden chain, from
  the steps this proxy saw;
- ``lingering_access`` ``credential_expired`` / ``credential_revoked`` — only
  from a credential ledger this engine was given (it sees no ``credential_*``
  events; a bearer token's own ``exp`` is checked when the token is verified,
  before this: a verified token past it is refused there, -32015
  ``token_expired``, its event ``denied_by: token_expired``).

Everything else (behaviour baselines, task end, sponsors, lifecycle events,
another gateway's calls of the same agent) needs history only the worker has:
the worker keeps judging every event after the fact, as in ``monitor`` mode.

Modes: ``monitor`` (the default) decides nothing — no engine, today's
behaviour; ``shadow`` decides, logs ``policy_would_refuse`` and counts, and
forwards; ``inline`` refuses with a JSON-RPC error (-32013 ``policy``, data
naming the check and the charter clause; -32014 ``policy_unavailable`` when the
judgement itself failed). The refused request's event has outcome ``denied``
and ``denied_by`` ``<detector>:<clause key>``; a worker judging that event
raises the same detector on the same clause (at ``medium``, no revocation: the
gateway did its job), which ``tests/proxy/test_policy.py`` checks by replay.

Charter updates: signed ``charter_updated`` events from the broadcast topic
(``MCPMON_TOPIC_CHARTERS``), read with the worker's
:class:`~monitor.worker.charters.CharterFeed` and applied by the engine's own
verification (:mod:`monitor.core.charter_update`): unsigned, forged or replayed
updates are refused there and the charter in force stays.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

import structlog

from monitor.charter import Charter
from monitor.core.charter_update import REJECTED
from monitor.core.detectors import Finding
from monitor.core.engine import Engine, EngineSettings
from monitor.core.policy import CharterSet
from monitor.core.state import AgentState
from monitor.errors import DecodeError
from monitor.events import CharterUpdated, ToolCall, decode_event
from monitor.proxy.metrics import ProxyMetrics

log = structlog.get_logger("monitor.proxy")

PolicyMode = Literal["monitor", "shadow", "inline"]
MODES: tuple[PolicyMode, ...] = ("monitor", "shadow", "inline")

#: the detectors the proxy's engine runs, and which of their clauses refuse (None: all)
REFUSING: dict[str, frozenset[str] | None] = {
    "out_of_charter_tool": None,
    "rate_limit": None,
    "forbidden_chain": None,
    "lingering_access": frozenset({"credential_expired", "credential_revoked"}),
}
UNAVAILABLE = "policy_unavailable"


MAX_AGENTS = 10_000


class BoundedStates(OrderedDict[str, AgentState]):
    """The proxy engine's per-agent states, least recently used dropped beyond ``cap``.

    A caller that sends a new agent id with every call (unverified headers) must not
    grow the proxy's memory without bound. An agent dropped loses the history this
    proxy held for it (its rate window, partial chains); the worker, which keeps
    every agent's state, still judges its calls. ``evicted`` counts the drops.
    """

    def __init__(self, cap: int = MAX_AGENTS, on_evict: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.cap = cap
        self.evicted = 0
        self.on_evict = on_evict

    def get(self, key: str, default: AgentState | None = None) -> AgentState | None:  # type: ignore[override]
        st = super().get(key, default)
        if st is not None and key in self:
            self.move_to_end(key)
        return st

    def __setitem__(self, key: str, value: AgentState) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.cap:
            self.popitem(last=False)
            self.evicted += 1
            if self.on_evict is not None:
                self.on_evict()


def refuses(f: Finding) -> bool:
    keys = REFUSING.get(f.detector, frozenset())
    return keys is None or f.key in keys


def check_name(f: Finding) -> str:
    """What ``tool_call.denied_by`` and ``data.check`` say: ``<detector>:<clause key>``."""
    return f"{f.detector}:{f.key}"


@dataclass(frozen=True, slots=True)
class PolicyVerdict:
    """``forward`` decides; ``finding`` is the violation (None: none); ``error`` is set when
    the policy could not be evaluated (the mode decided: inline refuses, shadow forwards)."""

    forward: bool
    finding: Finding | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def check(self) -> str | None:
        if self.error is not None:
            return UNAVAILABLE
        return check_name(self.finding) if self.finding is not None else None


class InlinePolicy:
    """The proxy's engine and the mode; one per proxy process."""

    def __init__(
        self,
        charters: CharterSet | Iterable[Charter],
        mode: PolicyMode,
        settings: EngineSettings | None = None,
        metrics: ProxyMetrics | None = None,
        max_agents: int = MAX_AGENTS,
    ) -> None:
        if mode not in ("shadow", "inline"):
            raise ValueError(f"policy mode {mode!r}: an engine is for shadow or inline only")
        self.mode = mode
        self.metrics = metrics
        # in the order decided: no reordering (lateness 0), no refusal of an event's time
        # (its time is this process's clock)
        self.states = BoundedStates(max_agents, self._evicted)
        self.engine = Engine(
            charters,
            replace(
                settings or EngineSettings(),
                detectors=tuple(REFUSING),
                allowed_lateness_seconds=0.0,
                max_future_seconds=0.0,
            ),
            self.states,
        )

    def _evicted(self) -> None:
        if self.metrics is not None:
            self.metrics.policy_evicted.inc()

    def decide(self, call: ToolCall) -> PolicyVerdict:
        """Judge ``call`` (built as it would be emitted, outcome ``ok``) before forwarding."""
        started = time.perf_counter()
        try:
            found = [f for f in self.engine.judge(call) if refuses(f)]
        except Exception as err:  # a charter or detector that cannot judge this call
            verdict = PolicyVerdict(
                self.mode != "inline", error=f"{type(err).__name__}: {err}"[:500]
            )
        else:
            verdict = PolicyVerdict(not found or self.mode != "inline", found[0] if found else None)
        seconds = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.policy_latency.observe(seconds)
            self.metrics.policy_decisions.labels(self._result(verdict)).inc()
        return replace(verdict, seconds=seconds)

    def _result(self, v: PolicyVerdict) -> str:
        if v.error is not None:
            return "unavailable_refused" if not v.forward else "unavailable_forwarded"
        if v.finding is None:
            return "allow"
        return "refuse" if not v.forward else "would_refuse"

    def record(self, event: ToolCall) -> None:
        """Apply an event this proxy emits, as the worker will: the next judgement sees it."""
        try:
            self.engine.process(event)
        except Exception as err:  # never lose the call over the proxy's own bookkeeping
            log.error(
                "policy_record_failed",
                event_id=event.event_id,
                error=f"{type(err).__name__}: {err}"[:500],
            )
        self.engine.dirty.clear()  # no store to flush: the states live in this process

    def apply_charter_update(self, raw: bytes) -> bool:
        """A record of the charter broadcast topic; True if it changed a charter.

        Verified by the engine (signature, key scope, version): what the worker
        refuses, this refuses; the charter in force stays.
        """
        try:
            event = decode_event(raw)
        except DecodeError as err:
            log.warning("charter_update_refused", why=f"undecodable: {err.reason}")
            return False
        if type(event) is not CharterUpdated:
            log.warning("charter_update_refused", why=f"not a charter_updated: {event.type}")
            return False
        decision = self.engine.process(event)
        if decision.duplicate:
            return False
        rejected = [a for a in decision.alerts if a.detector == REJECTED]
        if rejected:
            log.warning(
                "charter_update_refused",
                event_id=event.event_id,
                key=rejected[0].clause.key,
                why=rejected[0].reason,
            )
            return False
        log.info("charter_update_applied", event_id=event.event_id)
        return True
