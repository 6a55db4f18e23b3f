from __future__ import annotations

import orjson
import pytest

from monitor.errors import DecodeError
from monitor.events import EVENT_TYPES, ToolCall, decode_event, encode_event

GOOD = {
    "type": "tool_call",
    "event_id": "e1",
    "ts": "2026-03-02T09:00:00Z",
    "agent_id": "a",
    "server": "fs",
    "tool": "read_file",
    "resources": ["file:///x"],
    "outcome": "ok",
}


def test_decodes_every_event_type_with_its_model() -> None:
    samples = {
        "tool_call": GOOD,
        "task_started": {"task_id": "T"},
        "task_ended": {"task_id": "T"},
        "credential_issued": {"credential_id": "c", "expires_at": "2026-03-02T10:00:00+01:00"},
        "credential_revoked": {"credential_id": "c", "reason": "r"},
        "sponsor_active": {"sponsor": "s"},
        "sponsor_ended": {"sponsor": "s"},
        "charter_updated": {"charter": {"agent": "a", "kind": "autonomous"}},
    }
    for typ, extra in samples.items():
        doc = {"type": typ, "event_id": "e", "ts": "2026-03-02T09:00:00Z", "agent_id": "a", **extra}
        ev = decode_event(orjson.dumps(doc))
        assert isinstance(ev, EVENT_TYPES[typ])


def test_round_trips_through_encode() -> None:
    ev = decode_event(orjson.dumps(GOOD))
    assert decode_event(encode_event(ev)) == ev


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    ev = decode_event(orjson.dumps({**GOOD, "gateway_version": "9.9"}))
    assert isinstance(ev, ToolCall)


def test_outcome_defaults_to_unknown_for_request_only_gateways() -> None:
    doc = {k: v for k, v in GOOD.items() if k != "outcome"}
    assert decode_event(orjson.dumps(doc)).outcome == "unknown"


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        (b"not json", "not JSON", None),
        (b"[1, 2]", "object", None),
        (b"{}", "missing field 'type'", "type"),
        (b'{"type": "tool_cal"}', "unknown event type 'tool_cal'", "type"),
        (orjson.dumps({**GOOD, "ts": "2026-03-02T09:00:00"}), "ts", "ts"),
        (orjson.dumps({**GOOD, "bytes_out": -1}), "bytes_out", "bytes_out"),
        (orjson.dumps({**GOOD, "outcome": "maybe"}), "outcome", "outcome"),
        (orjson.dumps({**GOOD, "event_id": ""}), "event_id", "event_id"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "server"}), "server", "server"),
    ],
)
def test_bad_messages_raise_decode_error_naming_the_field(
    raw: bytes, reason: str, field: str | None
) -> None:
    with pytest.raises(DecodeError) as err:
        decode_event(raw)
    assert reason in err.value.reason
    assert err.value.field == field


def test_oversized_messages_are_rejected_before_parsing() -> None:
    huge = orjson.dumps({**GOOD, "args": {"blob": "x" * (2 << 20)}})
    with pytest.raises(DecodeError, match="exceeds the limit"):
        decode_event(huge)
