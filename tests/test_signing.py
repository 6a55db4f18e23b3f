"""Signatures on revocation commands and charter updates: what verifies and what does not."""

from __future__ import annotations

import orjson
import pytest

from monitor.errors import MonitorError
from monitor.output_contracts import RevocationCommand
from monitor.settings import load_settings
from monitor.signing import (
    CommandSigner,
    Keyring,
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


# ---------------------------------------------------------------- key scopes (issue 13 item 9)
SCOPED = "mon-1@commands:0123456789abcdef0123,policy-1@charters:fedcba9876543210fedc"


def test_a_key_signs_only_the_scopes_it_names() -> None:
    ring = parse_keyring(SCOPED)
    assert ring is not None
    charter = {"agent": "a", "kind": "autonomous"}
    by_policy = sign_charter(charter, ring, 1)
    assert by_policy.startswith("hmac-sha256:policy-1:")  # the first key that may sign charters
    assert check_charter(charter, by_policy, ring, 1) is None
    cmd = CommandSigner(ring).sign(command())
    assert (cmd.signature or "").startswith("hmac-sha256:mon-1:")
    assert check_command(cmd, ring) is None
    # the same secrets under the same ids, but used for the other scope: refused
    everything = parse_keyring(SCOPED.replace("@commands", "").replace("@charters", ""))
    assert everything is not None
    mon_only = parse_keyring("mon-1:0123456789abcdef0123")
    policy_only = parse_keyring("policy-1:fedcba9876543210fedc")
    assert mon_only is not None and policy_only is not None
    forged_charter = sign_charter(charter, mon_only, 1)
    assert check_charter(charter, forged_charter, everything, 1) is None  # unscoped: as before
    assert (
        check_charter(charter, forged_charter, ring, 1)
        == "key mon-1 may not sign charters (its scopes: commands)"
    )
    forged_cmd = CommandSigner(policy_only).sign(command())
    assert check_command(forged_cmd, everything) is None
    assert (
        check_command(forged_cmd, ring)
        == "key policy-1 may not sign commands (its scopes: charters)"
    )


def test_a_key_may_name_both_scopes_and_a_signer_needs_a_key_for_its_scope() -> None:
    both = parse_keyring("k1@commands+charters:0123456789abcdef0123")
    assert both is not None and both.keys[0].scopes == {"commands", "charters"}
    charters_only = parse_keyring("p1@charters:0123456789abcdef0123")
    assert charters_only is not None
    with pytest.raises(SigningConfigError, match="no key of the keyring may sign commands"):
        CommandSigner(charters_only)
    assert "0123456789abcdef0123" not in repr(both.keys[0]) + repr(both)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k1@admin:0123456789abcdef0123", "names scope 'admin'"),
        ("k1@:0123456789abcdef0123", "names scope"),
        ("k1@commands+:0123456789abcdef0123", "names scope ''"),
        ("@commands:0123456789abcdef0123", "may hold only"),
    ],
)
def test_bad_scopes_fail_at_load_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(SigningConfigError, match=message):
        parse_keyring(text, "MCPMON_X")


def test_legacy_keys_sign_only_what_their_variable_is_for() -> None:
    """A key entry without @scopes (the format before scopes) keeps its meaning: the
    command variable's keys sign commands, the charter variable's charters, nothing more."""
    s = load_settings(
        env={
            "MCPMON_COMMAND_SIGNING_KEYS": "mon-1:0123456789abcdef0123",
            "MCPMON_CHARTER_SIGNING_KEYS": "policy-1:fedcba9876543210fedc",
        }
    )
    commands, charters = s.command_keyring(), s.charter_keyring()
    assert commands is not None and charters is not None
    assert commands.keys[0].scopes == {"commands"} and charters.keys[0].scopes == {"charters"}
    charter = {"agent": "a", "kind": "autonomous"}
    by_command_key = sign_charter(charter, s_ring("mon-1:0123456789abcdef0123"), 1)
    assert check_charter(charter, by_command_key, charters, 1) == "unknown key id 'mon-1'"
    cmd = CommandSigner(s_ring("policy-1:fedcba9876543210fedc")).sign(command())
    assert check_command(cmd, commands) == "unknown key id 'policy-1'"
    # one ring with both keys, in the charter variable: the command key still cannot sign charters
    mixed = load_settings(env={"MCPMON_CHARTER_SIGNING_KEYS": SCOPED}).charter_keyring()
    assert mixed is not None
    why = check_charter(charter, by_command_key, mixed, 1)
    assert why == "key mon-1 may not sign charters (its scopes: commands)"


def s_ring(text: str) -> Keyring:
    ring = parse_keyring(text)
    assert ring is not None
    return ring


def test_a_variable_whose_keys_all_sign_something_else_fails_at_load() -> None:
    with pytest.raises(
        MonitorError, match=r"MCPMON_CHARTER_SIGNING_KEYS\): no key may sign charters"
    ):
        load_settings(env={"MCPMON_CHARTER_SIGNING_KEYS": "mon-1@commands:0123456789abcdef0123"})


def test_one_secret_for_commands_and_charters_fails_at_load_unless_scoped_so() -> None:
    same = "0123456789abcdef0123"
    with pytest.raises(MonitorError, match="have the same secret"):
        load_settings(
            env={
                "MCPMON_COMMAND_SIGNING_KEYS": f"mon-1:{same}",
                "MCPMON_CHARTER_SIGNING_KEYS": f"policy-1:{same}",
            }
        )
    both = f"k1@commands+charters:{same}"
    s = load_settings(
        env={"MCPMON_COMMAND_SIGNING_KEYS": both, "MCPMON_CHARTER_SIGNING_KEYS": both}
    )
    assert s.engine().charter_keys is not None
    # one combined ring in both variables is fine: each key keeps its own scope
    s = load_settings(
        env={"MCPMON_COMMAND_SIGNING_KEYS": SCOPED, "MCPMON_CHARTER_SIGNING_KEYS": SCOPED}
    )
    assert s.engine().charter_keys is not None


def test_unsigned_charter_updates_are_refused_unless_explicitly_allowed() -> None:
    assert load_settings(env={}).engine().charter_allow_unsigned is False
    s = load_settings(env={"MCPMON_CHARTER_ALLOW_UNSIGNED": "true"})
    assert s.engine().charter_allow_unsigned is True
