from __future__ import annotations

import json

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


# ---------------------------------------------------------------- trust at the boundary (issue 13)
AGENT = "spiffe://corp/agents/A"
LIFECYCLE_IDS = {
    "tool_call": {"server": "fs", "tool": "read_file"},
    "task_started": {"task_id": "T"},
    "task_ended": {"task_id": "T"},
    "credential_issued": {"credential_id": "c", "expires_at": "2026-03-02T10:00:00Z"},
    "credential_revoked": {"credential_id": "c"},
    "sponsor_active": {"sponsor": "s"},
    "sponsor_ended": {"sponsor": "s"},
    "charter_updated": {"charter": {"agent": "a", "kind": "autonomous"}},
    "alert_feedback": {"alert_id": "x", "verdict": "benign"},
}


def _doc(typ: str, **over: object) -> dict[str, object]:
    return {
        "type": typ,
        "event_id": "e",
        "ts": "2026-03-02T09:00:00Z",
        "agent_id": AGENT,
        **LIFECYCLE_IDS[typ],
        **over,
    }


@pytest.mark.parametrize("typ", sorted(LIFECYCLE_IDS))
def test_spiffe_scheme_and_trust_domain_fold_in_every_event_type(typ: str) -> None:
    ev = decode_event(orjson.dumps(_doc(typ, agent_id="SPIFFE://CORP/agents/A")))
    assert ev.agent_id == AGENT


@pytest.mark.parametrize("typ", sorted(LIFECYCLE_IDS))
@pytest.mark.parametrize(
    ("spelling", "why"),
    [
        ("spiffe://corp//agents/A", "empty path segment"),
        ("spiffe://corp/agents/A/", "ends with '/'"),
        ("spiffe://corp/agents/%41", "percent-encoded"),
        (" spiffe://corp/agents/A", "white space"),
        ("spiffe://corp/agents/\u200bA", "invisible character U+200B"),
        ("spiffe://corp/agents/\uff21", "NFKC"),
        ("spiffe://corp/agents/A\x00", "control character U+0000"),
    ],
)
def test_respelled_agent_id_is_a_decode_error_on_agent_id(
    typ: str, spelling: str, why: str
) -> None:
    with pytest.raises(DecodeError) as err:
        decode_event(orjson.dumps(_doc(typ, agent_id=spelling)))
    assert err.value.field == "agent_id"
    assert err.value.reason.startswith("agent_id: ")
    assert why in err.value.reason


@pytest.mark.parametrize(
    ("typ", "field"),
    [
        ("tool_call", "sponsor"),
        ("tool_call", "task_id"),
        ("tool_call", "session_id"),
        ("tool_call", "credential_id"),
        ("task_started", "task_id"),
        ("task_ended", "sponsor"),
        ("credential_issued", "credential_id"),
        ("credential_issued", "task_id"),
        ("credential_revoked", "credential_id"),
        ("sponsor_active", "sponsor"),
        ("sponsor_ended", "task_id"),
    ],
)
def test_every_identifier_field_refuses_control_and_invisible_characters(
    typ: str, field: str
) -> None:
    for bad, why in (("x\x00", "control character"), ("x\u2060", "invisible character")):
        with pytest.raises(DecodeError) as err:
            decode_event(orjson.dumps(_doc(typ, **{field: bad})))
        assert err.value.field == field
        assert why in err.value.reason


def test_other_identifiers_keep_their_case() -> None:
    ev = decode_event(
        orjson.dumps(
            _doc(
                "tool_call",
                agent_id="spiffe://CORP/Agents/A",
                credential_id="JTI-Ab",
                sponsor="Alice@Corp.example",
            )
        )
    )
    assert (ev.agent_id, ev.credential_id, ev.sponsor) == (
        "spiffe://corp/Agents/A",
        "JTI-Ab",
        "Alice@Corp.example",
    )


