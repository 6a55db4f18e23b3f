"""The presets' shared helpers and ``--format auto`` on mixed and unknown lines."""

from __future__ import annotations

import orjson

from monitor.tap.formats.preset import parse_baggage, resources_from_args
from tests.tap.support import (
    SAMPLES,
    dead,
    dumps,
    events,
    feed,
    lines_of,
    ok,
    preset,
    req,
)


def test_baggage_and_resources() -> None:
    assert parse_baggage("task_id=T-1, sponsor=a%40b;prop=1,bad") == {
        "task_id": "T-1",
        "sponsor": "a@b",
    }
    assert parse_baggage(None) == {}
    args = {"path": "/srv/.env", "url": "https://x.example/a", "uri": "kv/fleet/key"}
    assert resources_from_args(args) == ["file:///srv/.env", "https://x.example/a"]


def test_a_mapping_with_resources_replaces_the_argument_rule() -> None:
    line = SAMPLES["mcpx"].read_bytes().splitlines()[1]
    [e] = events(feed(preset("mcpx", "fields: {resources: payload.args.path}"), lines_of([line])))
    assert e["resources"] == ["/srv/app/.env"]


def test_auto_dead_letters_unknown_shapes_and_bad_json() -> None:
    out = feed(preset("auto"), lines_of([b'{"hello": 1, "world": 2}', b"not json", b"[1]"]))
    reasons = [d.reason for d in dead(out)]
    assert reasons[0] == "format not recognised: no preset knows a line with keys hello, world"
    assert reasons[1].startswith("not JSON")
    assert reasons[2] == "not a JSON object (a list)"


def test_auto_pairs_jsonrpc_among_other_formats_and_holds_its_position() -> None:
    mapping = "defaults: {agent_id: a-1, server: gw}"
    mcpx = SAMPLES["mcpx"].read_bytes().splitlines()[0]
    fmt = preset("auto", mapping)
    lines = lines_of([*dumps(req(1)), mcpx, *dumps(ok(1))])
    out = list(fmt.on_line(lines[0]))
    assert fmt.held_from() == lines[0].start  # the request waits for its response
    out += fmt.on_line(lines[1])
    out += fmt.on_line(lines[2])
    assert fmt.held_from() is None
    got = events(out)
    assert [(e["tool"], e["outcome"]) for e in got] == [
        ("search_code", "unknown"),
        ("list_hosts", "ok"),
    ]


def test_auto_keeps_ours_lines_unchanged_even_with_a_mapping() -> None:
    event = {
        "type": "tool_call",
        "event_id": "e-1",
        "ts": "2026-03-02T09:00:00Z",
        "agent_id": "a",
        "server": "s",
        "tool": "t",
    }
    raw = orjson.dumps(event)
    [o] = feed(preset("auto", "defaults: {tenant: corp}"), lines_of([raw]))
    assert o.value == raw  # type: ignore[union-attr]


def test_auto_finds_wrapped_jsonrpc_through_the_mappings_body() -> None:
    from tests.tap.support import WRAPPED_MAPPING, wrapped_traffic

    traffic = wrapped_traffic(40)
    auto = feed(preset("auto", WRAPPED_MAPPING), lines_of(traffic.lines))
    explicit = feed(preset("jsonrpc", WRAPPED_MAPPING), lines_of(traffic.lines))
    assert events(auto) == events(explicit) and len(events(auto)) == len(traffic.requests)
