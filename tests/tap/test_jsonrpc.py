"""``--format jsonrpc``: pairing, outcomes, the pairing window, identity, dead letters."""

from __future__ import annotations

import orjson
import pytest

from monitor.events import decode_event
from monitor.tap.lines import Line, Mapped, Position
from tests.tap.support import (
    JSONRPC_SAMPLE,
    NOW,
    dead,
    dumps,
    err,
    events,
    feed,
    jsonrpc,
    lines_of,
    ok,
    req,
    skipped,
)

SAMPLE_MAPPING = """
fields:
  agent_id: params._meta.io.modelcontextprotocol/clientInfo.name
defaults: {agent_id: agent:code-assistant/inst-31, server: mcp-gw, tenant: corp}
"""


def test_every_sample_pair_maps_field_by_field() -> None:
    out = feed(jsonrpc(SAMPLE_MAPPING), lines_of(JSONRPC_SAMPLE.read_bytes().splitlines()))
    assert not dead(out) and not skipped(out)
    got = events(out)
    assert [(e["tool"], e["outcome"]) for e in got] == [
        ("list_hosts", "ok"),
        ("apply_patch", "ok"),
        ("read_file", "error"),  # result.isError: true
        ("delete_repo", "error"),  # -32602: a denial, indistinguishable in the bare protocol
        ("http_post", "error"),  # -32603
        ("read_secret", "ok"),
    ]
    first, last = got[0], got[-1]
    assert first["args"] == {"env": "prod", "os": "ubuntu-24.04"}
    assert first["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert first["agent_id"] == "agent:code-assistant/inst-31"  # the default
    assert last["agent_id"] == "patcher-agent"  # from the dotted _meta key
    assert (first["server"], first["tenant"]) == ("mcp-gw", "corp")
    assert first["ts"] == "2026-03-02T09:00:00Z"  # no ts field: the tap's clock
    raw = JSONRPC_SAMPLE.read_bytes().splitlines()
    assert (first["bytes_in"], first["bytes_out"]) == (len(raw[0]), len(raw[1]))
    assert next(o.lines for o in out if isinstance(o, Mapped)) == (1, 2)
    for e in got:  # every event is valid under the contract
        assert decode_event(orjson.dumps(e)).event_id == e["event_id"]


def test_outcomes_ok_tool_error_protocol_error() -> None:
    raws = dumps(
        req(1), req(2), req(3), req(4), ok(1), ok(2, isError=True), err(3), ok(4, isError=False)
    )
    got = {e["event_id"]: e["outcome"] for e in events(feed(jsonrpc(), lines_of(raws)))}
    assert sorted(got.values()) == ["error", "error", "ok", "ok"]


def test_a_request_without_response_is_emitted_unknown_at_the_end() -> None:
    out = feed(jsonrpc(), lines_of(dumps(req(1), req(2), ok(2))))
    unknown = [o for o in out if isinstance(o, Mapped) and o.note]
    assert len(unknown) == 1 and unknown[0].lines == (1,)
    assert unknown[0].note == "no response before the end of the input"
    e = orjson.loads(unknown[0].value)
    assert e["outcome"] == "unknown" and e["bytes_out"] == 0


def test_window_count_eviction_emits_the_oldest_unknown_then_its_late_response_is_dead() -> None:
    fmt = jsonrpc(window_requests=2)
    lines = lines_of(dumps(req(1), req(2), req(3), ok(1), ok(2), ok(3)))
    out = []
    for line in lines[:3]:
        out += fmt.on_line(line)
    assert [(o.lines, o.note) for o in out if isinstance(o, Mapped)] == [
        ((1,), "no response within the pairing window")
    ]
    assert fmt.held_from() == lines[1].start  # the checkpoint may pass request 1 now
    late = list(fmt.on_line(lines[3]))
    assert [d.reason for d in dead(late)] == ["response without a request in the pairing window"]
    rest = [o for line in lines[4:] for o in fmt.on_line(line)]
    assert [e["outcome"] for e in events(rest)] == ["ok", "ok"]
    assert fmt.held_from() is None


def test_window_time_eviction_on_tick() -> None:
    fmt = jsonrpc(window_seconds=30)
    lines = lines_of(dumps(req(1), req(2)), seen=[0.0, 20.0])
    for line in lines:
        assert list(fmt.on_line(line)) == []
    assert list(fmt.on_tick(29.0)) == []
    first = list(fmt.on_tick(30.5))
    assert [o.lines for o in first if isinstance(o, Mapped)] == [(1,)]
    assert fmt.held_from() == lines[1].start
    assert [o.lines for o in fmt.on_tick(51.0) if isinstance(o, Mapped)] == [(2,)]


def test_ids_reused_across_sessions_pair_within_their_session() -> None:
    """The same JSON-RPC id in two sessions (ids are unique per session only)."""
    mapping = """
    body: body
    fields: {session_id: headers.mcp-session-id, agent_id: headers.x-agent}
    defaults: {server: fleet}
    """

    def wrap(session: str, agent: str, body: dict) -> dict:
        return {"headers": {"Mcp-Session-Id": session, "X-Agent": agent}, "body": body}

    raws = dumps(
        wrap("s1", "a1", req(1, "read_file")),
        wrap("s2", "a2", req(1, "http_post")),
        wrap("s2", "a2", err(1)),
        wrap("s1", "a1", ok(1)),
    )
    out = feed(jsonrpc(mapping), lines_of(raws))
    got = {(e["agent_id"], e["session_id"], e["tool"]): e["outcome"] for e in events(out)}
    assert got == {("a1", "s1", "read_file"): "ok", ("a2", "s2", "http_post"): "error"}
    assert len({e["event_id"] for e in events(out)}) == 2
    by_lines = sorted(o.lines for o in out if isinstance(o, Mapped))
    assert by_lines == [(1, 4), (2, 3)]


def test_integer_and_string_ids_are_different_ids() -> None:
    out = feed(jsonrpc(), lines_of(dumps(req(7, "a"), req("7", "b"), ok("7"), ok(7, isError=True))))
    assert {e["tool"]: e["outcome"] for e in events(out)} == {"a": "error", "b": "ok"}


def test_an_id_sent_again_before_its_response_flushes_the_first_as_unknown() -> None:
    out = feed(jsonrpc(), lines_of(dumps(req(1, "a"), req(1, "b"), ok(1))))
    assert [(e["tool"], e["outcome"]) for e in events(out)] == [("a", "unknown"), ("b", "ok")]
    assert out[0].note == "its id was sent again before a response"  # type: ignore[union-attr]


def test_other_methods_and_notifications_are_skipped_with_their_responses() -> None:
    raws = dumps(
        {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}},
        ok(0),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        req(2),
        ok(1),
        ok(2),
    )
    out = feed(jsonrpc(), lines_of(raws))
    assert [s.reason for s in skipped(out)] == [
        "method initialize",
        "response to initialize",
        "notification notifications/initialized",
        "method tools/list",
        "response to tools/list",
    ]
    assert len(events(out)) == 1 and not dead(out)


