"""Breadth score of a charter (monitor.core.breadth) and where it is shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.charter import Charter
from monitor.cli import main
from monitor.core.breadth import TOO_BROAD_AT, WIDE, breadth

ROOT = Path(__file__).resolve().parents[2]


def ch(kind: str = "autonomous", servers: tuple[str, ...] = ("s",), **kw: Any) -> Charter:
    tools = [{"server": s, "tool": "*"} for s in servers]
    return Charter.model_validate({"agent": "agent:x/*", "kind": kind, "tools": tools, **kw})


def test_score_is_servers_plus_tenants_plus_domains() -> None:
    b = breadth(ch(servers=("a", "b", "a"), tenants=["t1", "t2"], data_domains=["hr"]))
    assert b.score == 2 + 2 + 1
    assert not b.too_broad and b.drivers == ()


def test_any_tenant_is_wide_and_makes_an_autonomous_charter_too_broad() -> None:
    b = breadth(ch(data_domains=["hr"]))
    assert b.score == 1 + WIDE + 1 and b.too_broad
    assert b.drivers[0].axis == "tenants" and b.drivers[0].grants == ("any",)
    assert "too broad for static scoping" in b.warning() and "tenants any (+10)" in b.warning()


@pytest.mark.parametrize("glob", ["*", "prod-*"])
def test_glob_servers_and_tenants_are_wide(glob: str) -> None:
    assert breadth(ch(servers=(glob,), tenants=["t"], data_domains=["d"])).score == WIDE + 2
    assert breadth(ch(tenants=[glob], data_domains=["d"])).score == 1 + WIDE + 1


def test_near_miss_just_under_the_threshold() -> None:
    servers = tuple(f"s{i}" for i in range(TOO_BROAD_AT - 3))
    b = breadth(ch(servers=servers, tenants=["t"], data_domains=["d"]))
    assert b.score == TOO_BROAD_AT - 1 and not b.too_broad and b.warning() == ""
    b = breadth(ch(servers=(*servers, "one-more"), tenants=["t"], data_domains=["d"]))
    assert b.score == TOO_BROAD_AT and b.too_broad
    assert b.drivers[0].axis == "servers" and "one-more" in b.drivers[0].grants


def test_delegated_charters_are_scored_but_never_flagged() -> None:
    b = breadth(ch(kind="delegated", servers=("*",)))
    assert b.score == 3 * WIDE and not b.too_broad


def test_check_charter_warns_about_a_broad_autonomous_charter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "wide.yaml").write_text(
        "agent: spiffe://corp/agents/etl-*\nkind: autonomous\n"
        "tools:\n  - {server: db, tool: query}\n  - {server: s3, tool: get}\n"
        "tenants: [a, b]\n"
    )
    assert main(["check-charter", str(tmp_path), str(ROOT / "examples/charters")]) == 0
    out = capsys.readouterr().out
    assert "breadth 14 (servers 2, tenants 2, data_domains any)" in out
    [warn] = [line for line in out.splitlines() if line.startswith("warning:")]
    assert "spiffe://corp/agents/etl-*: too broad for static scoping (breadth 14" in warn
    assert "data_domains any (+10)" in warn and "servers db, s3 (+2)" in warn
    assert "patcher-*" in out and "breadth 5" in out  # the example stays narrow, unflagged


def test_report_privileges_shows_breadth(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    args = ["report", "privileges", str(ROOT / "examples/events.jsonl")]
    rc = main([*args, "--charters", str(ROOT / "examples/charters"), "--json", "--out", str(out)])
    assert rc == 0
    rep = orjson.loads(out.read_bytes())
    by = {c["charter"]: c["breadth"] for c in rep["charters"]}
    assert by["spiffe://corp/agents/patcher-*"]["score"] == 5
    assert by["spiffe://corp/agents/patcher-*"]["too_broad"] is False
    md = tmp_path / "r.md"
    main([*args, "--charters", str(ROOT / "examples/charters"), "--out", str(md)])
    assert "breadth 5: servers fleet, vault, web (+3), tenants corp (+1)" in md.read_text()


def test_report_privileges_flags_the_broad_one(tmp_path: Path) -> None:
    charters = tmp_path / "charters"
    charters.mkdir()
    text = (ROOT / "examples/charters/patcher.yaml").read_text()
    (charters / "p.yaml").write_text(text.replace("tenants: [corp]\n", ""))
    md = tmp_path / "r.md"
    events = str(ROOT / "examples/events.jsonl")
    main(["report", "privileges", events, "--charters", str(charters), "--out", str(md)])
    assert "**too broad for static scoping**: breadth 14" in md.read_text()
    assert "driven by tenants, servers, data_domains" in md.read_text()


# ---------------------------------------------------------------- what is printed, exactly


def test_the_warning_names_each_driver_widest_first_and_cuts_long_lists() -> None:
    b = breadth(
        ch(servers=tuple(f"s{i}" for i in range(8)), tenants=[], data_domains=["d", "c", "d"])
    )
    assert (b.score, b.too_broad) == (10, True)
    assert [a.axis for a in b.drivers] == ["servers", "data_domains"]  # tenants gives 0: no driver
    assert b.warning() == (
        "agent:x/*: too broad for static scoping (breadth 10, flagged from 10, autonomous): "
        "driven by servers s0, s1, s2, s3, s4, s5 … (+2) (+8); data_domains c, d (+2) "
        "— narrow the grants, or run it delegated with per-task credentials"
    )
    assert b.summary() == "breadth 10 (servers 8, tenants 0, data_domains 2)"


def test_six_grants_are_shown_whole() -> None:
    b = breadth(ch(servers=tuple(f"s{i}" for i in range(6)), data_domains=["d"]))
    assert b.drivers[1].text() == "servers s0, s1, s2, s3, s4, s5 (+6)"


def test_to_dict_carries_every_axis_and_the_drivers() -> None:
    b = breadth(ch(servers=("b", "a"), tenants=["t"]))
    assert b.to_dict() == {
        "charter": "agent:x/*",
        "kind": "autonomous",
        "score": 13,
        "too_broad": True,
        "axes": {
            "servers": {"points": 2, "grants": ["a", "b"]},
            "tenants": {"points": 1, "grants": ["t"]},
            "data_domains": {"points": WIDE, "grants": ["any"]},
        },
        "drivers": ["data_domains", "servers", "tenants"],
    }
    assert b.summary() == "breadth 13 (servers 2, tenants 1, data_domains any)"


@pytest.mark.parametrize("glob", ["t?", "[ab]", "x*"])
def test_every_glob_character_makes_an_axis_wide(glob: str) -> None:
    assert breadth(ch(tenants=[glob], data_domains=["d"])).score == 1 + WIDE + 1


def test_seven_grants_show_six_and_count_one_more() -> None:
    b = breadth(ch(servers=tuple(f"s{i}" for i in range(7)), data_domains=["d"]))
    assert b.drivers[1].text() == "servers s0, s1, s2, s3, s4, s5 … (+1) (+7)"
