"""The revoker's door: forged, unsigned and replayed-expired commands are refused."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from monitor.deadletter import reason_class
from monitor.output_contracts import Alert
from monitor.revoker.gate import REFUSED_DETECTOR, REFUSED_PREFIX, CommandGate, refused_alert
from monitor.signing import CommandSigner, parse_keyring
from tests.revoker.support import T0, command

KEYS = parse_keyring("mon-1:0123456789abcdef0123")
FORGER = parse_keyring("mon-1:someone-else-s-key-0000")
assert KEYS is not None and FORGER is not None
GATE = CommandGate(KEYS, max_age_seconds=3600)
SIGNED = CommandSigner(KEYS).sign(command())


def test_a_fresh_command_signed_by_the_monitor_passes() -> None:
    assert GATE.check(SIGNED, T0) is None
    assert GATE.check(SIGNED, T0 + timedelta(seconds=3600)) is None  # the edge of the window


@pytest.mark.parametrize(
    ("cmd", "why"),
    [
        (command(), "unsigned"),
        (CommandSigner(FORGER).sign(command()), "bad signature (key mon-1)"),
        (SIGNED.model_copy(update={"agent_id": "spiffe://corp/agents/victim"}), "bad signature"),
        (SIGNED.model_copy(update={"mode": "observe"}), "bad signature"),
    ],
)
def test_forged_or_unsigned_commands_are_refused(cmd: object, why: str) -> None:
    assert (GATE.check(cmd, T0) or "").startswith(why)  # type: ignore[arg-type]


def test_a_replayed_command_older_than_the_window_is_refused() -> None:
    why = GATE.check(SIGNED, T0 + timedelta(seconds=3601))
    assert why is not None and why.startswith("expired: issued 3601 s ago")
    future = CommandSigner(KEYS).sign(command(ts=T0 + timedelta(days=1)))
    assert (GATE.check(future, T0) or "").startswith("dated 86400 s in the future")


def test_no_window_means_no_age_check() -> None:
    assert CommandGate(KEYS, 0).check(SIGNED, T0 + timedelta(days=3650)) is None


def test_without_keys_every_command_passes_as_before() -> None:
    gate = CommandGate(None)
    assert not gate.authenticates
    assert gate.check(command(), T0 + timedelta(days=3650)) is None


def test_the_refusal_alert_is_valid_deterministic_and_says_nothing_was_revoked() -> None:
    raw = command().to_json()
    a = refused_alert(command(), raw, "unsigned", T0)
    b = refused_alert(command(), raw, "unsigned", T0 + timedelta(seconds=5))
    assert Alert.model_validate_json(a.to_json()) == a
    assert a.alert_id == b.alert_id and a.detector == REFUSED_DETECTOR
    assert a.severity == "critical" and "Nothing was revoked" in a.reason
    assert a.details["command_id"] == "cmd-1" and a.details["refused"] == "unsigned"
    stale = refused_alert(command(), raw, "expired: issued 9 s ago", T0)
    assert stale.severity == "high" and stale.reason.startswith("replayed or stale")


def test_refused_commands_have_their_own_dead_letter_metric_class() -> None:
    assert reason_class(f"{REFUSED_PREFIX}: unsigned") == "refused"


def test_a_key_scoped_to_charter_updates_cannot_sign_a_revocation_command() -> None:
    """The revoker's ring may hold the policy key too (one ring pasted in both variables);
    a command signed with it is refused, and alerted as forged."""
    ring = parse_keyring(
        "mon-1@commands:0123456789abcdef0123,policy-1@charters:policy-key-000000000"
    )
    policy = parse_keyring("policy-1:policy-key-000000000")  # what the policy owner holds
    assert ring is not None and policy is not None
    gate = CommandGate(ring, max_age_seconds=3600)
    by_policy = CommandSigner(policy).sign(command())
    why = gate.check(by_policy, T0)
    assert why == "key policy-1 may not sign commands (its scopes: charters)"
    alert = refused_alert(by_policy, by_policy.to_json(), why, T0)
    assert alert.severity == "critical" and alert.reason.startswith("forged or unsigned")
    assert gate.check(CommandSigner(ring).sign(command()), T0) is None  # mon-1 signs commands


def test_a_window_of_one_second_or_less_is_still_checked() -> None:
    """Only 0 turns the age check off (MCPMON_REVOKER_COMMAND_MAX_AGE_SECONDS, a float): a
    window of 1 s, or of half a second, still refuses a command older than it."""
    assert (CommandGate(KEYS, 1).check(SIGNED, T0 + timedelta(seconds=2)) or "").startswith(
        "expired: issued 2 s ago, more than the 1 s allowed"
    )
    assert (CommandGate(KEYS, 0.5).check(SIGNED, T0 + timedelta(seconds=1)) or "").startswith(
        "expired: issued 1 s ago, more than the 0.5 s allowed"
    )
    assert CommandGate(KEYS, 1).check(SIGNED, T0 + timedelta(seconds=1)) is None


def test_a_command_dated_exactly_the_window_ahead_passes() -> None:
    """The window is symmetric and inclusive: a command dated exactly max_age_seconds in the
    future (a worker clock ahead of the revoker's) is carried out, one second more is not."""
    ahead = CommandSigner(KEYS).sign(command(ts=T0 + timedelta(seconds=3600)))
    assert GATE.check(ahead, T0) is None
    further = CommandSigner(KEYS).sign(command(ts=T0 + timedelta(seconds=3601)))
    assert GATE.check(further, T0) == "dated 3601 s in the future, more than the 3600 s allowed"


def test_the_refusal_alert_names_the_commands_task_session_and_raw_bytes() -> None:
    """What a SIEM rule matches on: the clause, the task and session the forged command
    named, and details with the sha256 of the exact bytes refused (to find them in the
    dead-letter topic) and whether the command carried a signature at all."""
    cmd = command(scope="session", session_id="sess-9", task_id="task-9")
    raw = cmd.to_json()
    a = refused_alert(cmd, raw, "unsigned", T0)
    assert (a.clause.charter, a.clause.key, a.clause.text) == (
        None,
        "revocation",
        "only revocation commands signed by the monitor, and fresh, are carried out",
    )
    assert (a.task_id, a.session_id, a.credential_id) == ("task-9", "sess-9", None)
    assert a.details == {
        "command_id": "cmd-1",
        "refused": "unsigned",
        "scope": "session",
        "sha256": hashlib.sha256(raw).hexdigest(),
        "signed": False,
    }
    forged = CommandSigner(FORGER).sign(cmd)
    b = refused_alert(forged, forged.to_json(), "bad signature (key mon-1)", T0)
    assert b.details["signed"] is True and b.details["scope"] == "session"


def test_the_refusal_alert_id_is_the_documented_hash_of_the_raw_bytes() -> None:
    """One id per message refused (a redelivery raises the same alert, SIEM rules dedup),
    and two different messages never share one: 32 hex characters, like every alert id."""
    raw = command().to_json()
    a = refused_alert(command(), raw, "unsigned", T0)
    digest = hashlib.sha256(raw).hexdigest()
    assert a.alert_id == hashlib.sha256(f"{REFUSED_DETECTOR}\x1f{digest}".encode()).hexdigest()[:32]
    assert len(a.alert_id) == 32
    other = command(command_id="cmd-2")
    assert refused_alert(other, other.to_json(), "unsigned", T0).alert_id != a.alert_id


def test_a_command_dated_in_the_future_is_alerted_as_stale_not_forged() -> None:
    """The gate's own "dated ... in the future" reason is a replay/clock problem of a
    genuinely signed command: severity high, like an expired one, never critical."""
    ahead = CommandSigner(KEYS).sign(command(ts=T0 + timedelta(days=1)))
    why = GATE.check(ahead, T0)
    assert why is not None and why.startswith("dated")
    alert = refused_alert(ahead, ahead.to_json(), why, T0)
    assert alert.severity == "high" and alert.reason.startswith("replayed or stale")
    assert alert.details["signed"] is True
