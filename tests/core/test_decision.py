"""The decision step: re-commanding, what a command names, and how long it should hold.

Issue 13.6: a revocation that quietly expired was never commanded again (the
"already commanded" memory lasted for ever), so calls with a revoked credential
25 h and 8 days later were let through. Issue 13.5: a task's revocation named
only the credential one call used.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from monitor import testing as tb
from monitor.core import Engine, EngineSettings
from monitor.signing import CommandSigner, check_command, command_payload, parse_keyring

A = "agent:assist/1"
CH = tb.charter(
    "agent:assist/*",
    "delegated",
    tools=[{"server": "fs", "tool": "read_file", "classes": ["read"]}],
    # calls here carry no issued credential: static_credential has its own tests
    limits={
        "task_grace_seconds": 30,
        "sponsor_quiet_seconds": 600,
        "require_jit_credentials": False,
    },
)
AUTO = "agent:auto/1"
CH_AUTO = tb.charter(
    "agent:auto/*",
    "autonomous",
    tools=[{"server": "fs", "tool": "read_file", "classes": ["read"]}],
)
HOUR, DAY = 3600, 86_400


def read(sec: float, **kw: Any) -> Any:
    kw.setdefault("task_id", "T")
    kw.setdefault("sponsor", "alice")
    return tb.call(sec, A, "fs", "read_file", **kw)


def auto_read(sec: float, **kw: Any) -> Any:
    return tb.call(sec, AUTO, "fs", "read_file", **kw)


def revoked_credential_engine(**settings: Any) -> Engine:
    eng = Engine([CH_AUTO], EngineSettings(**settings))
    tb.feed(eng, tb.issued(0, AUTO, "c1", 30 * DAY), tb.revoked(60, AUTO, "c1"))
    return eng


def test_a_revoked_credential_used_25_h_and_8_days_later_is_commanded_each_time() -> None:
    eng = revoked_credential_engine()
    ids, alerts = [], []
    for when, eid in ((120, "now"), (120 + 25 * HOUR, "25h"), (120 + 8 * DAY, "8d")):
        d = eng.process(auto_read(when, credential_id="c1", event_id=eid))
        [alert] = [a for a in d.alerts if a.clause.key == "credential_revoked"]
        [cmd] = d.revocations
        assert (cmd.scope, cmd.credential_ids) == ("credential", ["c1"])
        assert cmd.alert_ids == [alert.alert_id]
        assert cmd.expires_at == tb.at(30 * DAY)  # the deny-list holds it that long
        ids.append(cmd.command_id)
        alerts.append(alert.alert_id)
    assert len(set(ids)) == 3 and len(set(alerts)) == 3  # each a new cause: a new id


def test_a_re_command_is_rate_limited_and_a_redelivery_is_not_one() -> None:
    eng = revoked_credential_engine()
    assert eng.process(auto_read(120, credential_id="c1", event_id="a")).revocations
    later = auto_read(120 + 25 * HOUR, credential_id="c1", event_id="b")
    assert eng.process(later).revocations
    assert eng.process(later).duplicate  # the same event again: nothing new
    # a minute later: within the dedup window the alert is counted and nothing re-sent
    d = eng.process(auto_read(180 + 25 * HOUR, credential_id="c1", event_id="c"))
    assert not d.alerts and not d.revocations
    assert eng.stats["alerts_suppressed"] == 1


def test_re_command_follows_the_dedup_window() -> None:
    eng = revoked_credential_engine(alert_dedup_seconds=10 * DAY)
    assert eng.process(auto_read(120, credential_id="c1")).revocations
    assert not eng.process(auto_read(120 + 8 * DAY, credential_id="c1")).revocations
    assert eng.process(auto_read(120 + 11 * DAY, credential_id="c1")).revocations


def test_calls_after_task_end_re_command_the_task_after_the_window() -> None:
    eng = Engine([CH])
    tb.feed(eng, tb.task_started(0, A, "T", "alice"), tb.issued(0, A, "c1", 30 * DAY, "T"))
    [end] = eng.process(tb.task_ended(100, A, "T", "alice")).revocations
    first = eng.process(read(100 + 25 * HOUR, event_id="x")).revocations
    second = eng.process(read(100 + 8 * DAY, event_id="y")).revocations
    assert len(first) == len(second) == 1
    assert len({end.command_id, first[0].command_id, second[0].command_id}) == 3
    for c in (end, *first, *second):
        assert (c.scope, c.task_id, c.credential_ids) == ("task", "T", ["c1"])


def test_a_task_command_names_every_live_credential_of_the_task() -> None:
    """A call with c1 revokes task T: c2 of the same task is denied as well, so a call that
    presents c2 under another task id (or none) finds its credential key denied."""
    eng = Engine([CH])
    tb.feed(
        eng,
        tb.task_started(0, A, "T", "alice"),
        tb.issued(0, A, "c1", HOUR, "T"),
        tb.issued(10, A, "c2", 2 * HOUR, "T"),
        tb.issued(10, A, "c-gone", 60, "T"),  # expired by then: nothing to deny
        tb.issued(10, A, "c-other", HOUR, "U"),
    )
    d = eng.process(read(700, credential_id="c1"))  # the sponsor has been quiet 700 s
    [cmd] = d.revocations
    assert cmd.scope == "task" and cmd.task_id == "T"
    assert cmd.credential_ids == ["c1", "c2"]
    assert cmd.expires_at == tb.at(10 + 2 * HOUR)  # the latest of them


def test_expires_at_is_absent_for_agent_scope_and_unknown_expiries() -> None:
    eng = Engine([CH_AUTO])
    [agent_cmd] = eng.process(tb.call(0, AUTO, "github", "delete_repo")).revocations
    assert agent_cmd.scope == "agent" and agent_cmd.expires_at is None
    assert b"expires_at" not in agent_cmd.to_json()  # contract v1 bytes when absent
    [cred_cmd] = eng.process(
        tb.call(1, AUTO, "github", "fork_repo", credential_id="never-issued")
    ).revocations
    assert cred_cmd.scope == "credential" and cred_cmd.expires_at is None


def test_expires_at_is_signed_when_set_and_absent_bytes_stay_v1() -> None:
    """A command without ``expires_at`` signs the bytes it signed before the field
    existed (an older monitor's signature still verifies); with it, the field is
    covered: shortening a hold in transit breaks the signature."""
    ring = parse_keyring("k1:0123456789abcdef0123")
    assert ring is not None
    eng = revoked_credential_engine()
    [cmd] = eng.process(auto_read(120, credential_id="c1")).revocations
    assert cmd.expires_at is not None
    signed = CommandSigner(ring).sign(cmd)
    assert check_command(signed, ring) is None
    wire = type(cmd).model_validate_json(signed.to_json())
    assert check_command(wire, ring) is None
    shorter = wire.model_copy(update={"expires_at": cmd.expires_at - timedelta(days=29)})
    assert check_command(shorter, ring) is not None
    bare = cmd.model_copy(update={"expires_at": None})
    assert b"expires_at" not in command_payload(bare)
