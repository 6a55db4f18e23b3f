"""The agent-firedrill converter on its real atomics (tests/corpora/fixtures/firedrill), and the
tap's otel preset on the same scenarios exported by firedrill itself as OTLP/JSON."""

from __future__ import annotations

import zipfile
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from monitor.charter import parse_charter
from monitor.core.values import value_digest
from monitor.corpora import firedrill, registry
from monitor.corpora.base import Corpus, split_of
from monitor.corpora.fixtures import write_fixture
from monitor.errors import MonitorError
from monitor.events import ToolCall, decode_event
from tests.corpora.support import corpus_bytes
from tests.tap.support import dead, events, feed, lines_of, preset, skipped

SAMPLE = Path(__file__).parent / "fixtures" / "firedrill"
ATOMICS = sorted((SAMPLE / "firedrill" / "atomics").glob("*.yml"))
OTLP = SAMPLE / "otlp.jsonl"
#: firedrill's spans name the agent (gen_ai.agent.name) and the conversation, not an id
MAPPING = "fields:\n  agent_id: gen_ai.agent.name\n  session_id: gen_ai.conversation.id\n"


@pytest.fixture(scope="module")
def converted() -> tuple[Corpus, firedrill.Stats]:
    return firedrill.convert_with_stats(SAMPLE)


@pytest.fixture(scope="module")
def corpus(converted: tuple[Corpus, firedrill.Stats]) -> Corpus:
    return converted[0]


def _doc(atomic_id: str) -> dict[str, Any]:
    for p in ATOMICS:
        d = yaml.safe_load(p.read_text())
        if d["id"] == atomic_id:
            return d
    raise KeyError(atomic_id)


def _calls(corpus: Corpus, session_id: str) -> list[dict[str, Any]]:
    return [e for e in corpus.events if e["session_id"] == session_id]


def _ts(e: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))


def test_the_sample_converts_to_the_committed_fixture(corpus: Corpus, tmp_path: Path) -> None:
    """The committed fixture is what the converter makes of these atomics, byte for byte."""
    out = write_fixture(corpus, tmp_path / "f", firedrill.NOTICE)
    committed = registry.entry("firedrill").fixture
    for name in ("events.jsonl.gz", "sessions.jsonl.gz", "charters.json"):
        assert (out / name).read_bytes() == (committed / name).read_bytes(), name
    assert (committed / "NOTICE").read_text() == firedrill.NOTICE


def test_every_event_decodes_and_every_call_is_granted(corpus: Corpus) -> None:
    granted = set()
    for c in corpus.charters:
        ch = parse_charter(c)
        granted |= {(ch.agent, g.server, g.tool) for g in ch.tools}
    for e in corpus.events:
        assert isinstance(decode_event(orjson.dumps(e)), ToolCall)
    assert {(e["agent_id"], e["server"], e["tool"]) for e in corpus.events} <= granted


def test_calls_follow_the_atomic_spans_with_repeats_and_offsets(corpus: Corpus) -> None:
    # the runaway loop: one span repeated 30 times, 1.5 s apart; its twin pages 6 times, 2 s apart
    loop = _calls(corpus, "fd-asi02-002-attack")
    assert [(e["tool"], e["args"]) for e in loop] == [
        ("search_tickets", {"query": "refund status"})
    ] * 30
    assert (_ts(loop[-1]) - _ts(loop[0])).total_seconds() == 29 * 1.5
    assert loop[1]["ts"].endswith(".500Z")
    assert len(_calls(corpus, "fd-asi02-002-benign")) == 6
    # an ordinary atomic: exactly its execute_tool spans, model turns (chat) left out
    doc = _doc("FD-ASI01-001")
    want = [
        (s["attrs"]["gen_ai.tool.name"], s["attrs"]["gen_ai.tool.call.arguments"], s["at"])
        for s in doc["attack"]
        if s["attrs"]["gen_ai.operation.name"] == "execute_tool"
    ]
    got = _calls(corpus, "fd-asi01-001-attack")
    assert [(e["tool"], e["args"]) for e in got] == [(t, a) for t, a, _ in want]
    offsets = [(_ts(e) - _ts(got[0])).total_seconds() for e in got]
    assert offsets == [at - want[0][2] for _, _, at in want]
    assert "resources" not in got[1]  # ~/.ssh/id_rsa is no absolute path: no resource
    assert got[2]["resources"] == ["https://collect.attacker.example/k"]


