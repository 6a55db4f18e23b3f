"""The committed corpus fixtures (data/corpora/*): they load offline, every event is in
the contract, labels point at real events, and the split is the one fixed before tuning."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import orjson
import pytest

from monitor.charter import parse_charter
from monitor.corpora import asb, tau
from monitor.corpora.base import Corpus, split_of
from monitor.corpora.timeline import counts, dump_corpus, read_corpus
from monitor.events import ToolCall, decode_event

LOADERS = {"asb": asb.load_fixture, "tau": tau.load_fixture}


@pytest.fixture(scope="module", params=sorted(LOADERS))
def corpus(request: pytest.FixtureRequest) -> Corpus:
    return LOADERS[request.param]()


def test_licence_and_notice_sit_beside_each_fixture() -> None:
    for fixture in (asb.FIXTURE, tau.FIXTURE):
        assert fixture.is_file()
        assert "MIT License" in (fixture.parent / "LICENSE").read_text()
        assert "github.com" in (fixture.parent / "NOTICE").read_text()
        assert fixture.stat().st_size < 2 * 1024 * 1024  # small enough for the repository


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
    a = counts(asb.load_fixture())
    # ten agent types x thirteen models; four settings, 400 rows per setting and model
    assert a["agents"] == 130
    kinds = Counter()
    for key, n in a["by_kind_split"].items():
        if key.count("/") == 1:
            kinds[key.split("/")[0]] += n
    assert kinds["warmup"] + kinds["benign"] == 13 * 400  # the clean runs, half warm-up
    assert kinds["warmup"] == kinds["benign"]
    assert kinds["attack"] == a["sessions"] - 13 * 400
    classes = {s.attack_class for s in asb.load_fixture().sessions if s.kind == "attack"}
    assert classes == {"observation_prompt_injection", "direct_prompt_injection", "memory_attack"}
    t = counts(tau.load_fixture())
    assert t["agents"] == 1 and t["sessions"] == 200  # 50 tasks x 4 trials of gpt-4o-airline
    assert set(t["by_kind_split"]) == {
        "benign/tuning",
        "benign/held_out",
        "warmup/tuning",
        "warmup/held_out",
    }


def test_fixture_round_trips_byte_for_byte(corpus: Corpus, tmp_path: Path) -> None:
    raw = dump_corpus(corpus)
    p = tmp_path / "c.jsonl.gz"
    p.write_bytes(raw)
    assert dump_corpus(read_corpus(p)) == raw


def test_a_damaged_fixture_names_file_and_line(tmp_path: Path) -> None:
    raw = gzip.decompress(tau.FIXTURE.read_bytes()).splitlines()
    p = tmp_path / "bad.jsonl.gz"
    p.write_bytes(gzip.compress(b"\n".join(raw[:-1])))
    with pytest.raises(ValueError, match="header promises"):
        read_corpus(p)
    raw[3] = b"{not json"
    p.write_bytes(gzip.compress(b"\n".join(raw)))
    with pytest.raises(ValueError, match=r"bad\.jsonl\.gz:4: bad session label"):
        read_corpus(p)
    p.write_bytes(gzip.compress(b'{"fixture_version": 99}\n'))
    with pytest.raises(ValueError, match=r":1: not a corpus fixture"):
        read_corpus(p)


def test_written_fixture_is_private_and_a_label_keeps_its_success(tmp_path: Path) -> None:
    from monitor.corpora.base import SessionLabel
    from monitor.corpora.timeline import write_corpus

    lab = SessionLabel("a", "s", "attack", "tuning", "c", "memory_attack", ("s/0",), "x", True)
    assert lab.to_dict()["succeeded"] is True
    assert SessionLabel("a", "s", "benign", "tuning", "c").to_dict()["succeeded"] is None
    c = Corpus(name="t", licence="MIT", sessions=[lab])
    out = tmp_path / "sub" / "t.jsonl.gz"
    write_corpus(c, out)
    assert out.stat().st_mode & 0o777 == 0o600
    assert read_corpus(out).sessions == [lab]
