"""charter diff: each change named and marked riskier / safer / review; exit 1 if riskier."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from monitor import testing as tb
from monitor.charters_from_traffic.diff import REVIEW, RISKIER, SAFER, diff_charters
from monitor.cli import main
from monitor.simulate import write_charters

BASE = {
    "tools": [{"server": "fs", "tool": "read_file", "classes": ["read"]}],
    "resources": ["mailto:*"],
    "tenants": ["corp"],
    "forbidden_chains": [
        {"name": "exfil", "sequence": ["read_secret", "egress"], "within_calls": 10}
    ],
    "limits": {"max_calls_per_minute": 40, "hours": "06:00-22:00"},
}


def changes(**new: object) -> dict[str, str]:
    old = tb.charter("a", **BASE)
    c = tb.charter("a", **{**BASE, **new})
    return {ch.text: ch.verdict for ch in diff_charters([old], [c])}


def test_grants_and_limits_marked_by_direction() -> None:
    grants = [*BASE["tools"], {"server": "shell", "tool": "exec", "classes": ["exec"]}]  # type: ignore[list-item]
    assert changes(tools=grants) == {"tools: granted shell/exec [exec]": RISKIER}
    assert changes(tools=[]) == {"tools: removed fs/read_file [read]": SAFER}
    assert changes(limits={"max_calls_per_minute": 60, "hours": "06:00-22:00"}) == {
        "limits.max_calls_per_minute: 40 → 60": RISKIER
    }
    assert changes(limits={"hours": "06:00-22:00"}) == {
        "limits.max_calls_per_minute: 40 → no limit": RISKIER
    }
    assert changes(limits={"max_calls_per_minute": 40, "hours": "08:00-18:00"}) == {
        "limits.hours: 06:00-22:00 → 08:00-18:00": SAFER
    }
    assert changes(tenants=None) == {"tenants: ['corp'] → any (unrestricted)": RISKIER}
    assert changes(forbidden_chains=[]) == {
        "forbidden_chains: removed exfil read_secret → egress": RISKIER
    }
    assert changes(mode="observe") == {"mode: enforce → observe": RISKIER}


def test_a_resource_inside_an_old_glob_is_review_not_riskier() -> None:
    got = changes(resources=["mailto:*@corp.com"])
    assert got == {
        "resources: added mailto:*@corp.com (within mailto:*)": REVIEW,
        "resources: removed mailto:*": SAFER,
    }
    wider = changes(resources=["mailto:*", "https://**"])
    assert wider == {"resources: added https://**": RISKIER}


def test_cli_exit_status_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new, same = tmp_path / "old", tmp_path / "new", tmp_path / "same"
    write_charters([tb.charter("a", **BASE)], old)
    write_charters([tb.charter("a", **BASE)], same)
    write_charters([tb.charter("a", **{**BASE, "tenants": ["corp", "initech"]})], new)
    assert main(["charter", "diff", str(old), str(same)]) == 0
    assert "no semantic changes" in capsys.readouterr().out
    assert main(["charter", "diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "charter a" in out and "+ tenants: added initech" in out and "RISKIER" in out
    assert main(["charter", "diff", str(new), str(old), "--json"]) == 0  # narrowing only
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["riskier"] == 0 and doc["safer"] == 1
    assert doc["changes"][0]["text"] == "tenants: removed initech"


def test_added_and_removed_charters() -> None:
    a, b = tb.charter("a"), tb.charter("b")
    got = {(c.charter, c.verdict) for c in diff_charters([a], [b])}
    assert got == {("a", SAFER), ("b", RISKIER)}


def test_an_error_exits_2_never_1_so_ci_cannot_read_it_as_riskier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("agent: a\nkind: autonomous\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent: a\nkind: autonomous\nlimits: {max_call: 3}\n")
    assert main(["charter", "diff", str(good), str(bad)]) == 2
    assert "limits.max_call" in capsys.readouterr().err
    assert main(["charter", "diff", str(good), str(tmp_path / "missing")]) == 2
    assert main(["charter", "diff", str(good), str(good)]) == 0


def test_hygiene_limits_marked_by_direction() -> None:
    """Turning off JIT credentials or lifting a footprint bound is riskier (charter_widened)."""

    def ch(kind: str = "delegated", **limits: object) -> object:
        return tb.charter("a", kind=kind, limits=limits)

    def verdicts(old: object, new: object) -> dict[str, str]:
        return {c.text: c.verdict for c in diff_charters([old], [new])}  # type: ignore[list-item]

    assert verdicts(ch(), ch(require_jit_credentials=False)) == {
        "limits.require_jit_credentials: True → False": RISKIER
    }
    assert verdicts(ch(require_jit_credentials=False), ch()) == {
        "limits.require_jit_credentials: False → True": SAFER
    }
    # absent on an autonomous charter is false: setting it false changes nothing
    assert verdicts(ch("autonomous"), ch("autonomous", require_jit_credentials=False)) == {}
    assert verdicts(ch(max_tenants_per_hour=2), ch(max_tenants_per_hour=5)) == {
        "limits.max_tenants_per_hour: 2 → 5": RISKIER
    }
    assert verdicts(ch(max_domains_per_hour=2), ch()) == {
        "limits.max_domains_per_hour: 2 → no limit": RISKIER
    }
    assert verdicts(ch(), ch(max_domains_per_hour=3)) == {
        "limits.max_domains_per_hour: no limit → 3": SAFER
    }
