"""The agent base classes: clock, lifecycle, emitting events, the chain guard."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, NamedTuple

import orjson

from monitor.core.policy import CompiledCharter
from monitor.core.values import value_digests
from monitor.sim.plan import AgentPlan
from monitor.sim.scenarios import _BEHAVIOUR, WARMUP_MARGIN
from monitor.sim.vocab import POST_GAP_MS, PRE_GAP_MS, TAIL_MS, fmt_ts

# --------------------------------------------------------------------------- agents

#: The scenario scripts, by scenario name: ``SCRIPTS[name](agent)`` plays it. Filled by
#: :func:`script` as the archetype modules are imported (see :mod:`monitor.sim.run`).
SCRIPTS: dict[str, Callable[[Any], None]] = {}


def script(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    """Register an archetype's ``script_<scenario>`` method as the script of ``<scenario>``."""
    name = fn.__name__.removeprefix("script_")
    if name in SCRIPTS:
        raise RuntimeError(f"two scripts for scenario {name!r}")  # a bug in the simulator
    SCRIPTS[name] = fn
    return fn


_Item = tuple[int, int, int, dict[str, Any]]  # (ts_ms, agent index, sequence, event)


class _Tool(NamedTuple):
    """How one action of an archetype looks on the wire."""

    server: str
    tool: str
    domain: str | None
    out_lo: int
    out_hi: int


