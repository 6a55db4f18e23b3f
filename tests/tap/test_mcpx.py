"""``--format mcpx``: field-by-field from the sample; no outcome, derived ids."""

from __future__ import annotations

from tests.tap.support import SAMPLES, events, feed, lines_of, map_sample, preset, skipped


def test_tool_used_field_by_field() -> None:
    got = events(map_sample("mcpx"))
    e = got[1]
    assert e["event_id"].startswith("mcpx-") and len(e["event_id"]) == 37
    del e["event_id"]
    assert e == {
        "type": "tool_call",
        "ts": "2026-08-20T09:14:09.317000Z",
        "agent_id": "code-assistant",  # payload.consumerTag
        "server": "filesystem",  # payload.targetServerName
        "tool": "read_file",
        "args": {"path": "/srv/app/.env"},
        "resources": ["file:///srv/app/.env"],
        "outcome": "unknown",  # MCPX records no outcome
        "bytes_in": 0,
        "bytes_out": 0,
    }
    assert [x["tool"] for x in got] == ["search_code", "read_file", "apply_patch", "read_secret"]


def test_other_events_are_skipped_and_the_mapping_fills_what_mcpx_lacks() -> None:
    out = map_sample("mcpx", "defaults: {agent_kind: autonomous, tenant: corp}")
    assert [s.reason for s in skipped(out)] == [
        "event prompt_used",
        "event resource_read",
        "event agent_permission_updated",
    ]
    assert {(e["agent_kind"], e["tenant"]) for e in events(out)} == {("autonomous", "corp")}


def test_ids_depend_on_source_label_and_line_not_on_the_run() -> None:
    raws = SAMPLES["mcpx"].read_bytes().splitlines()
    a = [e["event_id"] for e in events(feed(preset("mcpx", source="a"), lines_of(raws)))]
    b = [e["event_id"] for e in events(feed(preset("mcpx", source="b"), lines_of(raws)))]
    assert a == [e["event_id"] for e in events(feed(preset("mcpx", source="a"), lines_of(raws)))]
    assert not set(a) & set(b)
    twice = events(feed(preset("mcpx"), lines_of([raws[0], raws[0]])))
    assert twice[0]["event_id"] != twice[1]["event_id"]  # the same call logged twice is two calls
