"""Identities the tap maps are canonical: a re-spelled SPIFFE ID folds, a bad one is a dead letter.

Issue 13: ``SPIFFE://…``, ``corp//agents``, ``…/A/``, ``%41``, a leading space, a
zero-width space, a fullwidth letter or a NUL must never leave the tap as a new
agent id (which no charter covers). Every format builds its events through the
contract (``tool_call`` for mapped formats, ``decode_event`` for ``ours``).
"""

from __future__ import annotations

import orjson
import pytest

from tests.tap.support import dead, events, feed, lines_of, preset

GATEWAY_LINE = {
    "level": "info",
    "time": "2026-08-20T09:14:05.902771Z",
    "scope": "request",
    "route": "default/mcp",
    "http.status": 200,
    "trace.id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span.id": "a3ce929d0e0e4736",
    "protocol": "mcp",
    "mcp.method.name": "tools/call",
    "gen_ai.tool.name": "search_code",
    "jwt.jti": "jti-1",
}
OURS = {
    "type": "tool_call",
    "event_id": "e1",
    "ts": "2026-03-02T09:00:00Z",
    "server": "fs",
    "tool": "read_file",
}
BAD = [
    ("spiffe://corp//agents/A", "empty path segment"),
    ("spiffe://corp/agents/A/", "ends with '/'"),
    ("spiffe://corp/agents/%41", "percent-encoded"),
    (" spiffe://corp/agents/A", "white space"),
    ("spiffe://corp/agents/\u200bA", "invisible character U+200B"),
    ("spiffe://corp/agents/\uff21", "NFKC"),
    ("spiffe://corp/agents/A\u0000", "control character U+0000"),
]


def test_a_mapped_spiffe_id_in_another_case_leaves_the_tap_canonical() -> None:
    out = feed(
        preset("agentgateway"),
        lines_of([orjson.dumps({**GATEWAY_LINE, "jwt.sub": "SPIFFE://CORP/agents/A"})]),
    )
    [e] = events(out)
    assert e["agent_id"] == "spiffe://corp/agents/A"
    assert out[0].agent_id == "spiffe://corp/agents/A"  # type: ignore[union-attr]


@pytest.mark.parametrize(("agent", "why"), BAD)
def test_a_mapped_line_with_a_bad_identity_is_a_dead_letter_with_the_reason(
    agent: str, why: str
) -> None:
    out = feed(preset("agentgateway"), lines_of([orjson.dumps({**GATEWAY_LINE, "jwt.sub": agent})]))
    assert events(out) == []
    [d] = dead(out)
    assert d.field == "agent_id" and why in d.reason


def test_a_mapped_credential_id_with_a_nul_is_a_dead_letter() -> None:
    doc = {**GATEWAY_LINE, "jwt.sub": "spiffe://corp/agents/A", "jwt.jti": "jti-1\u0000"}
    out = feed(preset("agentgateway"), lines_of([orjson.dumps(doc)]))
    assert events(out) == []
    assert dead(out)[0].field == "credential_id"


@pytest.mark.parametrize(("agent", "why"), BAD)
def test_ours_refuses_a_bad_identity_and_keys_a_folded_one_canonically(
    agent: str, why: str
) -> None:
    out = feed(preset("ours"), lines_of([orjson.dumps({**OURS, "agent_id": agent})]))
    [d] = dead(out)
    assert d.field == "agent_id" and why in d.reason
    ok = feed(
        preset("ours"), lines_of([orjson.dumps({**OURS, "agent_id": "Spiffe://Corp/agents/A"})])
    )
    assert ok[0].agent_id == "spiffe://corp/agents/A"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (orjson.dumps({**OURS, "agent_id": "a", "ts": 1796302800}), "RFC 3339"),
        (
            b'{"type":"tool_call","event_id":"e1","ts":"2026-03-02T09:00:00Z","agent_id":"a",'
            b'"agent_id":"b","server":"fs","tool":"read_file"}',
            "duplicate JSON key 'agent_id'",
        ),
    ],
)
def test_ours_refuses_an_integer_ts_and_a_repeated_key(raw: bytes, why: str) -> None:
    [d] = dead(feed(preset("ours"), lines_of([raw])))
    assert why in d.reason


def test_a_gateway_iso_time_in_another_spelling_leaves_as_rfc3339() -> None:
    """The wire contract is strict RFC 3339; the tap reads the ISO 8601 spellings gateways log
    (epoch digits are read as epochs by the presets, by design: OTLP writes them as text)."""
    line = {**GATEWAY_LINE, "jwt.sub": "spiffe://corp/agents/A", "time": "2026-08-20T09:14:05+0000"}
    [e] = events(feed(preset("agentgateway"), lines_of([orjson.dumps(line)])))
    assert e["ts"] == "2026-08-20T09:14:05Z"
    for bad in ("2026-08-20T09:14:05", "yesterday"):  # no offset, not a time
        out = feed(preset("agentgateway"), lines_of([orjson.dumps({**line, "time": bad})]))
        assert events(out) == [] and dead(out)[0].field == "ts"