class _Agent:
    """One agent's timeline, written imperatively against a millisecond clock.

    Subclasses implement :meth:`episode` (one task, run or poll of background
    traffic), :meth:`safe_call` and ``script_<scenario>`` methods whose
    docstrings tell the scenario's story (registered with :func:`script`). Every event goes through :meth:`emit`,
    which drops anything at or after the end of the run: what is kept is always
    a prefix in time, and a prefix of benign traffic is benign.
    """

    kind: ClassVar[str] = ""
    min_gap_s: ClassVar[float] = 2.0
    tools: ClassVar[dict[str, _Tool]] = {}

    def __init__(self, p: AgentPlan, start_ms: int, end_ms: int, labels: list[_Item]) -> None:
        self.p = p
        self.id = p.agent_id
        self.rng = random.Random(p.seed)
        self.compiled = CompiledCharter(p.charter)
        self.chains = [
            (c.sequence[0], frozenset(c.sequence[1:]), c.within_calls, c.within_seconds)
            for c in p.charter.forbidden_chains
        ]
        self.armed: list[tuple[int, int] | None] = [None] * len(self.chains)
        self.end_ms = end_ms
        self.now = p.first_ms
        self.last_emit = start_ms
        self.seq = 0
        self.n_calls = 0
        self.out: list[_Item] = []
        self.labels = labels
        self.cred: str | None = None
        self.cred_exp = 0
        self.auto_cred = True
        self.task: str | None = None
        self.task_creds: list[str] = []
        self.session: str | None = None
        self.task_no = self.rng.randint(1000, 80000)
        self.outcome_unknown = False

    # ------------------------------------------------------------------ running
    def run(self) -> Iterator[_Item]:
        p = self.p
        deadline = p.anchor_ms - PRE_GAP_MS if p.anchor_ms is not None else self.end_ms
        while self.episode(deadline):
            yield from self._flush()
        if p.scenario is not None and p.anchor_ms is not None:
            if p.scenario.detector == _BEHAVIOUR:
                # The baseline must be past warm-up: keep working until the agent has made
                # enough benign calls, or give the attack up (no label) if it no longer fits.
                need = p.charter.baseline.warmup_events + WARMUP_MARGIN
                latest = self.end_ms - round(p.scenario.minutes * 60_000) - TAIL_MS
                while self.n_calls < need and self.episode(latest):
                    yield from self._flush()
                if self.n_calls < need or self.now > latest:
                    while self.episode(self.end_ms):
                        yield from self._flush()
                    yield from self._flush()
                    return
            self.now = max(self.now, p.anchor_ms)
            SCRIPTS[p.scenario.name](self)
            yield from self._flush()
            if p.scenario.name == "off_hours_call":
                return  # the shift is over: the agent stays silent
            self.now += POST_GAP_MS
            while self.episode(self.end_ms):
                yield from self._flush()
        yield from self._flush()

    def _flush(self) -> list[_Item]:
        out, self.out = self.out, []
        return out

    def episode(self, deadline: int) -> bool:  # pragma: no cover - abstract
        """One unit of background work ending before ``deadline``; False when there is no room."""
        raise NotImplementedError

    def safe_call(self) -> str | None:  # pragma: no cover - abstract
        """A call with no chain class, always allowed: what a blocked step turns into."""
        raise NotImplementedError

    # ------------------------------------------------------------------ clock and ids
    def wait(self, lo_s: float, hi_s: float) -> None:
        self.now += round(self.rng.uniform(lo_s, hi_s) * 1000)

    def think(self, median_s: float, hi_s: float) -> int:
        """A think time in ms: log-normal around ``median_s``, at least ``min_gap_s``."""
        s = self.rng.lognormvariate(math.log(median_s), 0.7)
        return round(min(max(s, self.min_gap_s), hi_s) * 1000)

    def pause(self, median_s: float = 8, hi_s: float = 25) -> None:
        self.now += self.think(median_s, hi_s)

    def idle(self, lo_s: float, hi_s: float, deadline: int) -> None:
        self.now = min(self.now + round(self.rng.uniform(lo_s, hi_s) * 1000), deadline)

    def hexid(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def new_session(self) -> None:
        self.session = f"mcp-sess-{self.hexid(12)}"

    # ------------------------------------------------------------------ emitting
    def emit(self, type_: str, fields: dict[str, Any], labelled: bool = False) -> str | None:
        if self.now < self.last_emit:
            raise RuntimeError(f"{self.id}: simulated clock went backwards")  # a bug here
        event_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if self.now >= self.end_ms:
            return None
        self.last_emit = self.now
        ev = {"type": type_, "event_id": event_id, "ts": fmt_ts(self.now), "agent_id": self.id}
        ev.update(fields)
        self.seq += 1
        self.out.append((self.now, self.p.index, self.seq, ev))
        sc = self.p.scenario
        if labelled and sc is not None:
            attack = sc.label == "attack"
            label = {
                "event_id": event_id,
                "agent_id": self.id,
                "label": sc.label,
                "detector": sc.detector if attack else None,
                "scenario": sc.name,
                "severity": sc.severity if attack else None,
            }
            self.labels.append((self.now, self.p.index, self.seq, label))
        return event_id

    def issue(self, ttl_s: float, task_id: str | None, labelled: bool = False) -> str:
        cid = f"jti-{self.hexid(20)}"
        exp = self.now + round(ttl_s * 1000)
        fields: dict[str, Any] = {"credential_id": cid}
        if task_id is not None:
            fields["task_id"] = task_id
        fields.update(scopes=self.scopes, expires_at=fmt_ts(exp))
        self.emit("credential_issued", fields, labelled)
        self.cred, self.cred_exp = cid, exp
        if task_id is not None:
            self.task_creds.append(cid)
        self.now += self.rng.randint(50, 400)
        return cid

    scopes: ClassVar[list[str]] = []

    def revoke(self, cid: str, reason: str) -> None:
        self.emit("credential_revoked", {"credential_id": cid, "reason": reason})
        self.now += self.rng.randint(20, 300)

    # ------------------------------------------------------------------ calls
    def use(
        self,
        action: str,
        args: dict[str, Any],
        resources: Sequence[str] = (),
        **kw: Any,
    ) -> str | None:
        """A call of one of this archetype's :attr:`tools` (see :meth:`call` for ``kw``)."""
        t = self.tools[action]
        kw.setdefault("data_domain", t.domain or None)  # "" = the caller supplies it
        kw.setdefault("out_bytes", (t.out_lo, t.out_hi))
        return self.call(t.server, t.tool, args, resources, **kw)

    def call(
        self,
        server: str,
        tool: str,
        args: dict[str, Any],
        resources: Sequence[str] = (),
        *,
        outcome: str | None = None,
        tenant: str = "corp",
        data_domain: str | None = None,
        out_bytes: tuple[int, int] = (200, 8_000),
        in_bytes: int | None = None,
        guard: str = "filler",
        labelled: bool = False,
        result: Sequence[str] = (),
    ) -> str | None:
        """Emit one tool call, keeping benign traffic clear of forbidden chains.

        ``result``: the entity-like values the call's result carried (addresses,
        account numbers, links); the event gets their ``result_digests``, as a
        gateway that logs response bodies would fill it (not for a denied call).

        ``guard``: ``filler`` replaces a call that would complete a chain with a
        safe one; ``defer`` makes safe calls until it no longer would; ``strict``
        raises (a bug in a script); ``off`` emits it anyway (the attack step).
        """
        classes = self.compiled.call_classes(self.compiled.grant(server, tool), resources)
        if guard != "off" and self._blocked(classes):
            if guard == "strict":
                raise RuntimeError(f"{self.id}: {server}/{tool} would complete a forbidden chain")
            if guard == "filler":
                return self.safe_call()
            for _ in range(40):
                self.safe_call()
                self.pause(6, 20)
                if not self._blocked(classes):
                    break
            else:
                return None
        self.before_call()
        self.n_calls += 1
        for i, (first, _, _, _) in enumerate(self.chains):
            if first in classes:
                self.armed[i] = (self.n_calls, self.now)
        if outcome is None:
            r = self.rng.random()
            outcome = "ok" if r < 0.94 else ("error" if r < 0.985 else "denied")
            if self.outcome_unknown:
                outcome = "unknown"
        fields: dict[str, Any] = {"agent_kind": self.kind}
        optional = (
            ("sponsor", self.p.sponsor),
            ("task_id", self.task),
            ("session_id", self.session),
            ("credential_id", self.cred),
            ("tenant", tenant),
            ("data_domain", data_domain),
        )
        fields.update((k, v) for k, v in optional if v is not None)
        if in_bytes is None:
            in_bytes = len(orjson.dumps(args)) + self.rng.randint(90, 240)
        fields.update(
            server=server,
            tool=tool,
            args=args,
            resources=list(resources),
            outcome=outcome,
            bytes_in=in_bytes,
            bytes_out=0 if outcome == "denied" else self.rng.randint(*out_bytes),
            trace_id=self.hexid(32),
        )
        if result and outcome != "denied":
            fields["result_digests"] = value_digests("\n".join(result))
        return self.emit("tool_call", fields, labelled)

    def _blocked(self, classes: frozenset[str]) -> bool:
        """Would a call with these classes complete (or risk completing) a forbidden chain now?"""
        if not classes:
            return False
        index = self.n_calls + 1
        for (_, later, within_calls, within_s), armed in zip(self.chains, self.armed, strict=True):
            if armed is None or not classes & later:
                continue
            start, t0 = armed
            by_calls = within_calls is None or index - start + 1 <= within_calls
            by_time = within_s is None or self.now - t0 <= within_s * 1000 + 2_000
            if by_calls and by_time:
                return True
        return False

    def settle(self) -> None:
        """Idle until no forbidden chain is armed, so a script's steps are never deferred."""
        for (_, _, _, within_s), armed in zip(self.chains, self.armed, strict=True):
            if armed is not None and within_s is not None:
                self.now = max(self.now, armed[1] + round(within_s * 1000) + 3_000)
        self.armed = [None] * len(self.chains)

    def before_call(self) -> None:
        """Lifecycle an agent does right before a call (heartbeat, token refresh)."""

    def safe_calls(self, n: int, median_s: float = 8, hi_s: float = 25) -> None:
        for _ in range(n):
            self.pause(median_s, hi_s)
            self.safe_call()


class _Delegated(_Agent):
    """Acts for one human sponsor, one task at a time, with task-bound credentials."""

    kind = "delegated"
    task_prefix: ClassVar[str] = "TASK"
    ttl_choices: ClassVar[tuple[int, ...]] = (600, 900)

    def __init__(self, p: AgentPlan, start_ms: int, end_ms: int, labels: list[_Item]) -> None:
        super().__init__(p, start_ms, end_ms, labels)
        self.sponsor: str = p.sponsor or "nobody@corp.example"
        self.last_active = -(10**15)
        self.hb_every = self._hb_interval()
        self.quiet = False  # the sponsor sends no heartbeats
        self.session_until: int | None = None
        self.limits = p.charter.limits
        self.grace_ms = round(self.limits.task_grace_seconds * 1000)

    def _hb_interval(self) -> int:
        return self.rng.randint(60_000, 240_000)

    def open_task(self, ttl_s: float | None = None) -> str:
        self.task_no += self.rng.randint(1, 40)
        task = f"{self.task_prefix}-{self.task_no}"
        if self.session_until is None:
            self.session_until = self.now + self.rng.randint(25, 120) * 60_000
        self.task, self.task_creds = task, []
        self.emit(
            "task_started", {"task_id": task, "sponsor": self.sponsor, "agent_kind": self.kind}
        )
        self.last_active = self.now  # starting a task is the sponsor being present
        self.new_session()
        self.wait(0.3, 1.5)
        self.issue(ttl_s or self.rng.choice(self.ttl_choices), task)
        return task

    def close_task(self, revoke: bool = False) -> None:
        task = self.task
        if task is None:
            return
        self.emit("task_ended", {"task_id": task, "sponsor": self.sponsor, "agent_kind": self.kind})
        self.task, self.cred, self.session = None, None, None
        if revoke:
            self.wait(0.5, 3)
            for cid in self.task_creds:
                self.revoke(cid, "task ended")
        self.task_creds = []

    def heartbeat(self) -> None:
        fields = {"sponsor": self.sponsor}
        if self.task is not None:
            fields["task_id"] = self.task
        self.emit("sponsor_active", fields)
        self.last_active = self.now
        self.hb_every = self._hb_interval()
        self.now += self.rng.randint(100, 600)

    def before_call(self) -> None:
        if not self.quiet and self.now - self.last_active >= self.hb_every:
            self.heartbeat()
        if self.auto_cred and self.task is not None and self.cred_exp - self.now < 60_000:
            self.issue(self.rng.choice(self.ttl_choices), self.task)

    def end_of_task(self, deadline: int) -> None:
        """Idle after a task; the sponsor's session may end, but only between tasks."""
        over = self.session_until is not None and self.now > self.session_until
        if over and self.now + 120_000 < deadline:
            self.wait(5, 60)
            self.emit("sponsor_ended", {"sponsor": self.sponsor})
            self.session_until = None
            self.idle(300, 2400, deadline)
        else:
            self.idle(20, 360, deadline)

    def sponsor_ended(self) -> None:
        self.emit("sponsor_ended", {"sponsor": self.sponsor})
        self.quiet = True  # gone: no heartbeat until a new task starts a new session
        self.session_until = None

    def finish_script(self) -> None:
        self.quiet = False
        self.auto_cred = True
        self.session_until = None


class _Autonomous(_Agent):
    """A workload identity with short-lived tokens refreshed well before they expire."""

    kind = "autonomous"
    token_ttl_s: ClassVar[int] = 600

    def before_call(self) -> None:
        if self.auto_cred and (self.cred is None or self.cred_exp - self.now < 90_000):
            self.issue(self.token_ttl_s, self.task)
