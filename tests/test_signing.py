"""Signatures on revocation commands and charter updates: what verifies and what does not."""

from __future__ import annotations

import orjson
import pytest

from monitor.errors import MonitorError
from monitor.outputs import RevocationCommand
from monitor.settings import load_settings
from monitor.signing import (
    CommandSigner,
    SigningConfigError,
    check_charter,
    check_command,
    parse_keyring,
    sign_charter,
)
from tests.revoker.support import command

RING = parse_keyring("k1:0123456789abcdef0123")
OTHER = parse_keyring("k1:fedcba9876543210fedc")
assert RING is not None and OTHER is not None


def test_an_unsigned_command_is_byte_for_byte_contract_v1() -> None:
    cmd = command()
    doc = orjson.loads(cmd.to_json())
    assert "signature" not in doc
    assert RevocationCommand.model_validate(doc) == cmd


def test_a_signed_command_verifies_after_a_json_round_trip() -> None:
    raw = CommandSigner(RING).encode(command())
    doc = orjson.loads(raw)
    assert doc["signature"].startswith("hmac-sha256:k1:")
    assert check_command(RevocationCommand.model_validate_json(raw), RING) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("command_id", "cmd-2"),
        ("agent_id", "spiffe://corp/agents/victim"),
        ("scope", "agent"),
        ("credential_ids", ["cred-1", "cred-9"]),
        ("task_id", "task-2"),
        ("reason", "because"),
        ("alert_ids", []),
        ("mode", "observe"),
        ("ts", "2026-03-01T12:00:01Z"),
        ("session_id", "s1"),
    ],
)
def test_changing_any_field_of_a_signed_command_breaks_its_signature(
    field: str, value: object
) -> None:
    doc = orjson.loads(CommandSigner(RING).encode(command()))
    doc[field] = value
    assert check_command(RevocationCommand.model_validate(doc), RING) == "bad signature (key k1)"


def test_what_is_refused_and_why() -> None:
    signed = CommandSigner(RING).sign(command())
    assert check_command(command(), RING) == "unsigned"
    assert check_command(signed, OTHER) == "bad signature (key k1)"
    sig = signed.signature or ""
    cases = {
        "hmac-sha256:k2:" + sig.rsplit(":", 1)[1]: "unknown key id 'k2'",
        "ed25519:k1:AAAA": "unsupported signature algorithm 'ed25519'",
        "garbage": "malformed signature",
        "hmac-sha256:k1:": "malformed signature",
        "hmac-sha256:k1:!!!!": "malformed signature",
    }
    for bad, why in cases.items():
        assert check_command(signed.model_copy(update={"signature": bad}), RING) == why


def test_key_rotation_the_first_key_signs_every_key_verifies() -> None:
    old = parse_keyring("k1:0123456789abcdef0123")
    both = parse_keyring("k2:zyxwvutsrqponmlkjihg,k1:0123456789abcdef0123")
    assert old is not None and both is not None
    by_old = CommandSigner(old).sign(command())
    by_new = CommandSigner(both).sign(command())
    assert (by_new.signature or "").startswith("hmac-sha256:k2:")
    assert check_command(by_old, both) is None and check_command(by_new, both) is None
    assert check_command(by_new, old) == "unknown key id 'k2'"


def test_a_command_signature_does_not_verify_as_a_charter_signature() -> None:
    charter = {"agent": "a", "kind": "autonomous"}
    sig = sign_charter(charter, RING)
    assert check_charter(charter, sig, RING) is None
    assert check_charter({**charter, "mode": "observe"}, sig, RING) == "bad signature (key k1)"
    assert check_charter(charter, None, RING) == "unsigned"
    cmd_sig = CommandSigner(RING).sign(command()).signature
    assert check_charter(charter, cmd_sig, RING) == "bad signature (key k1)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nokey", "entry 1 is not KEY_ID:SECRET"),
        ("k1:short", "has 5 bytes; at least 16"),
        ("k 1:0123456789abcdef0123", "may hold only"),
        ("k1:0123456789abcdef0123,k1:0123456789abcdef0123", "appears twice"),
    ],
)
def test_bad_key_settings_fail_at_load_naming_the_variable(text: str, message: str) -> None:
    with pytest.raises(SigningConfigError, match=message):
        parse_keyring(text)
    with pytest.raises(MonitorError, match="MCPMON_COMMAND_SIGNING_KEYS"):
        load_settings(env={"MCPMON_COMMAND_SIGNING_KEYS": text})
    with pytest.raises(MonitorError, match="MCPMON_CHARTER_SIGNING_KEYS"):
        load_settings(env={"MCPMON_CHARTER_SIGNING_KEYS": text})


def test_keys_never_show_in_settings_or_keyring_reprs() -> None:
    s = load_settings(env={"MCPMON_COMMAND_SIGNING_KEYS": "k1:0123456789abcdef0123"})
    assert "0123456789abcdef0123" not in repr(s)
    assert "0123456789abcdef0123" not in repr(s.command_keyring())
    assert s.charter_keyring() is None and s.engine().charter_keys is None