def test_errors_and_multi_agent_traces(corpus: Corpus) -> None:
    """FD-ASI08-001: four agents in one trace, failing calls (error.type) -> outcome error."""
    attack = [
        s for s in corpus.sessions if s.case == "firedrill|FD-ASI08-001" and s.kind == "attack"
    ]
    assert sorted(s.agent_id.rsplit("/", 1)[-1] for s in attack) == [
        "fulfilment-agent",
        "planner-agent",
        "pricing-agent",
        "retriever-agent",
    ]
    for s in attack:
        calls = _calls(corpus, s.session_id)
        assert len(calls) == 5 and {e["outcome"] for e in calls} == {"error"}
        assert s.session_id.startswith("fd-asi08-001-attack/")
    twin = _calls(corpus, "fd-asi08-001-benign")
    assert [e["outcome"] for e in twin] == ["error"] * 4 + ["ok"]  # retried, then it worked


def test_labels_attack_events_classes_and_split(
    converted: tuple[Corpus, firedrill.Stats],
) -> None:
    corpus, stats = converted
    # three atomics are model turns only (no execute_tool span): no session, counted
    assert stats.no_tool_calls == ["FD-ASI01-003", "FD-ASI04-001", "FD-ASI09-001"]
    assert (stats.atomics, stats.converted) == (17, 14)
    scored = [s for s in corpus.sessions if s.kind != "warmup"]
    assert len({s.case for s in scored}) == 14
    for s in scored:
        assert s.split == split_of(s.case)
        calls = [e["event_id"] for e in _calls(corpus, s.session_id)]
        if s.kind == "attack":
            # firedrill judges the trace: every call of the attack trace is an attack event
            assert s.attack_events == tuple(calls) and calls
            asi = _doc(s.case.split("|")[1])["owasp_asi"][0]
            assert s.attack_class == firedrill.attack_class(asi)
            assert s.attack_class.startswith(asi.lower() + "_")
        else:
            assert s.attack_events == () and s.attack_class is None
    # an attack and its benign twin are one case, one part; both parts hold cases
    assert {s.split for s in scored} == {"tuning", "held_out"}
    assert split_of("firedrill|FD-ASI01-002") == "tuning"  # pinned: the split never moves
    assert split_of("firedrill|FD-ASI07-001") == "held_out"


def test_warmup_is_the_agents_own_benign_twins_before_any_scored_call(corpus: Corpus) -> None:
    by_agent: dict[str, list[str]] = defaultdict(list)
    for e in corpus.events:
        by_agent[e["agent_id"]].append(e["session_id"])
    kind = {s.session_id: s.kind for s in corpus.sessions}
    twins: dict[str, set[str]] = defaultdict(set)
    for s in corpus.sessions:
        if s.kind == "benign":
            twins[s.agent_id] |= {
                orjson.dumps([e["tool"], e["args"]]).decode() for e in _calls(corpus, s.session_id)
            }
    warm_calls: dict[str, int] = defaultdict(int)
    for s in corpus.sessions:
        if s.kind != "warmup":
            continue
        for e in _calls(corpus, s.session_id):
            assert orjson.dumps([e["tool"], e["args"]]).decode() in twins[s.agent_id]
            warm_calls[s.agent_id] += 1
    for agent, sessions in by_agent.items():
        kinds = [kind[sid] for sid in sessions]
        first_scored = next((i for i, k in enumerate(kinds) if k != "warmup"), len(kinds))
        assert "warmup" not in kinds[first_scored:], agent
    for c in corpus.charters:
        n = warm_calls.get(c["agent"], 0)
        assert c["baseline"]["warmup_events"] == n
        # every agent with a benign twin learns at least the default warm-up
        assert (n >= firedrill.WARMUP_CALLS) == bool(twins.get(c["agent"]))


def test_the_injected_address_is_in_the_read_it_came_from(corpus: Corpus) -> None:
    """Provenance is measurable: FD-ASI01-002 mails payroll to an address the e-mail carried."""
    read, _, send = _calls(corpus, "fd-asi01-002-attack")
    assert read["tool"] == "read_email" and send["tool"] == "send_email"
    assert value_digest(send["args"]["to"]) in read["result_digests"]


