"""charter suggest: valid YAML that check-charter accepts, evidence on every line, tight."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from monitor import testing as tb
from monitor.charter import load_charter_dir, load_charter_text
from monitor.charters_from_traffic.suggest import suggest
from monitor.charters_from_traffic.traffic import Observer
from monitor.cli import main
from monitor.core import Engine, EngineSettings
from monitor.core.policy import CharterSet
from monitor.events import encode_event
from monitor.replay import replay_file
from tests.charter_tools.support import write_sim

RULES = ("out_of_charter_tool", "forbidden_chain", "lingering_access", "absent_sponsor")


def one(obs: Observer, **kw: object) -> str:
    (s,) = suggest(obs, **kw)  # type: ignore[arg-type]
    return s.yaml()


def test_suggested_charters_pass_check_charter_and_every_line_has_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_sim(tmp_path / "sim")
    out = tmp_path / "suggested"
    argv = ["charter", "suggest", str(paths["events"]), "--out", str(out)]
    assert main([*argv, "--current", str(paths["charters"])]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["check-charter", str(out)]) == 0
    assert "ok:" in capsys.readouterr().out
    files = sorted(out.glob("*.yaml"))
    assert files
    for f in files:
        body = f.read_text().splitlines()[1:]  # line 1 is the header comment
        assert body
        for line in body:
            _, sep, why = line.partition("  # ")
            assert sep and why.strip(), f"{f.name}: no evidence on {line!r}"
    assert {c.agent for c in load_charter_dir(out)} >= {"coding-assistant-*"}


def test_granted_tools_have_counts_and_first_last_seen() -> None:
    obs = Observer()
    for i in range(3):
        obs.observe(tb.call(i * 10, "bot-1", "fs", "read_file", resources=[f"file:///r/{i}.py"]))
    y = one(obs)
    line = next(x for x in y.splitlines() if "read_file" in x)
    assert "classes: [read]}" in line
    assert "3 calls, first 2026-03-02 09:00, last 2026-03-02 09:00" in line
    assert '"file:///r/*"' in y
    assert 'agent: "bot-*"' in y  # the trailing number became a glob


def test_a_mapping_file_decides_classes_and_says_so(tmp_path: Path) -> None:
    from monitor.charters_from_traffic.classes import load_mapping

    f = tmp_path / "classes.yaml"
    f.write_text('classes:\n  "helpdesk/*": [read_untrusted]\n')
    obs = Observer(load_mapping(f))
    obs.observe(tb.call(0, "a", "helpdesk", "get_ticket"))
    s = suggest(obs)[0]
    assert s.charter().tools[0].classes == ["read_untrusted"]
    assert "classes from the mapping (helpdesk/*)" in s.yaml()


def test_a_tool_the_gateway_always_denied_is_not_granted() -> None:
    obs = Observer()
    obs.observe(tb.call(0, "a", "fs", "read_file"))
    obs.observe(tb.call(5, "a", "admin", "export_customers", outcome="denied"))
    s = suggest(obs)[0]
    assert [(g.server, g.tool) for g in s.charter().tools] == [("fs", "read_file")]
    assert "# not granted: admin/export_customers" in s.yaml()
    assert "all 1 calls denied by the gateway" in s.yaml()


def _secret_then_post(obs: Observer, agent: str, between: int, start: float = 0) -> None:
    obs.observe(tb.call(start, agent, "fs", "read_file", resources=["file:///app/.env"]))
    for i in range(between):
        obs.observe(tb.call(start + 1 + i, agent, "fs", "list_dir"))
    obs.observe(tb.call(start + 2 + between, agent, "web", "http_post"))


def test_exfiltration_is_forbidden_when_never_taken_and_tightened_when_taken_further_apart() -> (
    None
):
    never = Observer()
    _secret_then_post(never, "a", between=20)  # 22 calls apart: outside 10 calls
    chain = suggest(never)[0].charter().forbidden_chains[0]
    assert (chain.name, chain.sequence, chain.within_calls) == (
        "exfiltration",
        ["read_secret", "egress"],
        10,
    )
    close = Observer()
    _secret_then_post(close, "a", between=4)  # taken 6 calls apart: forbid only closer
    chain = suggest(close)[0].charter().forbidden_chains[0]
    assert chain.within_calls == 5
    adjacent = Observer()
    _secret_then_post(adjacent, "a", between=0)  # consecutive calls: cannot forbid
    s = suggest(adjacent)[0]
    assert s.charter().forbidden_chains == []
    assert "# not forbidden: exfiltration" in s.yaml()


def test_limits_from_rates_and_credentials() -> None:
    obs = Observer()
    obs.observe(tb.task_started(0, "a", "T1", sponsor="ann"))
    obs.observe(tb.issued(0, "a", "c1", ttl=900, task_id="T1"))
    for i in range(6):  # 6 calls in one minute, then 1
        obs.observe(tb.call(i, "a", "fs", "read_file", agent_kind="delegated", sponsor="ann"))
    obs.observe(tb.call(300, "a", "fs", "read_file", agent_kind="delegated", sponsor="ann"))
    obs.observe(tb.task_ended(310, "a", "T1"))
    s = suggest(obs)[0]
    limits = s.charter().limits
    assert limits.max_calls_per_minute == 15  # 2 × busiest minute, rounded up to 5
    assert limits.credential_max_ttl == 1200  # covers what the issuer gives, +25 % in 5 min
    assert "tasks p95 310 s over 1 tasks → an issuer TTL of 480 s would do" in s.yaml()
    assert limits.sponsor_quiet_seconds == 480  # 300 s of silence at a call, + 50 %
    assert limits.hours is None  # one day of traffic teaches no working hours
    assert "# hours: not set" in s.yaml()


def test_current_charter_groups_agents_and_keeps_what_traffic_cannot_teach() -> None:
    current = CharterSet(
        [
            tb.charter(
                "agent-*", kind="delegated", mission="help", limits={"hours": "08:00-18:00"}
            ),
            tb.charter("agent-7", mission="the night shift", limits={"hours": "20:00-06:00"}),
        ]
    )
    obs = Observer()
    for agent in ("agent-1", "agent-2", "agent-7"):
        obs.observe(tb.call(0, agent, "fs", "read_file", agent_kind="delegated"))
    got = {s.pattern: s.charter() for s in suggest(obs, current)}
    assert set(got) == {"agent-*", "agent-7"}
    assert got["agent-*"].limits.hours == "08:00-18:00"
    assert got["agent-7"].limits.hours == "20:00-06:00"
    assert got["agent-7"].mission == "the night shift"
    per_agent = suggest(obs, current, per_agent=True)
    assert [s.pattern for s in per_agent] == ["agent-1", "agent-2", "agent-7"]


def test_replaying_the_learned_traffic_raises_no_charter_alert(tmp_path: Path) -> None:
    paths = write_sim(tmp_path / "sim", attacks=False)
    out = tmp_path / "suggested"
    assert main(["charter", "suggest", str(paths["events"]), "--out", str(out)]) == 0
    engine = Engine(load_charter_dir(out), EngineSettings(detectors=RULES))
    summary = replay_file(str(paths["events"]), engine, tmp_path / "replay")
    assert summary.alerts.get("out_of_charter_tool", 0) == 0, summary.alerts
    assert summary.alerts.get("forbidden_chain", 0) == 0, summary.alerts


def test_suggest_refuses_to_overwrite_charters_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "e.jsonl"
    events.write_bytes(encode_event(tb.call(0, "a", "fs", "read_file")) + b"\n")
    out = tmp_path / "charters"
    out.mkdir()
    (out / "mine.yaml").write_text("agent: a\nkind: autonomous\n")
    assert main(["charter", "suggest", str(events), "--out", str(out)]) == 1
    assert "holds charters suggest did not write (mine.yaml" in capsys.readouterr().err
    assert main(["charter", "suggest", str(events), "--out", str(tmp_path / "s"), "--json"]) == 0
    sizes = orjson.loads(capsys.readouterr().out)
    assert sizes[0]["grants"] == 1 and sizes[0]["charter"] == "a"
    # a second run replaces its own earlier output
    assert main(["charter", "suggest", str(events), "--out", str(tmp_path / "s")]) == 0


def test_no_input_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["charter", "suggest", "--out", str(tmp_path)]) == 1
    assert "no input: give EVENTS.jsonl (or -) or --topic TOPIC" in capsys.readouterr().err


def test_ttl_cap_leaves_headroom_so_tomorrows_slightly_longer_ttl_is_not_an_alert() -> None:
    obs = Observer()
    for i, ttl in enumerate((600, 840, 900)):
        obs.observe(tb.issued(i * 60, "bot-1", f"c{i}", ttl))
        obs.observe(tb.call(i * 60 + 1, "bot-1", "fs", "read_file", credential_id=f"c{i}"))
    y = one(obs)
    assert "credential_max_ttl: 1200" in y and "+25% headroom" in y
    engine = Engine(load_charter_text(y, "suggested.yaml"))
    d = tb.feed(engine, tb.issued(1000, "bot-1", "c9", 1000))  # longer than seen, within cap
    assert [a.detector for a in d.alerts] == []
    d = tb.feed(engine, tb.issued(2000, "bot-1", "c10", 1300))
    assert [a.detector for a in d.alerts] == ["lingering_access"]


def test_exclude_alerted_keeps_an_attacks_session_out_of_the_grants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [
        tb.call(i * 30, "bot-1", "fs", "read_file", session_id=f"s{i % 3}") for i in range(12)
    ]
    events += [  # an attack in session s9: prepared by a read, then a tool never used otherwise
        tb.call(400, "bot-1", "fs", "list_dir", session_id="s9", event_id="prep"),
        tb.call(401, "bot-1", "web", "http_post", session_id="s9", event_id="exfil"),
    ]
    src = tmp_path / "events.jsonl"
    src.write_bytes(b"".join(encode_event(e) + b"\n" for e in events))
    alerts = tmp_path / "alerts.jsonl"
    alert = {"alert_id": "a1", "agent_id": "bot-1", "evidence": ["exfil"], "session_id": "s9"}
    alerts.write_bytes(orjson.dumps(alert) + b"\n")
    plain, clean = tmp_path / "plain", tmp_path / "clean"
    assert main(["charter", "suggest", str(src), "--out", str(plain)]) == 0
    argv = ["charter", "suggest", str(src), "--out", str(clean), "--exclude-alerted", str(alerts)]
    assert main(argv) == 0
    assert "left out 2 calls" in capsys.readouterr().err
    granted = {(t.server, t.tool) for c in load_charter_dir(plain) for t in c.tools}
    assert ("web", "http_post") in granted and ("fs", "list_dir") in granted
    granted = {(t.server, t.tool) for c in load_charter_dir(clean) for t in c.tools}
    assert granted == {("fs", "read_file")}
    alerts.write_text("not json\n")
    assert main([*argv[:-1], str(alerts)]) == 1


def test_breadth_before_and_after_and_hygiene_limits_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any tenant and domain (before: 1 + 10 + 10) narrows to what was seen (after: 1 + 1 + 1)."""
    from monitor.charters_from_traffic.suggest import render_summary

    limits = {"require_jit_credentials": True, "max_tenants_per_hour": 2, "max_domains_per_hour": 3}
    current = CharterSet(
        [tb.charter("etl-*", tools=[{"server": "db", "tool": "*"}], limits=limits)]
    )
    obs = Observer()
    for i, agent in enumerate(("etl-1", "etl-2")):
        obs.observe(
            tb.call(
                i, agent, "db", "query", agent_kind="autonomous", tenant="acme", data_domain="hr"
            )
        )
    (s,) = suggest(obs, current)
    assert (s.breadth_before, s.breadth_after) == (21, 3)
    assert s.size()["breadth_before"] == 21 and s.size()["breadth_after"] == 3
    assert "| 21 → 3 |" in render_summary([s])
    got = s.charter().limits
    assert got.require_jit_credentials is True
    assert (got.max_tenants_per_hour, got.max_domains_per_hour) == (2, 3)
    # without a current charter there is no "before"; a suggestion that stays broad says so
    obs2 = Observer()
    obs2.observe(tb.call(0, "bot-1", "db", "query", agent_kind="autonomous"))
    (s2,) = suggest(obs2)
    assert s2.breadth_before is None
    assert "— → 21 (too broad for static scoping)" in render_summary([s2])
