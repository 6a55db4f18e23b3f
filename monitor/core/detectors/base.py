"""The one small interface every detector implements, and the registry.

A detector *scores*; it never decides. It looks at one event (or one fired
timer) with the agent's state and charter and returns :class:`Finding` objects.
The decision step (:mod:`monitor.core.decision`) turns findings into alerts and
revocation commands: dedup, severity floor, ids, observe vs enforce.

Adding a detector is one module: subclass :class:`Detector`, set ``name``,
decorate with :func:`register`. A detector that remembers something per agent
also sets ``section`` and keeps it in ``AgentState.sections[section]``, saying
how it goes to a snapshot and back (:meth:`Detector.dump_state`,
:meth:`Detector.load_state`); the state module knows no detector. The shared
checks in ``tests/core/test_detector_contract.py`` run against every registered
detector, its section included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, ClassVar, TypeVar

from monitor.core.policy import CompiledCharter
from monitor.core.state import CODECS, AgentState
from monitor.events import ToolCall
from monitor.output_contracts import Alert, Scope, Severity

T = TypeVar("T")


@dataclass(slots=True)
class Finding:
    """What a detector found. ``revoke`` suggests a scope; the decision step decides."""

    detector: str
    key: str  # charter clause key path, e.g. "tools" or "forbidden_chains.exfiltration"
    clause_text: str
    severity: Severity
    reason: str
    evidence: list[str]
    score: float = 1.0
    revoke: Scope | None = None
    credential_ids: list[str] = field(default_factory=list)
    task_id: str | None = None
    session_id: str | None = None
    dedup: str = ""  # repeated findings with the same dedup key are one alert
    notify: bool = True  # False: a routine revocation (e.g. task ended), no alert
    details: dict[str, str | int | float | bool | None] = field(default_factory=dict)


@dataclass(slots=True)
class CallContext:
    """One tool call, prepared once for every detector."""

    call: ToolCall
    t: float  # event time, epoch seconds
    kind: str  # "delegated" | "autonomous", resolved from event or charter
    charter: CompiledCharter | None
    grant: frozenset[str] | None  # classes of the grant, None if not granted
    classes: frozenset[str]  # grant classes ∪ resource classes
    index: int  # this agent's call counter, 1-based
    #: what detectors derive from the call, by the function that derives it: see
    #: :func:`once_per_call`
    derived: dict[Callable[[CallContext], Any], Any] = field(default_factory=dict)


def once_per_call(fn: Callable[[CallContext], T]) -> Callable[[CallContext], T]:
    """``fn(ctx)`` computed by the first detector that asks, then shared for that call.

    For what several detectors derive from one call (is the tool high impact, the
    command line in its arguments): a pure function of the call, so whichever
    detector asks first, every one of them sees the same.
    """

    @wraps(fn)
    def shared(ctx: CallContext) -> T:
        derived = ctx.derived
        if fn in derived:
            value: T = derived[fn]
            return value
        value = derived[fn] = fn(ctx)
        return value

    return shared


class Detector:
    """Base class with no-op hooks; a detector overrides the ones it needs."""

    name: ClassVar[str] = ""
    #: How it decides, in OCSF's analytic terms (``finding_info.analytic.type_id``):
    #: "rule" (a charter clause or a fixed pattern), "behavioral" (against the agent's
    #: own past actions), "statistical" (a learned score against a calibrated threshold).
    analytic: ClassVar[str] = "rule"
    #: Its per-agent state's key in :attr:`AgentState.sections` (by convention its
    #: ``name``), or ``None``: it keeps no per-agent state. Only this detector reads and
    #: writes that section; it stays bounded whatever an agent sends.
    section: ClassVar[str | None] = None

    @classmethod
    def dump_state(cls, value: Any) -> Any:
        """The section as JSON-able data (dicts, lists, str, numbers, bool, None) for a
        snapshot. The default: the section is such data already, written as it is."""
        return value

    @classmethod
    def load_state(cls, data: Any) -> Any:
        """The section back from what :meth:`dump_state` wrote (a snapshot of this or an
        older version); :class:`ValueError` if ``data`` cannot be one, so a corrupt snapshot
        is refused at restore rather than crash the detector later. A detector with a
        ``section`` overrides this."""
        raise ValueError(f"{cls.name} keeps no per-agent state")

    def wants_calls(self, charter: CompiledCharter | None, kind: str) -> bool:
        """Whether :meth:`on_call` can find anything for agents under this charter and kind.

        Asked once per (charter, kind) and cached by the engine, so a detector
        that cannot fire (no chains declared, not delegated, …) costs nothing per call.
        """
        return True

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        return ()

    def on_lifecycle(
        self, event: Any, t: float, st: AgentState, charter: CompiledCharter | None
    ) -> Sequence[Finding]:
        """Task, credential and sponsor events, after the ledger has been updated."""
        return ()

    def on_timer(
        self, key: str, t: float, st: AgentState, charter: CompiledCharter | None
    ) -> Sequence[Finding]:
        """A timer this detector set with ``st.set_timer(due, self.name, key)`` fired at ``t``."""
        return ()

    def after_call(
        self,
        ctx: CallContext,
        st: AgentState,
        findings: Sequence[Finding],
        alerts: Sequence[Alert],
    ) -> None:
        """After the decision step has judged a call *with findings*: a learning
        detector decides here what to learn of it.

        ``findings`` are every detector's findings for this call (never empty),
        ``alerts`` the alerts the decision step raised for them (deduplicated ones
        are absent). Learning after deciding lets a detector skip calls another
        detector found revoke-worthy, so an attack cannot teach the baseline that
        it is normal. Only detectors that override this hook are called, and only
        for calls with findings: a call without any (nearly all) is the detector's
        to learn unprompted, before it next judges or reports (so a quiet call costs
        the engine no interpreted call into the detector).
        """


REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    """Add a detector to :data:`REGISTRY`, and its state section's codec to the state's."""
    if not cls.name or cls.name in REGISTRY:
        raise ValueError(f"detector needs a unique name, got {cls.name!r}")
    if cls.section is not None:
        if cls.section in CODECS:
            raise ValueError(f"{cls.name}: state section {cls.section!r} is taken")
        if cls.load_state.__func__ is Detector.load_state.__func__:  # type: ignore[attr-defined]
            raise ValueError(f"{cls.name}: a state section needs a load_state")
        plain = cls.dump_state.__func__ is Detector.dump_state.__func__  # type: ignore[attr-defined]
        CODECS[cls.section] = (None if plain else cls.dump_state, cls.load_state)
    REGISTRY[cls.name] = cls
    return cls


def fmt_seconds(s: float) -> str:
    """``95`` -> ``"95 s"``, ``5400`` -> ``"1 h 30 min"``: for reasons people read."""
    s = round(s)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def call_target(ctx: CallContext) -> tuple[Scope, list[str]]:
    """The narrowest scope that ends the access a call used."""
    c = ctx.call
    if c.credential_id:
        return "credential", [c.credential_id]
    if c.session_id:
        return "session", []
    return "agent", []
