"""mcpmon map: the summary, DOT/PNG and a self-contained HTML page."""

from __future__ import annotations

import io
import re
from pathlib import Path

import orjson
import pytest

from monitor import testing as tb
from monitor.charters_from_traffic.map import build_map, to_dot
from monitor.charters_from_traffic.traffic import Observer, Progress, observe_lines
from monitor.cli import main
from monitor.events import encode_event
from tests.charter_tools.support import write_sim


def _exfil_agent() -> Observer:
    obs = Observer()
    obs.observe(tb.call(0, "bot-1", "fs", "read_file", resources=["file:///app/.env"]))
    obs.observe(tb.call(5, "bot-1", "fs", "read_file", resources=["file:///app/main.py"]))
    obs.observe(tb.call(9, "bot-1", "web", "http_post", resources=["https://paste.rs/x"]))
    obs.observe(tb.call(12, "bot-1", "ci", "run_tests", data_domain="code", tenant="corp"))
    return obs


def test_summary_has_transitions_domains_and_escalation_points() -> None:
    (a,) = build_map(_exfil_agent())["agents"]
    assert [(t["from"], t["to"], t["count"]) for t in a["transitions"]][:1] == [
        ("fs/read_file", "fs/read_file", 1)
    ]
    assert {(t["from"], t["to"]) for t in a["transitions"]} == {
        ("fs/read_file", "fs/read_file"),
        ("fs/read_file", "web/http_post"),
        ("web/http_post", "ci/run_tests"),
    }
    assert a["data_domains"] == {"code": 1} and a["tenants"] == {"corp": 1}
    assert {(p["tool"], tuple(p["classes"])) for p in a["escalation_points"]} == {
        ("web/http_post", ("egress",)),
        ("ci/run_tests", ("exec",)),
    }
    read = next(t for t in a["tools"] if t["tool"] == "fs/read_file")
    assert read["secret_resource_calls"] == 1 and "read_secret" in read["classes"]
    s2e = a["secret_to_egress"]
    assert s2e["within_window"] == 1 and s2e["closest_calls"] == 3
    assert {f["pattern"] for f in a["resource_families"]} == {
        "file:///app/*",
        "https://paste.rs/x",
    }


def test_dot_has_one_cluster_per_agent_and_weighted_edges() -> None:
    dot = to_dot(build_map(_exfil_agent()))
    assert dot.startswith("digraph mcp_map {") and dot.count("subgraph cluster_") == 1
    assert '"0:fs/read_file" -> "0:web/http_post" [label="1"' in dot
    assert '"0:web/http_post" [label="web/http_post\\n1 calls", fillcolor="#d62728"' in dot


def test_cli_writes_every_output_and_the_page_needs_no_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_sim(tmp_path / "sim")
    out = tmp_path / "map"
    assert main(["map", str(paths["events"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mapped" in printed and f"wrote {out}/map.html" in printed
    doc = orjson.loads((out / "map.json").read_bytes())
    assert doc["calls"] > 1000 and len(doc["agents"]) >= 10
    assert (out / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # Graphviz is installed
    page = (out / "map.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # nothing fetched
    assert "</script" not in page.split('id="data"', 1)[1].split("</script>", 1)[0]


def test_progress_on_a_terminal(tmp_path: Path) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    lines = [encode_event(tb.call(i, "a", "fs", "read_file")) for i in range(3000)]
    obs = observe_lines(lines, Observer(), stream, size=sum(map(len, lines)))
    assert obs.total_calls() == 3000
    assert "reading" in stream.getvalue() and "lines" in stream.getvalue()
    quiet = io.StringIO()  # not a terminal: nothing
    Progress(quiet).tick(10, 10)
    assert quiet.getvalue() == ""


def test_bad_lines_are_counted_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "e.jsonl"
    f.write_bytes(encode_event(tb.call(0, "a", "fs", "read_file")) + b"\nnot json\n")
    assert main(["map", str(f), "--out", str(tmp_path / "m")]) == 0
    assert "skipped 1 undecodable lines" in capsys.readouterr().err
    assert main(["map", str(f), "--from", "3", "--out", str(tmp_path / "m")]) == 1
    assert "--from/--to select a Kafka range" in capsys.readouterr().err