@pytest.mark.parametrize(
    "ts",
    [
        1796302800,
        1796302800.5,
        "1796302800",
        "2026-03-02T09:00Z",
        "2026-03-02",
        "2026-03-02T09:00:00+0000",
        True,
    ],
)
def test_ts_is_only_rfc3339_text_with_an_offset(ts: object) -> None:
    with pytest.raises(DecodeError) as err:
        decode_event(orjson.dumps({**GOOD, "ts": ts}))
    assert err.value.field == "ts"
    assert "RFC 3339" in err.value.reason


def test_expires_at_is_only_rfc3339_text_with_an_offset() -> None:
    with pytest.raises(DecodeError) as err:
        decode_event(orjson.dumps(_doc("credential_issued", expires_at=1796302800)))
    assert err.value.field == "expires_at"


@pytest.mark.parametrize(
    "ts", ["2026-03-02T09:00:00Z", "2026-03-02t09:00:00.123456z", "2026-03-02 10:00:00+01:00"]
)
def test_rfc3339_spellings_are_accepted(ts: str) -> None:
    assert decode_event(orjson.dumps({**GOOD, "ts": ts})).ts.timestamp() == 1772442000 + (
        0.123456 if "." in ts else 0
    )


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (
            b'{"type":"tool_call","event_id":"e","ts":"2026-03-02T09:00:00Z","agent_id":"a",'
            b'"agent_id":"b","server":"s","tool":"t"}',
            "agent_id",
        ),
        (
            b'{"type":"tool_call","event_id":"e","ts":"2026-03-02T09:00:00Z","agent_id":"a",'
            b'"server":"s","tool":"t","args":{"p":"x:y","p":"z"}}',
            "p",
        ),
        # an escape that spells the same key, and escaped colons that could hide the count
        (
            b'{"type":"tool_call","event_id":"e","ts":"2026-03-02T09:00:00Z","agent_id":"a",'
            b'"\\u0061gent_id":"b","server":"s","tool":"t","args":{"q":"\\u003a"}}',
            "agent_id",
        ),
        (
            b'{"type":"tool_call","event_id":"e","ts":"2026-03-02T09:00:00Z","agent_id":"a",'
            b'"server":"s","tool":"t","args":{"n":[{"k":1,"k":2}],"big":123456789012345678901234567890}}',
            "k",
        ),
        (
            b'{"type":"task_started","type":"tool_call","event_id":"e","ts":"2026-03-02T09:00:00Z",'
            b'"agent_id":"a","task_id":"t","server":"s","tool":"t"}',
            "type",
        ),
    ],
)
def test_a_repeated_json_key_anywhere_is_refused_naming_it(raw: bytes, key: str) -> None:
    for message in (raw, raw.decode()):
        with pytest.raises(DecodeError) as err:
            decode_event(message)
        assert err.value.reason.startswith(f"duplicate JSON key {key!r}")
        assert err.value.field == key


@pytest.mark.parametrize(
    "args",
    [
        {"a": "x:y", "b": {"c": ["d:e", {"f": "g"}]}},
        {"esc": 'quote " colon : backslash \\', "\u00e9": "\u2603:"},
        {"big": 123456789012345678901234567890, "k": "v:"},
        {"same": {"k": 1}, "other": {"k": 2}},  # one key in two objects is no repeat
    ],
)
def test_messages_without_repeated_keys_pass_the_check(args: dict[str, object]) -> None:
    ev = decode_event(json.dumps({**GOOD, "args": args}))  # orjson cannot write the big int
    assert isinstance(ev, ToolCall)
    assert ev.args == args


def test_a_charter_update_keyed_by_its_glob_pattern_decodes_folded() -> None:
    """``mcpmon sign-charter`` keys an update by the charter's pattern, which may be a glob."""
    ev = decode_event(orjson.dumps(_doc("charter_updated", agent_id="SPIFFE://Corp/agents/p-*")))
    assert ev.agent_id == "spiffe://corp/agents/p-*"
    with pytest.raises(DecodeError) as err:
        decode_event(orjson.dumps(_doc("charter_updated", agent_id="spiffe://corp/agents/p-*/")))
    assert err.value.field == "agent_id"
