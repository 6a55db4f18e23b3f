"""``mcpmon charter diff OLD NEW``: what a charter change grants or takes away, in words.

A text diff of YAML shows moved lines; a reviewer needs to know "this grants
``shell/exec_command``" and "this lifts the rate limit from 40 to 60". Charters
are matched by their ``agent`` pattern and compared key by key; every change is
marked **riskier** (more privilege, less detection), **safer**, or **review**
(neither by itself: a different shift, or a grant or resource added inside a
glob the old charter already had, e.g. ``mailto:*@corp.com`` under ``mailto:*``). Exit status 1 when any change is
riskier, so a CI job can demand an approval for exactly those.

It lives in the core because the core judges charter updates with it: an
update with a riskier change raises a ``charter_widened`` alert
(:mod:`monitor.core.charter_update`). ``monitor.charters_from_traffic.diff``
re-exports it.

>>> from monitor import testing as tb
>>> old = [tb.charter("a", tools=[{"server": "s", "tool": "t"}])]
>>> new = [tb.charter("a", tools=[{"server": "s", "tool": "t"}, {"server": "s", "tool": "x"}])]
>>> [c.text for c in diff_charters(old, new)]
['tools: granted s/x []']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from monitor.charter import Charter
from monitor.core.globs import compile_glob

RISKIER, SAFER, REVIEW = "riskier", "safer", "review"


@dataclass(frozen=True, slots=True)
class Change:
    charter: str
    text: str
    verdict: str  # riskier | safer | review


def _minutes(hours: str | None) -> int:
    if hours is None:
        return 1440
    a, b = hours.split("-")
    start = int(a[:2]) * 60 + int(a[3:])
    end = int(b[:2]) * 60 + int(b[3:])
    return (end - start) % 1440 or 1440


def covered(pattern: str, by: Sequence[str]) -> str | None:
    """The glob in ``by`` that already allows everything ``pattern`` allows, if one does.

    A heuristic on the glob text: ``by`` must match ``pattern`` read literally, and
    also with its ``**`` spelt as several segments (so ``a/*`` does not cover ``a/**``).
    """
    deep = pattern.replace("**", "zz/zz/zz")
    for q in by:
        rx = compile_glob(q)
        if rx.match(pattern) and rx.match(deep):
            return q
    return None


def _set_diff(
    out: list[Change], name: str, key: str, old: Sequence[str] | None, new: Sequence[str] | None
) -> None:
    """``None`` means "any": going to any is riskier, coming from any safer."""
    if old is None and new is None:
        return
    if old is None:
        out.append(Change(name, f"{key}: any → {sorted(new or [])}", SAFER))
        return
    if new is None:
        out.append(Change(name, f"{key}: {sorted(old)} → any (unrestricted)", RISKIER))
        return
    for x in sorted(set(new) - set(old)):
        within = covered(x, old) if key == "resources" else None
        if within is not None:
            out.append(Change(name, f"{key}: added {x} (within {within})", REVIEW))
        else:
            out.append(Change(name, f"{key}: added {x}", RISKIER))
    for x in sorted(set(old) - set(new)):
        out.append(Change(name, f"{key}: removed {x}", SAFER))


def _num(
    out: list[Change], name: str, key: str, old: float | None, new: float | None, more_is: str
) -> None:
    """A limit: ``None`` is "no limit". ``more_is`` = verdict when the value grows."""
    if old == new:
        return
    other = SAFER if more_is == RISKIER else RISKIER
    if new is None:
        out.append(Change(name, f"{key}: {old:g} → no limit", more_is))
    elif old is None:
        out.append(Change(name, f"{key}: no limit → {new:g}", other))
    else:
        out.append(Change(name, f"{key}: {old:g} → {new:g}", more_is if new > old else other))


def diff_pair(old: Charter, new: Charter) -> list[Change]:
    """Every change from ``old`` to ``new``, two charters for the same ``agent`` pattern."""
    n = new.agent
    out: list[Change] = []
    if old.kind != new.kind:
        out.append(Change(n, f"kind: {old.kind} → {new.kind}", REVIEW))
    if old.mode != new.mode:
        verdict = RISKIER if new.mode == "observe" else SAFER
        out.append(Change(n, f"mode: {old.mode} → {new.mode}", verdict))
    _diff_tools(out, n, old, new)
    _diff_resource_classes(out, n, old, new)
    _set_diff(out, n, "tenants", old.tenants, new.tenants)
    _set_diff(out, n, "data_domains", old.data_domains, new.data_domains)
    _set_diff(out, n, "resources", old.resources, new.resources)
    _diff_chains(out, n, old, new)
    _diff_limits(out, n, old, new)
    _diff_baseline(out, n, old, new)
    return out


def _diff_tools(out: list[Change], n: str, old: Charter, new: Charter) -> None:
    og = {(g.server, g.tool): sorted(g.classes) for g in old.tools}
    ng = {(g.server, g.tool): sorted(g.classes) for g in new.tools}
    old_globs = [f"{s}/{t}" for s, t in og]
    for k in sorted(set(ng) - set(og)):
        within = covered(f"{k[0]}/{k[1]}", old_globs)
        text = f"tools: granted {k[0]}/{k[1]} [{', '.join(ng[k])}]"
        if within is not None:
            out.append(Change(n, f"{text} (within {within})", REVIEW))
        else:
            out.append(Change(n, text, RISKIER))
    for k in sorted(set(og) - set(ng)):
        out.append(Change(n, f"tools: removed {k[0]}/{k[1]} [{', '.join(og[k])}]", SAFER))
    for k in sorted(set(og) & set(ng)):
        lost, gained = set(og[k]) - set(ng[k]), set(ng[k]) - set(og[k])
        if lost:  # fewer classes: fewer chains can match
            out.append(Change(n, f"tools: {k[0]}/{k[1]} loses classes {sorted(lost)}", RISKIER))
        if gained:
            out.append(Change(n, f"tools: {k[0]}/{k[1]} gains classes {sorted(gained)}", SAFER))


def _diff_resource_classes(out: list[Change], n: str, old: Charter, new: Charter) -> None:
    orc = {(r.pattern, tuple(sorted(r.classes))) for r in old.resource_classes}
    nrc = {(r.pattern, tuple(sorted(r.classes))) for r in new.resource_classes}
    for p, c in sorted(nrc - orc):
        out.append(Change(n, f"resource_classes: added {p} → {list(c)}", SAFER))
    for p, c in sorted(orc - nrc):
        out.append(Change(n, f"resource_classes: removed {p} → {list(c)}", RISKIER))
    if old.builtin_secret_sources != new.builtin_secret_sources:
        verdict = RISKIER if not new.builtin_secret_sources else SAFER
        out.append(
            Change(
                n,
                f"builtin_secret_sources: {old.builtin_secret_sources} → "
                f"{new.builtin_secret_sources}",
                verdict,
            )
        )


def _diff_chains(out: list[Change], n: str, old: Charter, new: Charter) -> None:
    oc = {c.name: c for c in old.forbidden_chains}
    nc = {c.name: c for c in new.forbidden_chains}
    for name in sorted(set(nc) - set(oc)):
        seq = " → ".join(nc[name].sequence)
        out.append(Change(n, f"forbidden_chains: added {name} {seq}", SAFER))
    for name in sorted(set(oc) - set(nc)):
        seq = " → ".join(oc[name].sequence)
        out.append(Change(n, f"forbidden_chains: removed {name} {seq}", RISKIER))
    for name in sorted(set(oc) & set(nc)):
        a, b = oc[name], nc[name]
        if a.sequence != b.sequence:
            out.append(
                Change(
                    n,
                    f"forbidden_chains.{name}: {' → '.join(a.sequence)} → {' → '.join(b.sequence)}",
                    REVIEW,
                )
            )
        # a wider window catches more: growing it is safer
        _num(out, n, f"forbidden_chains.{name}.within_calls", a.within_calls, b.within_calls, SAFER)
        _num(
            out,
            n,
            f"forbidden_chains.{name}.within_seconds",
            a.within_seconds,
            b.within_seconds,
            SAFER,
        )


def _diff_limits(out: list[Change], n: str, old: Charter, new: Charter) -> None:
    ol, nl = old.limits, new.limits
    _num(
        out,
        n,
        "limits.max_calls_per_minute",
        ol.max_calls_per_minute,
        nl.max_calls_per_minute,
        RISKIER,
    )
    _num(out, n, "limits.credential_max_ttl", ol.credential_max_ttl, nl.credential_max_ttl, RISKIER)
    _num(out, n, "limits.task_grace_seconds", ol.task_grace_seconds, nl.task_grace_seconds, RISKIER)
    _num(
        out,
        n,
        "limits.sponsor_quiet_seconds",
        ol.sponsor_quiet_seconds,
        nl.sponsor_quiet_seconds,
        RISKIER,
    )
    _num(
        out,
        n,
        "limits.max_tenants_per_hour",
        ol.max_tenants_per_hour,
        nl.max_tenants_per_hour,
        RISKIER,
    )
    _num(
        out,
        n,
        "limits.max_domains_per_hour",
        ol.max_domains_per_hour,
        nl.max_domains_per_hour,
        RISKIER,
    )
    a_jit, b_jit = ol.jit_required(old.kind), nl.jit_required(new.kind)
    if a_jit != b_jit:  # effective values: absent means "true for delegated"
        verdict = RISKIER if a_jit else SAFER
        out.append(Change(n, f"limits.require_jit_credentials: {a_jit} → {b_jit}", verdict))
    if ol.hours != nl.hours:
        a_min, b_min = _minutes(ol.hours), _minutes(nl.hours)
        verdict = RISKIER if b_min > a_min else SAFER if b_min < a_min else REVIEW
        out.append(
            Change(n, f"limits.hours: {ol.hours or 'any time'} → {nl.hours or 'any time'}", verdict)
        )


def _diff_baseline(out: list[Change], n: str, old: Charter, new: Charter) -> None:
    ob, nb = old.baseline, new.baseline
    if ob.enabled != nb.enabled:
        verdict = RISKIER if not nb.enabled else SAFER
        out.append(Change(n, f"baseline.enabled: {ob.enabled} → {nb.enabled}", verdict))
    _num(out, n, "baseline.alert_score", ob.alert_score, nb.alert_score, RISKIER)
    _num(out, n, "baseline.revoke_score", ob.revoke_score, nb.revoke_score, RISKIER)
    _num(out, n, "baseline.warmup_events", ob.warmup_events, nb.warmup_events, RISKIER)
    if old.mission != new.mission:
        out.append(Change(n, "mission: text changed", REVIEW))


def diff_charters(old: Sequence[Charter], new: Sequence[Charter]) -> list[Change]:
    """Every change between two charter sets, matched by ``agent`` pattern."""
    o = {c.agent: c for c in old}
    n = {c.agent: c for c in new}
    out: list[Change] = []
    for k in sorted(set(o) | set(n)):
        if k not in n:
            out.append(
                Change(
                    k, "charter removed: its agents become unchartered (every call alerts)", SAFER
                )
            )
        elif k not in o:
            out.append(
                Change(k, f"charter added: grants {len(n[k].tools)} tool(s) to {k}", RISKIER)
            )
        else:
            out.extend(diff_pair(o[k], n[k]))
    return out


def render(changes: Sequence[Change]) -> str:
    if not changes:
        return "no semantic changes"
    mark = {RISKIER: "RISKIER", SAFER: "safer", REVIEW: "review"}
    out: list[str] = []
    current = None
    for c in changes:
        if c.charter != current:
            current = c.charter
            out.append(f"charter {c.charter}")
        sign = {RISKIER: "+", SAFER: "-", REVIEW: "~"}[c.verdict]
        out.append(f"  {sign} {c.text:<90} {mark[c.verdict]}")
    counts = {v: sum(1 for c in changes if c.verdict == v) for v in (RISKIER, SAFER, REVIEW)}
    out.append(
        f"{len(changes)} change(s): {counts[RISKIER]} riskier, {counts[SAFER]} safer, "
        f"{counts[REVIEW]} to review"
    )
    return "\n".join(out)


def to_dict(changes: Sequence[Change]) -> dict[str, Any]:
    return {
        "changes": [asdict(c) for c in changes],
        "riskier": sum(1 for c in changes if c.verdict == RISKIER),
        "safer": sum(1 for c in changes if c.verdict == SAFER),
        "review": sum(1 for c in changes if c.verdict == REVIEW),
    }
