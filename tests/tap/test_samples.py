"""Every line of every gateway sample ends up somewhere, with a reason when it is not an event.

Issue 9: each sample line maps to a valid event, or is a dead letter with a
clear reason, or (valid, but not a tool call: ``initialize``, session start,
prompt reads) is skipped with the reason counted in the run's summary.
"""

from __future__ import annotations

import orjson
import pytest

from monitor.events import ToolCall, decode_event
from monitor.tap.formats.auto import detect
from monitor.tap.lines import Dead, Mapped, Skipped
from tests.tap.support import SAMPLES, feed, lines_of, map_sample, preset, sample_lines

JSONRPC_MAPPING = "defaults: {agent_id: agent-1, server: gw}"

#: preset -> (events, dead letters, skipped) of its sample with the preset's defaults
EXPECTED = {
    "jsonrpc": (6, 0, 0),
    "agentgateway": (6, 0, 2),
    "toolhive": (6, 1, 1),
    "teleport": (4, 0, 4),
    "otel": (3, 4, 0),
    "mcpx": (4, 0, 3),
    "docker-audit": (5, 0, 1),
}


def _mapping(name: str) -> str | None:
    return JSONRPC_MAPPING if name == "jsonrpc" else None


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_sample_line_is_an_event_a_dead_letter_or_skipped_with_a_reason(name: str) -> None:
    out = map_sample(name, _mapping(name))
    accounted: set[int] = set()
    for o in out:
        if isinstance(o, Mapped):
            event = decode_event(o.value)  # valid under the contract
            assert isinstance(event, ToolCall) and event.event_id == o.event_id
            accounted.update(o.lines)
        else:
            assert isinstance(o, Dead | Skipped)
            assert len(o.reason) > 10, o.reason
            accounted.add(o.line.number)
    n = len(SAMPLES[name].read_bytes().splitlines())
    assert accounted == set(range(1, n + 1))
    counts = (
        sum(isinstance(o, Mapped) for o in out),
        sum(isinstance(o, Dead) for o in out),
        sum(isinstance(o, Skipped) for o in out),
    )
    assert counts == EXPECTED[name]


@pytest.mark.parametrize("name", list(SAMPLES))
def test_auto_recognises_every_line_of_every_sample(name: str) -> None:
    for raw in SAMPLES[name].read_bytes().splitlines():
        assert detect(orjson.loads(raw)) == name, raw[:80]


@pytest.mark.parametrize("name", list(SAMPLES))
def test_auto_maps_every_sample_exactly_as_its_preset(name: str) -> None:
    auto = preset("auto", _mapping(name))
    assert feed(auto, sample_lines(name)) == map_sample(name, _mapping(name))
    assert auto.picked == {name: len(SAMPLES[name].read_bytes().splitlines())}  # type: ignore[attr-defined]


def test_auto_on_all_samples_concatenated_gives_the_same_events_in_one_run() -> None:
    raws = [r for name in SAMPLES for r in SAMPLES[name].read_bytes().splitlines()]
    out = feed(preset("auto", JSONRPC_MAPPING), lines_of(raws))
    events = [o for o in out if isinstance(o, Mapped)]
    # the mapping's defaults apply to every format under auto: the four OTel spans
    # without a caller identity now get agent-1 instead of a dead letter
    assert len(events) == sum(e for e, _, _ in EXPECTED.values()) + 4
    assert sum(isinstance(o, Dead) for o in out) == 1  # ToolHive's unauthenticated denial
    assert len({e.event_id for e in events}) == len(events)  # ids never collide across sources


def test_event_ids_are_the_same_on_every_run() -> None:
    for name in SAMPLES:
        ids = [[o.event_id for o in map_sample(name, _mapping(name)) if isinstance(o, Mapped)]]
        ids.append([o.event_id for o in map_sample(name, _mapping(name)) if isinstance(o, Mapped)])
        assert ids[0] == ids[1]
