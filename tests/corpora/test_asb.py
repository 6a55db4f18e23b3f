"""The ASB converter on a committed sample of real run-log rows (tests/corpora/fixtures/asb)."""

from __future__ import annotations

import ast
import csv
from collections import Counter
from pathlib import Path

import orjson
import pytest

from monitor.charter import parse_charter
from monitor.corpora import asb
from monitor.corpora.base import split_of
from monitor.events import ToolCall, decode_event
from tests.corpora.support import corpus_bytes

SAMPLE = Path(__file__).parent / "fixtures" / "asb"
MODEL = "gpt-4o-2024-08-06"
#: where each setting's sample rows with a conversation are (this model's OPI log has none)
MODEL_OF = {
    "clean": MODEL,
    "observation_prompt_injection": "gpt-4o-mini",
    "memory_attack": MODEL,
    "direct_prompt_injection": MODEL,
}
ATTACKS = ("observation_prompt_injection", "memory_attack", "direct_prompt_injection")


def _rows(setting: str, model: str | None = None) -> list[dict[str, str]]:
    model = model or MODEL_OF[setting]
    path = SAMPLE / "logs" / setting / model / asb.DEFENCE[setting] / "combined_attack-all_.csv"
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def corpus() -> asb.Corpus:
    return asb.convert(SAMPLE)


def test_every_event_decodes_and_every_charter_loads(corpus: asb.Corpus) -> None:
    assert corpus.events
    for e in corpus.events:
        ev = decode_event(orjson.dumps(e))
        assert isinstance(ev, ToolCall)
        assert ev.agent_id == e["agent_id"] and ev.session_id == e["session_id"]
    charters = [parse_charter(c) for c in corpus.charters]
    granted = {(c.agent, g.server, g.tool) for c in charters for g in c.tools}
    for e in corpus.events:  # the whole toolkit is granted: charters cannot see these hijacks
        assert (e["agent_id"], e["server"], e["tool"]) in granted


def test_label_counts_follow_the_rows(corpus: asb.Corpus) -> None:
    n_clean = len(_rows("clean"))
    n_attack = {s: len(_rows(s)) for s in ATTACKS}
    kinds = Counter(s.kind for s in corpus.sessions)
    assert kinds["warmup"] + kinds["benign"] == n_clean
    assert kinds["attack"] == sum(n_attack.values())
    by_class = Counter(s.attack_class for s in corpus.sessions if s.kind == "attack")
    assert by_class == Counter(n_attack)
    # agent = (type, model): medical advisor and financial analyst on one model,
    # the medical advisor on a second one
    assert {s.agent_id for s in corpus.sessions} == {
        asb.agent_id("medical_advisor_agent", MODEL),
        asb.agent_id("financial_analyst_agent", MODEL),
        asb.agent_id("medical_advisor_agent", "gpt-4o-mini"),
    }
    assert asb.agent_id("x_agent", "gemma2:9b") == "spiffe://asb.corpus/agents/x_agent/gemma2-9b"


def test_a_log_without_conversation_is_reported_not_guessed() -> None:
    runs, report = asb.read_runs(SAMPLE)
    assert report["no_messages"] == [
        f"logs/observation_prompt_injection/{MODEL}/no_memory/combined_attack-all_.csv"
    ]
    assert not [r for r in runs if r.model == MODEL and r.setting == "observation_prompt_injection"]


def test_attack_events_are_the_attacker_tool_calls_and_success_is_the_sources(
    corpus: asb.Corpus,
) -> None:
    by_id = {e["event_id"]: e for e in corpus.events}
    rows = {s: _rows(s) for s in ATTACKS}
    seen_success = Counter()
    for s in corpus.sessions:
        if s.kind != "attack":
            assert s.attack_events == () and s.succeeded is None
            continue
        row = rows[s.attack_class][int(s.source.rsplit("#", 1)[1])]
        assert s.succeeded is (row["Attack Successful"] == "1")
        seen_success[s.succeeded] += 1
        session_calls = [e for e in corpus.events if e["session_id"] == s.session_id]
        expected = [e["event_id"] for e in session_calls if e["tool"] == row["Attack Tool"]]
        assert list(s.attack_events) == expected
        assert all(by_id[i]["tool"] == row["Attack Tool"] for i in s.attack_events)
        if s.succeeded:  # in these rows a successful attack is a call to the attacker tool
            assert s.attack_events
    assert seen_success[True] and seen_success[False]  # the sample holds both