def test_missing_identity_is_a_dead_letter_and_so_is_its_response() -> None:
    fmt = jsonrpc("fields: {agent_id: params._meta.agent}\ndefaults: {server: s}")
    out = feed(fmt, lines_of(dumps(req(1), ok(1), req(2, _meta={"agent": "a2"}), ok(2))))
    d = dead(out)
    assert [(x.line.number, x.field) for x in d] == [(1, "agent_id"), (2, "id")]
    assert d[0].reason == "no agent_id: 'params._meta.agent' not in the line and no default"
    assert d[1].reason == "response to a dead-lettered request: line 1"
    assert [e["agent_id"] for e in events(out)] == ["a2"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON-RPC batch (an array) is not supported"),
        (b'"text"', "not a JSON object"),
        (b'{"id": 1, "method": "tools/call"}', "jsonrpc: not a JSON-RPC 2.0 message"),
        (b'{"jsonrpc": "2.0", "id": 1}', "neither a request"),
        (
            b'{"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "x"}}',
            "id: a tools/call without an id",
        ),
        (
            b'{"jsonrpc": "2.0", "id": 1.5, "method": "tools/call"}',
            "id: expected a string or an integer",
        ),
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call"}',
            "params: a tools/call needs an object",
        ),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}}', "params.name"),
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x", "arguments": [1]}}',
            "params.arguments: expected an object",
        ),
        (b'{"jsonrpc": "2.0", "id": null, "error": {"code": -32700}}', "id: null"),
        (b'{"jsonrpc": "2.0", "id": 5, "result": {}}', "response without a request"),
    ],
)
def test_lines_that_cannot_be_mapped_say_why(raw: bytes, reason: str) -> None:
    out = feed(jsonrpc(), lines_of([raw]))
    assert len(out) == 1 and dead(out), out
    assert dead(out)[0].reason.startswith(reason)


