"""What-if: the same past traffic under the current and a proposed set of charters.

Why: a charter change should be reviewed like code, with its effect in front of
the reviewer — which alerts and revocations it would add or remove on real
traffic. Both sides run the one :class:`~monitor.core.Engine` over the same
events (never a re-implementation); their outputs are compared by *what they
say*, not by ids: an alert by ``(detector, agent, evidence event ids)``, a
revocation by ``(agent, scope, credentials, task, session)``. Alert and
command ids hash charter-dependent causes, so they would differ even when
nothing changed.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from monitor.core import Engine
from monitor.linereader import Oversize
from monitor.replay import replay_lines

AlertKey = tuple[str, str, tuple[str, ...]]
RevocationKey = tuple[str, str, tuple[str, ...], str, str]


def alert_key(a: dict[str, Any]) -> AlertKey:
    return (a["detector"], a["agent_id"], tuple(sorted(a.get("evidence") or ())))


def revocation_key(r: dict[str, Any]) -> RevocationKey:
    return (
        r["agent_id"],
        r["scope"],
        tuple(sorted(r.get("credential_ids") or ())),
        r.get("task_id") or "",
        r.get("session_id") or "",
    )


def run_engine(lines: Iterable[bytes | Oversize], engine: Engine) -> tuple[list[dict], list[dict]]:
    """Alerts and revocations of ``engine`` over ``lines`` (the replay runner, in memory)."""
    a, r, d = io.BytesIO(), io.BytesIO(), io.BytesIO()
    replay_lines(lines, engine, a, r, d)
    return _docs(a.getvalue()), _docs(r.getvalue())


def _docs(raw: bytes) -> list[dict]:
    return [orjson.loads(x) for x in raw.splitlines() if x.strip()]


def read_jsonl(path: Path) -> list[dict]:
    return _docs(path.read_bytes()) if path.exists() else []


@dataclass(slots=True)
class WhatIf:
    appeared_alerts: list[dict] = field(default_factory=list)
    disappeared_alerts: list[dict] = field(default_factory=list)
    unchanged_alerts: int = 0
    appeared_revocations: list[dict] = field(default_factory=list)
    disappeared_revocations: list[dict] = field(default_factory=list)
    unchanged_revocations: int = 0

    def summary(self) -> str:
        return (
            f"what-if: alerts +{len(self.appeared_alerts)} -{len(self.disappeared_alerts)} "
            f"(={self.unchanged_alerts}), revocations +{len(self.appeared_revocations)} "
            f"-{len(self.disappeared_revocations)} (={self.unchanged_revocations})"
        )

    def to_dict(self) -> dict[str, Any]:
        def by_detector(xs: list[dict]) -> dict[str, int]:
            return dict(sorted(Counter(x["detector"] for x in xs).items()))

        return {
            "summary": self.summary(),
            "alerts": {
                "appeared": len(self.appeared_alerts),
                "disappeared": len(self.disappeared_alerts),
                "unchanged": self.unchanged_alerts,
                "appeared_by_detector": by_detector(self.appeared_alerts),
                "disappeared_by_detector": by_detector(self.disappeared_alerts),
            },
            "revocations": {
                "appeared": len(self.appeared_revocations),
                "disappeared": len(self.disappeared_revocations),
                "unchanged": self.unchanged_revocations,
            },
            "appeared_alerts": [_alert_row(a) for a in self.appeared_alerts],
            "disappeared_alerts": [_alert_row(a) for a in self.disappeared_alerts],
            "appeared_revocations": [_rev_row(r) for r in self.appeared_revocations],
            "disappeared_revocations": [_rev_row(r) for r in self.disappeared_revocations],
        }

    def to_markdown(self, old: str, new: str, limit: int = 50) -> str:
        out = [
            "## What-if: proposed charters on past traffic",
            "",
            f"current charters `{old}` → proposed `{new}`; same events, same engine.",
            "",
            f"**{self.summary()}**",
            "",
        ]
        for title, rows in (
            ("Alerts that appear", self.appeared_alerts),
            ("Alerts that disappear", self.disappeared_alerts),
        ):
            out += [f"### {title} ({len(rows)})", ""]
            if rows:
                out += ["| detector | agent | severity | time | reason |", "|---|---|---|---|---|"]
                for a in rows[:limit]:
                    reason = str(a.get("reason", "")).replace("|", "\\|")[:160]
                    out.append(
                        f"| {a['detector']} | `{a['agent_id']}` | {a.get('severity')} | "
                        f"{a.get('ts')} | {reason} |"
                    )
                if len(rows) > limit:
                    out.append(f"| … | {len(rows) - limit} more in whatif.json | | | |")
            out.append("")
        for title, rows in (
            ("Revocations that appear", self.appeared_revocations),
            ("Revocations that disappear", self.disappeared_revocations),
        ):
            out += [f"### {title} ({len(rows)})", ""]
            out += [
                f"- `{r['agent_id']}` {r['scope']} ({r.get('mode')}): {r.get('reason', '')}"
                for r in rows[:limit]
            ]
            out.append("")
        return "\n".join(out)


def _alert_row(a: dict) -> dict[str, Any]:
    keep = ("detector", "agent_id", "severity", "ts", "reason", "evidence", "alert_id")
    return {k: a.get(k) for k in keep}


def _rev_row(r: dict) -> dict[str, Any]:
    keep = ("agent_id", "scope", "credential_ids", "task_id", "session_id", "mode", "reason")
    return {k: r.get(k) for k in keep}


def _beyond(xs: list[dict], key: Any, shared: Counter[Any]) -> list[dict]:
    """The items of ``xs`` left after ``shared[k]`` of each key ``k`` are taken out."""
    seen: Counter[Any] = Counter()
    out = []
    for x in xs:
        k = key(x)
        seen[k] += 1
        if seen[k] > shared[k]:
            out.append(x)
    return out


def _split(old: list[dict], new: list[dict], key: Any) -> tuple[list[dict], list[dict], int]:
    """(in new only, in old only, in both) — as multisets of keys."""
    both = Counter(key(x) for x in old) & Counter(key(x) for x in new)
    return _beyond(new, key, both), _beyond(old, key, both), sum(both.values())


def compare(
    old_alerts: list[dict], old_revs: list[dict], new_alerts: list[dict], new_revs: list[dict]
) -> WhatIf:
    w = WhatIf()
    w.appeared_alerts, w.disappeared_alerts, w.unchanged_alerts = _split(
        old_alerts, new_alerts, alert_key
    )
    w.appeared_revocations, w.disappeared_revocations, w.unchanged_revocations = _split(
        old_revs, new_revs, revocation_key
    )
    return w


def write_whatif(w: WhatIf, out_dir: str | Path, old: str, new: str) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "whatif.md", out / "whatif.json"
    md.write_text(w.to_markdown(old, new) + "\n", encoding="utf-8")
    js.write_bytes(orjson.dumps(w.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    return md, js