def test_a_wheel_converts_like_the_unpacked_tree(corpus: Corpus, tmp_path: Path) -> None:
    whl = tmp_path / "agent_firedrill-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for p in ATOMICS:
            z.write(p, f"firedrill/atomics/{p.name}")
        z.writestr("firedrill/__init__.py", "")
    assert corpus_bytes(firedrill.convert(whl)) == corpus_bytes(corpus)
    assert corpus_bytes(firedrill.convert(SAMPLE)) == corpus_bytes(corpus)  # deterministic


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("id: [unclosed", "not a readable YAML atomic"),
        ("- just a list", "must be a YAML mapping"),
        ("id: FD-X\nowasp_asi: [ASI01]\nattack: [{attrs: {}}]\n", "missing 'benign'"),
        (
            "id: FD-X\nowasp_asi: [ASI01]\nbenign: [{attrs: {}}]\nattack:\n"
            "  - attrs: {gen_ai.operation.name: execute_tool, gen_ai.tool.name: t,"
            " gen_ai.tool.call.arguments: [1]}\n",
            "arguments is not a mapping",
        ),
        (
            "id: FD-X\nowasp_asi: [ASI01]\nbenign: [{attrs: {}}]\nattack: [{attrs: {}, repeat: x}]\n",
            "bad at/repeat/every",
        ),
    ],
)
def test_a_bad_atomic_is_refused_naming_its_file(tmp_path: Path, text: str, needle: str) -> None:
    d = tmp_path / "firedrill" / "atomics"
    d.mkdir(parents=True)
    (d / "zz_bad.yml").write_text(text)
    with pytest.raises(MonitorError) as err:
        firedrill.convert(tmp_path)
    assert "zz_bad.yml" in str(err.value) and needle in str(err.value)


def test_a_source_without_atomics_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MonitorError, match="no firedrill atomics"):
        firedrill.convert(tmp_path)
    with pytest.raises(MonitorError, match="neither a directory nor a wheel"):
        firedrill.convert(tmp_path / "absent")


# --- the tap's otel preset on firedrill's own OTLP/JSON export -------------------------------


def _tap(mapping: str | None) -> list[Any]:
    return feed(preset("otel", mapping), lines_of(OTLP.read_bytes().splitlines()))


def test_the_otel_preset_alone_dead_letters_firedrill_spans_for_want_of_an_agent_id() -> None:
    """firedrill names its agent (gen_ai.agent.name), never an id: the preset refuses to guess."""
    out = _tap(None)
    assert events(out) == []
    reasons = {d.reason for d in dead(out)}
    assert len(dead(out)) == 104  # every execute_tool span of the 34 traces
    assert all(r.startswith("no agent_id: 'gen_ai.agent.id'") for r in reasons)
    assert {s.reason for s in skipped(out)} == {
        "span chat claude-sonnet-4-5",
        "span chat gpt-4.1",
        "span invoke_agent payments-agent",
    }


def test_the_tap_reads_firedrill_spans_as_the_converter_does(corpus: Corpus) -> None:
    """With a two-line mapping the tap maps every tool span, and each agent's calls in each
    trace equal the converter's: tool, args, outcome, resources, result digests, offsets."""
    out = _tap(MAPPING)
    assert dead(out) == []
    tapped = events(out)
    assert len(tapped) == 104
    assert {e["server"] for e in tapped} == {firedrill.SERVER}
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in tapped:
        by[(firedrill.agent_id(e["agent_id"]), e["session_id"])].append(e)
    scored = [s for s in corpus.sessions if s.kind != "warmup"]
    assert len(by) == len(scored)

    def facts(calls: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        t0 = _ts(calls[0])
        return [
            (
                e["tool"],
                e["args"],
                e["outcome"],
                e.get("resources") or [],
                e.get("result_digests"),
                (_ts(e) - t0).total_seconds(),
            )
            for e in calls
        ]

    for s in scored:
        conv = s.session_id.split("/")[0]  # a multi-agent trace's sessions share its id
        tap_calls = by[(s.agent_id, conv)]  # export order is time order
        assert facts(tap_calls) == facts(_calls(corpus, s.session_id)), s.session_id


def test_evaluate_corpus_reproduces_the_published_table(tmp_path: Path) -> None:
    """results/external_firedrill.{md,json} are what `mcpmon evaluate --corpus firedrill` writes."""
    from monitor.cli import main

    main(["evaluate", "--corpus", "firedrill", "--out", str(tmp_path)])
    results = Path(__file__).resolve().parents[2] / "results"
    for name in ("external_firedrill.md", "external_firedrill.json"):
        assert (tmp_path / name).read_bytes() == (results / name).read_bytes(), name