def test_an_orphan_response_in_the_resumed_overlap_is_skipped_not_dead() -> None:
    line = Line(orjson.dumps(ok(5)), 3, 100, 120, replayed=True)
    out = list(jsonrpc().on_line(line))
    assert [s.reason for s in skipped(out)] == ["response paired before the restart"]


def test_ts_from_a_mapped_field_text_or_epoch() -> None:
    mapping = "body: body\nfields: {ts: t}\ndefaults: {agent_id: a, server: s}"
    raws = dumps(
        {"t": "2026-03-02T10:00:00+01:00", "body": req(1)},
        {"body": ok(1)},
        {"t": 1772445600123, "body": req(2)},  # epoch milliseconds
        {"body": ok(2)},
        {"t": "yesterday", "body": req(3)},
    )
    out = feed(jsonrpc(mapping), lines_of(raws))
    assert [e["ts"] for e in events(out)] == [
        "2026-03-02T10:00:00+01:00",  # as logged (RFC 3339 keeps its offset)
        "2026-03-02T10:00:00.123000Z",
    ]
    assert dead(out)[0].field == "ts"


def test_trace_id_from_a_mapping_field_overrides_meta() -> None:
    mapping = "fields: {trace_id: params._meta.x-trace}\ndefaults: {agent_id: a, server: s}"
    meta = {"x-trace": "00-11111111111111111111111111111111-2222222222222222-01"}
    out = feed(jsonrpc(mapping), lines_of(dumps(req(1, _meta=meta), ok(1))))
    assert events(out)[0]["trace_id"] == "1" * 32


def test_held_from_tracks_the_oldest_waiting_request() -> None:
    fmt = jsonrpc()
    lines = lines_of(dumps(req(1), req(2), ok(1), ok(2)))
    held: list[Position | None] = []
    for line in lines:
        list(fmt.on_line(line))
        held.append(fmt.held_from())
    assert held == [lines[0].start, lines[0].start, lines[1].start, None]


def test_the_format_never_reads_the_clock_when_the_line_has_a_time() -> None:
    def boom() -> object:
        raise AssertionError("clock read")

    from monitor.tap.formats import FormatContext, make_format
    from monitor.tap.mapping import parse_mapping

    fmt = make_format(
        "jsonrpc",
        FormatContext(
            mapping=parse_mapping("body: b\nfields: {ts: t}\ndefaults: {agent_id: a, server: s}"),
            clock=boom,  # type: ignore[arg-type]
        ),
    )
    out = feed(fmt, lines_of(dumps({"t": "2026-03-02T09:00:00Z", "b": req(1)}, {"b": ok(1)})))
    assert events(out)[0]["ts"] == NOW.isoformat().replace("+00:00", "Z")
