"""The committed corpus fixtures (data/corpora/*): they load offline, every event is in
the contract, labels point at real events, and the split is the one fixed before tuning."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from monitor.charter import parse_charter
from monitor.corpora import registry
from monitor.corpora.base import Corpus, split_of
from monitor.corpora.fixtures import load_fixture, write_fixture
from monitor.corpora.timeline import counts
from monitor.events import ToolCall, decode_event


@pytest.fixture(scope="module", params=sorted(registry.CORPORA))
def corpus(request: pytest.FixtureRequest) -> Corpus:
    return registry.load(request.param)


def test_licence_and_notice_sit_beside_each_fixture() -> None:
    for name, e in registry.CORPORA.items():
        files = {p.name: p for p in e.fixture.iterdir()}
        text = "".join(files[n].read_text() for n in ("LICENSE", "NOTICE") if n in files)
        assert "MIT License" in text or "Apache License" in text, name
        assert "github.com" in files["NOTICE"].read_text()
        size = sum(p.stat().st_size for p in files.values())
        assert size < 4 * 1024 * 1024, name  # small enough for the repository


def test_every_event_decodes(corpus: Corpus) -> None:
    for e in corpus.events:
        assert isinstance(decode_event(orjson.dumps(e)), ToolCall)


def test_every_charter_loads_and_grants_every_call(corpus: Corpus) -> None:
    granted = set()
    for c in corpus.charters:
        ch = parse_charter(c)
        granted |= {(ch.agent, g.server, g.tool) for g in ch.tools}
    assert {(e["agent_id"], e["server"], e["tool"]) for e in corpus.events} <= granted
    assert {c["agent"] for c in corpus.charters} == {s.agent_id for s in corpus.sessions}


def test_labels_point_at_real_events_of_their_session(corpus: Corpus) -> None:
    by_id = {e["event_id"]: e for e in corpus.events}
    assert len(by_id) == len(corpus.events)
    sessions = {s.session_id: s for s in corpus.sessions}
    assert len(sessions) == len(corpus.sessions)
    for e in corpus.events:
        assert sessions[e["session_id"]].agent_id == e["agent_id"]
    for s in corpus.sessions:
        assert s.split == split_of(s.case)
        assert (s.kind == "attack") == (s.attack_class is not None)
        for i in s.attack_events:
            assert by_id[i]["session_id"] == s.session_id


def test_one_case_one_part(corpus: Corpus) -> None:
    parts: dict[str, set[str]] = {}
    for s in corpus.sessions:
        parts.setdefault(s.case, set()).add(s.split)
    assert all(len(p) == 1 for p in parts.values())
    both = Counter(s.split for s in corpus.sessions if s.kind != "warmup")
    assert both["tuning"] and both["held_out"]


def test_events_are_time_ordered_and_warmup_comes_first(corpus: Corpus) -> None:
    ts = [e["ts"] for e in corpus.events]
    assert ts == sorted(ts)
    kind = {s.session_id: s.kind for s in corpus.sessions}
    last_warm: dict[str, str] = {}
    first_scored: dict[str, str] = {}
    for e in corpus.events:
        if kind[e["session_id"]] == "warmup":
            last_warm[e["agent_id"]] = e["ts"]
        else:
            first_scored.setdefault(e["agent_id"], e["ts"])
    for agent, t in last_warm.items():
        assert agent not in first_scored or t < first_scored[agent]


def test_label_counts() -> None:
    a = counts(registry.load("asb"))
    # ten agent types x thirteen models; four settings, 400 rows per setting and model
    assert a["agents"] == 130
    kinds = Counter()
    for key, n in a["by_kind_split"].items():
        if key.count("/") == 1:
            kinds[key.split("/")[0]] += n
    assert kinds["warmup"] + kinds["benign"] == 13 * 400  # the clean runs, half warm-up
    assert kinds["warmup"] == kinds["benign"]
    assert kinds["attack"] == a["sessions"] - 13 * 400
    classes = {s.attack_class for s in registry.load("asb").sessions if s.kind == "attack"}
    assert classes == {"observation_prompt_injection", "direct_prompt_injection", "memory_attack"}
    t2 = counts(registry.load("tau2"))
    assert t2["agents"] == 1 and t2["sessions"] == 112  # 114 retail tasks, two without actions
    assert set(t2["by_kind_split"]) == {
        "benign/tuning",
        "benign/held_out",
        "warmup/tuning",
        "warmup/held_out",
    }
    t = counts(registry.load("tau"))
    assert t["agents"] == 1 and t["sessions"] == 200  # 50 tasks x 4 trials of gpt-4o-airline
    assert set(t["by_kind_split"]) == {
        "benign/tuning",
        "benign/held_out",
        "warmup/tuning",
        "warmup/held_out",
    }


def test_fixture_round_trips_byte_for_byte(corpus: Corpus, tmp_path: Path) -> None:
    a = write_fixture(corpus, tmp_path / "a", "notice")
    b = write_fixture(load_fixture(a), tmp_path / "b", "notice")
    for f in a.iterdir():
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name


def test_a_label_keeps_its_success_through_the_fixture(tmp_path: Path) -> None:
    from monitor.corpora.base import SessionLabel

    lab = SessionLabel("a", "s", "attack", "tuning", "c", "memory_attack", ("s/0",), "x", True)
    assert lab.to_dict()["succeeded"] is True
    assert SessionLabel("a", "s", "benign", "tuning", "c").to_dict()["succeeded"] is None
    c = Corpus(name="t", licence="MIT", sessions=[lab])
    assert load_fixture(write_fixture(c, tmp_path / "t", "n")).sessions == [lab]
