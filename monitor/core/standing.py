"""standing_privilege: grants and credentials an agent holds but does not use.

Not an alerting detector: a *report*. Standing privilege is the slow failure of
least privilege — a tool granted for one task and never used again, a
credential issued for an hour and used for a minute. :class:`PrivilegeUsage`
watches events (same contract as the engine, event time only) and
:meth:`PrivilegeUsage.report` turns what it saw into recommendations per
charter: grants to remove, and a tighter ``credential_max_ttl`` from how long
credentials were actually used.

>>> from monitor import testing as tb
>>> ch = tb.charter("a", tools=[{"server": "s", "tool": "used"}, {"server": "s", "tool": "idle"}])
>>> u = PrivilegeUsage(CharterSet([ch]))
>>> u.observe(tb.call(0, "a", "s", "used"))
>>> [g.tool for g in u.report(unused_days=1).charters[0].grants if g.recommendation == "remove"]
['idle']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.core.breadth import breadth
from monitor.core.globs import compile_glob
from monitor.core.policy import CharterSet
from monitor.events import CredentialIssued, CredentialRevoked, TaskEnded, ToolCall

DAY = 86_400.0


@dataclass(slots=True)
class GrantUsage:
    server: str
    tool: str
    classes: list[str]
    calls: int = 0
    agents: int = 0
    first_used: float | None = None
    last_used: float | None = None
    recommendation: str = "keep"
    why: str = ""


@dataclass(slots=True)
class CredentialUsage:
    issued: int = 0
    never_used: int = 0
    used_fraction_p50: float | None = None  # of the TTL, for used credentials
    used_seconds_p95: float | None = None
    max_ttl: float | None = None  # charter's credential_max_ttl
    suggested_max_ttl: float | None = None
    outlived_use: list[dict[str, Any]] = field(default_factory=list)  # worst first, a few


@dataclass(slots=True)
class CharterReport:
    charter: str
    kind: str
    agents: list[str]
    grants: list[GrantUsage]
    credentials: CredentialUsage
    #: monitor.core.breadth: score, axes, too_broad, drivers (the grants that make it broad)
    breadth: dict[str, Any] = field(default_factory=dict)

    @property
    def unused(self) -> list[GrantUsage]:
        return [g for g in self.grants if g.recommendation != "keep"]


@dataclass(slots=True)
class PrivilegeReport:
    window_start: float | None
    window_end: float | None
    unused_days: float
    charters: list[CharterReport]
    unchartered_agents: list[str]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    def to_markdown(self) -> str:
        from datetime import UTC, datetime

        def when(t: float | None) -> str:
            return (
                "never" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")
            )

        out = [
            "## Standing privilege report",
            "",
            f"window {when(self.window_start)} – {when(self.window_end)} UTC (event time); "
            f"a grant unused for {self.unused_days:g} days or more is flagged",
            "",
        ]
        for c in self.charters:
            out += [f"### `{c.charter}` ({c.kind}, {len(c.agents)} agents seen)", ""]
            if c.breadth:
                out += [_breadth_line(c.breadth), ""]
            out += [
                "| grant | classes | calls | agents | last used | recommendation |",
                "|---|---|---:|---:|---|---|",
            ]
            for g in c.grants:
                rec = (
                    g.recommendation
                    if g.recommendation == "keep"
                    else f"**{g.recommendation}**: {g.why}"
                )
                out.append(
                    f"| {g.server}/{g.tool} | {', '.join(g.classes)} | {g.calls:,} | "
                    f"{g.agents} | {when(g.last_used)} | {rec} |"
                )
            cr = c.credentials
            if cr.issued:
                out += ["", f"credentials issued: {cr.issued:,}; never used: {cr.never_used:,}"]
                if cr.used_fraction_p50 is not None:
                    out.append(
                        f"median share of the TTL actually used: {cr.used_fraction_p50:.0%}; "
                        f"95th percentile of time in use: {cr.used_seconds_p95:,.0f} s"
                    )
                if cr.outlived_use:
                    w = cr.outlived_use[0]
                    out.append(
                        f"credentials that outlived their use (idle > half their TTL, or "
                        f"never used): {len(cr.outlived_use)}{'+' if len(cr.outlived_use) == 10 else ''}; "
                        f"worst `{w['credential_id']}`: idle {w['idle_seconds']:,} s of a "
                        f"{w['ttl_seconds']:,} s TTL"
                    )
                if cr.suggested_max_ttl is not None and (
                    cr.max_ttl is None or cr.suggested_max_ttl < cr.max_ttl
                ):
                    out.append(
                        f"**suggest** `limits.credential_max_ttl: {cr.suggested_max_ttl:.0f}` "
                        f"(now {cr.max_ttl if cr.max_ttl is not None else 'unset'})"
                    )
            out.append("")
        if self.unchartered_agents:
            out += [
                "### Agents without a charter",
                "",
                ", ".join(f"`{a}`" for a in self.unchartered_agents),
                "",
            ]
        return "\n".join(out)


def _breadth_line(b: dict[str, Any]) -> str:
    axes = b["axes"]
    parts = ", ".join(
        f"{name} {'any' if a['grants'] == ['any'] else ', '.join(a['grants']) or 'none'} "
        f"(+{a['points']})"
        for name, a in axes.items()
    )
    line = f"breadth {b['score']}: {parts}"
    if b["too_broad"]:
        line = (
            f"**too broad for static scoping**: {line}; driven by {', '.join(b['drivers'])} "
            "(narrow these grants, or run the agent delegated with per-task credentials)"
        )
    return line


def _quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


class PrivilegeUsage:
    """Accumulates which grants and credentials are used; bounded by grants and credentials."""

    def __init__(self, charters: CharterSet) -> None:
        self.charters = charters
        # pattern -> (server, tool) -> [calls, first, last, agents set]
        self._grants: dict[str, dict[tuple[str, str], list[Any]]] = {}
        self._agents: dict[str, set[str]] = {}
        self._unchartered: set[str] = set()
        # credential id -> [pattern, issued, expires, last_used, uses, ended]
        self._creds: dict[str, list[Any]] = {}
        self._task_creds: dict[str, list[str]] = {}
        self.start: float | None = None
        self.end: float | None = None

    def observe(self, event: Any) -> None:
        t = event.ts.timestamp()
        self.start = t if self.start is None else min(self.start, t)
        self.end = t if self.end is None else max(self.end, t)
        ch = self.charters.for_agent(event.agent_id)
        if ch is None:
            if isinstance(event, ToolCall):
                self._unchartered.add(event.agent_id)
            return
        if isinstance(event, ToolCall):
            self._agents.setdefault(ch.pattern, set()).add(event.agent_id)
            if event.outcome != "denied" and ch.grant(event.server, event.tool) is not None:
                rec = self._grants.setdefault(ch.pattern, {}).setdefault(
                    (event.server, event.tool), [0, t, t, set()]
                )
                rec[0] += 1
                rec[1], rec[2] = min(rec[1], t), max(rec[2], t)
                rec[3].add(event.agent_id)
            cred = self._creds.get(event.credential_id or "")
            if cred is not None:
                cred[3] = t if cred[3] is None else max(cred[3], t)
                cred[4] += 1
        elif isinstance(event, CredentialIssued):
            self._creds[event.credential_id] = [
                ch.pattern,
                t,
                event.expires_at.timestamp(),
                None,
                0,
                None,
            ]
            if event.task_id:
                self._task_creds.setdefault(event.task_id, []).append(event.credential_id)
        elif isinstance(event, CredentialRevoked):
            cred = self._creds.get(event.credential_id)
            if cred is not None:
                cred[5] = t if cred[5] is None else min(cred[5], t)
        elif isinstance(event, TaskEnded):
            for cid in self._task_creds.pop(event.task_id, []):
                cred = self._creds.get(cid)
                if cred is not None:
                    cred[5] = t if cred[5] is None else min(cred[5], t)

    def observe_all(self, events: Iterable[Any]) -> None:
        for e in events:
            self.observe(e)

    def report(self, unused_days: float = 30.0) -> PrivilegeReport:
        end = self.end
        horizon = unused_days * DAY
        span = (self.end - self.start) if self.end is not None and self.start is not None else 0.0
        charters = []
        for ch in self.charters:
            used = self._grants.get(ch.pattern, {})
            grants = []
            for g in ch.charter.tools:
                calls, first, last, agents = 0, None, None, set()
                server_rx, tool_rx = compile_glob(g.server), compile_glob(g.tool)
                for (server, tool), rec in used.items():
                    if server_rx.match(server) and tool_rx.match(tool):
                        calls += rec[0]
                        first = rec[1] if first is None else min(first, rec[1])
                        last = rec[2] if last is None else max(last, rec[2])
                        agents |= rec[3]
                gu = GrantUsage(g.server, g.tool, list(g.classes), calls, len(agents), first, last)
                if last is None:
                    gu.recommendation = "remove"
                    gu.why = f"never used in {span / DAY:.1f} days of traffic" + (
                        "" if span >= horizon else " (window shorter than the horizon: review)"
                    )
                elif end is not None and end - last >= horizon:
                    gu.recommendation = "remove"
                    gu.why = f"last used {(end - last) / DAY:.0f} days ago"
                grants.append(gu)
            charters.append(
                CharterReport(
                    ch.pattern,
                    ch.kind,
                    sorted(self._agents.get(ch.pattern, ())),
                    grants,
                    self._credentials(ch.pattern, ch.limits.credential_max_ttl),
                    breadth(ch.charter).to_dict(),
                )
            )
        return PrivilegeReport(
            self.start, self.end, unused_days, charters, sorted(self._unchartered)
        )

    def _credentials(self, pattern: str, max_ttl: float | None) -> CredentialUsage:
        creds = [(cid, c) for cid, c in self._creds.items() if c[0] == pattern]
        cu = CredentialUsage(issued=len(creds), max_ttl=max_ttl)
        fractions, in_use, outlived = [], [], []
        for cid, (_, issued, expires, last, uses, ended) in creds:
            ttl = max(expires - issued, 1e-9)
            stop = min(x for x in (expires, ended, self.end) if x is not None)
            if last is None:
                cu.never_used += 1
                outlived.append(
                    {
                        "credential_id": cid,
                        "uses": 0,
                        "idle_seconds": round(stop - issued),
                        "ttl_seconds": round(ttl),
                    }
                )
                continue
            fractions.append((last - issued) / ttl)
            in_use.append(last - issued)
            idle = stop - last
            if idle > 0.5 * ttl:
                outlived.append(
                    {
                        "credential_id": cid,
                        "uses": uses,
                        "idle_seconds": round(idle),
                        "ttl_seconds": round(ttl),
                    }
                )
        if fractions:
            cu.used_fraction_p50 = round(_quantile(fractions, 0.5), 3)
            cu.used_seconds_p95 = round(_quantile(in_use, 0.95), 1)
            # headroom of 50 % over the 95th percentile, rounded up to a minute
            cu.suggested_max_ttl = float(max(60, -(-int(cu.used_seconds_p95 * 1.5) // 60) * 60))
        cu.outlived_use = sorted(outlived, key=lambda d: -d["idle_seconds"])[:10]
        return cu