def test_calls_keep_the_logged_order() -> None:
    row = next(r for r in _rows("memory_attack") if r["Attack Successful"] == "1")
    msgs = ast.literal_eval(row["messages"])
    calls = asb.parse_calls(msgs)
    # the conversation's own [Action] lines, in order
    logged = [
        part.split(" with the params", 1)[0]
        for m in msgs
        if m.get("role") == "assistant" and "[Action]" in str(m.get("content"))
        for part in str(m["content"]).split("[Observation]")[0].split("I will call the ")[1:]
    ]
    assert [t for t, _ in calls] == logged
    assert row["Attack Tool"] in logged


def test_split_is_by_case_and_stable(corpus: asb.Corpus) -> None:
    parts: dict[str, set[str]] = {}
    for s in corpus.sessions:
        assert s.split == split_of(s.case)
        parts.setdefault(s.case, set()).add(s.split)
    assert all(len(p) == 1 for p in parts.values())
    # a clean run and the attacked runs with the same attacker tool share a case
    shared = [c for c in parts if sum(1 for s in corpus.sessions if s.case == c) > 1]
    assert shared
    # pinned: a change to the hash or the case key would silently reshuffle the held-out part
    assert split_of("asb|medical_advisor_agent|InsuranceClaimsTool") == "tuning"
    assert split_of("asb|medical_advisor_agent|PatientDataTheft") == "held_out"
    assert split_of("asb|medical_advisor_agent|Procedure") == "held_out"


def test_output_is_deterministic() -> None:
    a, b = asb.convert(SAMPLE), asb.convert(SAMPLE)
    assert corpus_bytes(a) == corpus_bytes(b)
    ts = [e["ts"] for e in a.events]
    assert ts == sorted(ts)
    assert len({e["event_id"] for e in a.events}) == len(a.events)


def test_warmup_precedes_scored_sessions(corpus: asb.Corpus) -> None:
    first: dict[str, str] = {}
    for e in corpus.events:
        first.setdefault(e["session_id"], e["ts"])
    for agent in {s.agent_id for s in corpus.sessions}:
        warm = [
            first[s.session_id]
            for s in corpus.sessions
            if s.agent_id == agent and s.kind == "warmup" and s.session_id in first
        ]
        scored = [
            first[s.session_id]
            for s in corpus.sessions
            if s.agent_id == agent and s.kind != "warmup" and s.session_id in first
        ]
        if warm and scored:
            assert max(warm) < min(scored)


def test_unreadable_rows_are_counted_not_fatal() -> None:
    good = (
        SAMPLE / "logs/clean" / MODEL / "dynamic_prompt_rewriting/combined_attack-all_.csv"
    ).read_text()
    header, _, rest = good.partition("\n")
    broken = header + "\n" + "example/x_agent,Tool,1,0,0,N/A,0,\"[{'role': unterminated\"\n" + rest
    runs, bad = asb.parse_csv(broken, "clean", MODEL, "combined_attack")
    assert bad == 1
    assert len(runs) == len(_rows("clean"))


def test_params_are_parsed_when_logged() -> None:
    assert asb._params("None") == {}
    assert asb._params('{"patient_id": "P-1"}') == {"patient_id": "P-1"}
    assert asb._params("{'q': 'x'}") == {"q": "x"}
    assert asb._params("free text") == {"params": "free text"}


def test_falls_back_to_the_next_method_with_a_conversation(tmp_path: Path) -> None:
    import shutil

    src = tmp_path / "asb"
    shutil.copytree(SAMPLE, src)
    opi = "logs/observation_prompt_injection/{}/no_memory/{}-all_.csv"
    # this model's combined_attack log has no conversation; give it a naive one (real rows)
    shutil.copy(
        SAMPLE / opi.format("gpt-4o-mini", "combined_attack"), src / opi.format(MODEL, "naive")
    )
    # and a second method beside a combined_attack log that has one
    shutil.copy(
        SAMPLE / opi.format("gpt-4o-mini", "combined_attack"),
        src / opi.format("gpt-4o-mini", "naive"),
    )
    runs, report = asb.read_runs(src)
    methods = {(r.model, r.method) for r in runs if r.setting == "observation_prompt_injection"}
    assert methods == {(MODEL, "naive"), ("gpt-4o-mini", "combined_attack")}
    assert report["no_messages"] == [opi.format(MODEL, "combined_attack")]
    runs, _ = asb.read_runs(src, all_methods=True)
    methods = {(r.model, r.method) for r in runs if r.setting == "observation_prompt_injection"}
    assert methods == {
        (MODEL, "naive"),
        ("gpt-4o-mini", "combined_attack"),
        ("gpt-4o-mini", "naive"),
    }
    # the same case run by another method or model stays in one part
    c = asb.convert(src, all_methods=True)
    parts: dict[str, set[str]] = {}
    for s in c.sessions:
        parts.setdefault(s.case, set()).add(s.split)
    assert all(len(p) == 1 for p in parts.values())
    assert len({s.session_id for s in c.sessions}) == len(c.sessions)
