"""footprint_breadth: more tenants or data domains in a sliding hour than the charter allows.

A charter may list many tenants or domains (a fleet patcher serves them all),
yet one run of an agent should touch a few: an autonomous agent that sweeps
across tenants in an hour is acting as a confused deputy or has been steered
into lateral movement, even if every single call is granted. Charter keys
``limits.max_tenants_per_hour`` and ``limits.max_domains_per_hour`` (optional,
absent: no bound) bound the number of *distinct* tenants / data domains in
any sliding hour of event time; the call that makes it one more raises a
``footprint_breadth`` finding (high; the decision step revokes the call's
credential in ``enforce`` mode, alerts only in ``observe``). Calls without a
tenant (domain) do not count on that axis.

State, compact whatever the agent sends: ``[tenants, domains]``, per axis at
most ``limit + 1`` entries, each a 16-hex digest of the name and the last time it was seen
(names are not kept: they are the attacker's strings; the alert names the
tenant of the call that crossed the limit), in ``AgentState.sections
["footprint_breadth"]`` (snapshot versions before 6 kept it among the chain
automata, under the key ``#footprint``; it restores from there).
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b
from typing import Any

from monitor.core.detectors.base import CallContext, Detector, Finding, call_target, register
from monitor.core.policy import CompiledCharter
from monitor.core.state import AgentState

WINDOW = 3600.0
_AXES = (("tenant", "tenants", "limits.max_tenants_per_hour"),
         ("data_domain", "data domains", "limits.max_domains_per_hour"))  # fmt: skip


def _digest(name: str) -> str:
    return blake2b(name.encode(), digest_size=8).hexdigest()


def _limits(charter: CompiledCharter | None) -> tuple[int | None, int | None]:
    if charter is None:
        return None, None
    return charter.limits.max_tenants_per_hour, charter.limits.max_domains_per_hour


@register
class FootprintBreadth(Detector):
    name = "footprint_breadth"
    #: [tenants, data domains]: each {name digest: last seen}, at most limit + 1 entries
    section = "footprint_breadth"

    @classmethod
    def load_state(cls, data: Any) -> list[Any]:
        if not (
            isinstance(data, list)
            and len(data) == len(_AXES)
            and all(
                isinstance(seen, dict) and all(isinstance(t, int | float) for t in seen.values())
                for seen in data
            )
        ):
            raise ValueError("not [{digest: time}, {digest: time}]")
        return data

    def wants_calls(self, charter: CompiledCharter | None, kind: str) -> bool:
        return any(x is not None for x in _limits(charter))

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        limits = _limits(ctx.charter)
        c = ctx.call
        out: list[Finding] = []
        section: list[Any] | None = None
        for axis, ((field, plural, key), limit) in enumerate(zip(_AXES, limits, strict=True)):
            value = getattr(c, field)
            if limit is None or value is None:
                continue
            if section is None:
                section = st.sections.setdefault(self.name, [{}, {}])  # tenants, data domains
            seen: dict[str, float] = section[axis]
            t = ctx.t
            for d in [d for d, last in seen.items() if last <= t - WINDOW]:
                del seen[d]
            d = _digest(value)
            if d in seen:
                seen[d] = max(seen[d], t)
                continue
            if len(seen) > limit:  # keep limit + 1: enough to know it is over
                del seen[min(seen, key=seen.__getitem__)]
            seen[d] = t
            n = len(seen)
            if n <= limit:
                continue
            scope, creds = call_target(ctx)
            out.append(
                Finding(
                    self.name,
                    key,
                    f"at most {limit} {plural} in any hour",
                    "high",
                    f"{c.agent_id} touched {n} {plural} within an hour (limit {limit}); the "
                    f"newest, {value}, with {c.server}/{c.tool}",
                    [c.event_id],
                    revoke=scope,
                    credential_ids=creds,
                    task_id=c.task_id,
                    session_id=c.session_id,
                    dedup=f"footprint:{field}",
                    details={f"{field}s_last_hour": n, "limit": limit},
                )
            )
        return out
