"""The tau-bench converter on a committed sample of real trajectories (tests/corpora/fixtures/tau)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from monitor.charter import parse_charter
from monitor.core.values import value_digests
from monitor.corpora import tau
from monitor.corpora.base import split_of
from monitor.events import ToolCall, decode_event
from tests.corpora.support import corpus_bytes

SAMPLE = Path(__file__).parent / "fixtures" / "tau"
TRAJS = json.loads((SAMPLE / "historical_trajectories" / "gpt-4o-airline.json").read_text())


@pytest.fixture(scope="module")
def corpus() -> tau.Corpus:
    return tau.convert(SAMPLE)


def _source_calls(traj: dict) -> list[tuple[str, dict, str]]:
    results = {m["tool_call_id"]: m["content"] for m in traj["traj"] if m.get("role") == "tool"}
    return [
        (tc["function"]["name"], json.loads(tc["function"]["arguments"]), results[tc["id"]])
        for m in traj["traj"]
        if m.get("role") == "assistant"
        for tc in m.get("tool_calls") or []
    ]


def test_every_event_decodes_with_its_result_digests(corpus: tau.Corpus) -> None:
    assert corpus.events
    for e in corpus.events:
        ev = decode_event(orjson.dumps(e))
        assert isinstance(ev, ToolCall)
        assert ev.result_digests == e.get("result_digests")  # absent: None, never []
    charter = parse_charter(corpus.charters[0])
    granted = {(g.server, g.tool) for g in charter.tools}
    assert {(e["server"], e["tool"]) for e in corpus.events} <= granted


def test_calls_args_outcomes_and_digests_follow_the_trajectory(corpus: tau.Corpus) -> None:
    errors = 0
    for t in TRAJS:
        sid = f"tau/gpt-4o/airline/task-{t['task_id']:04d}/trial-{t['trial']}"
        got = [e for e in corpus.events if e["session_id"] == sid]
        want = _source_calls(t)
        assert [(e["tool"], e["args"]) for e in got] == [(n, a) for n, a, _ in want]
        for e, (_, _, result) in zip(got, want, strict=True):
            assert e["outcome"] == ("error" if result.startswith("Error") else "ok")
            errors += e["outcome"] == "error"
            try:
                parsed = json.loads(result)
            except ValueError:
                parsed = result
            assert e.get("result_digests", []) == value_digests(parsed)
    assert errors  # the sample holds a failed call
    # provenance is there to be measured: a later call's argument came from an earlier result
    from_reads = 0
    for s in corpus.sessions:
        seen: set[str] = set()
        for e in (e for e in corpus.events if e["session_id"] == s.session_id):
            from_reads += bool(seen & set(value_digests(e["args"])))
            seen.update(e.get("result_digests", []))
    assert from_reads


def test_labels_split_and_warmup(corpus: tau.Corpus) -> None:
    assert len(corpus.sessions) == len(TRAJS)
    assert {s.kind for s in corpus.sessions} == {"warmup", "benign"}  # the sample holds both
    for s in corpus.sessions:
        assert s.attack_class is None and s.attack_events == ()
        assert s.split == split_of(s.case)
        assert (s.kind == "warmup") is tau.is_warmup(s.case)
    # every trial of one task is in one part, and warm-up or not together
    by_case: dict[str, set[tuple[str, str]]] = {}
    for s in corpus.sessions:
        by_case.setdefault(s.case, set()).add((s.split, s.kind))
    assert all(len(v) == 1 for v in by_case.values())
    assert split_of("tau|airline|0") == "tuning"
    assert tau.is_warmup("tau|airline|7") and not tau.is_warmup("tau|airline|0")


def test_charter_grants_the_domain_toolkit_from_the_source_tree(tmp_path: Path) -> None:
    tools = tmp_path / "tau_bench" / "envs" / "airline" / "tools"
    tools.mkdir(parents=True)
    for name in ("__init__", "get_user_details", "send_certificate"):
        (tools / f"{name}.py").write_text("")
    (tmp_path / "historical_trajectories").mkdir()
    (tmp_path / "historical_trajectories" / "gpt-4o-airline.json").write_text(json.dumps(TRAJS[:1]))
    c = tau.convert(tmp_path)
    grants = {g["tool"]: g["classes"] for g in c.charters[0]["tools"]}
    assert grants["send_certificate"] == ["write"]  # never called in the trajectory, still granted
    assert grants["get_user_details"] == ["read"]
    assert "__init__" not in grants
    assert c.charters[0]["baseline"]["warmup_events"] == sum(
        1 for e in c.events if tau.is_warmup(f"tau|airline|{TRAJS[0]['task_id']}")
    )


def test_output_is_deterministic() -> None:
    a, b = tau.convert(SAMPLE), tau.convert(SAMPLE)
    assert corpus_bytes(a) == corpus_bytes(b)
    assert [e["ts"] for e in a.events] == sorted(e["ts"] for e in a.events)
