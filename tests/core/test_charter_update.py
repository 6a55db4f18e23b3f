"""Charter updates: applied whole, signed and newer, or refused whole with a charter_rejected
alert; unsigned ones only when explicitly allowed (charter_unsigned alert); a widening one
is applied and alerted (charter_widened)."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
import structlog
from structlog.testing import capture_logs

from monitor import testing as tb
from monitor.charter import Charter, load_charter_dir
from monitor.core import Engine, EngineSettings
from monitor.core.policy import MAX_SIGNED_KEPT, CharterSet
from monitor.events import CharterUpdated, decode_event
from monitor.replay import replay_lines
from monitor.settings import load_settings
from monitor.signing import parse_keyring, sign_charter
from monitor.worker.processor import Processor
from monitor.worker.run import warn_unsigned
from tests.worker.support import EXAMPLE_CHARTERS

A = "agent:assist/1"
PATTERN = "agent:assist/*"
CH = tb.charter(
    PATTERN, "delegated", tools=[{"server": "fs", "tool": "read_file", "classes": ["read"]}]
)
KEYS = parse_keyring("policy-1:0123456789abcdef0123")
ATTACKER = parse_keyring("policy-1:not-the-policy-key-at-all")
assert KEYS is not None and ATTACKER is not None

#: grants the agent a tool it does not have
WIDER = {
    "agent": PATTERN,
    "kind": "delegated",
    "tools": [
        {"server": "fs", "tool": "read_file", "classes": ["read"]},
        {"server": "github", "tool": "delete_repo", "classes": ["admin"]},
    ],
}


def update(
    doc: dict[str, Any],
    signature: str | None = None,
    event_id: str = "cu",
    version: int | None = None,
) -> CharterUpdated:
    return CharterUpdated(
        event_id=event_id,
        ts=tb.at(2),
        agent_id=A,
        charter=doc,
        signature=signature,
        version=version,
    )


def signed(doc: dict[str, Any], version: int, event_id: str = "cu") -> CharterUpdated:
    """``doc`` as the policy owner sends it: versioned and signed with KEYS."""
    return update(doc, sign_charter(doc, KEYS, version), event_id, version)


ALLOW_UNSIGNED = EngineSettings(charter_allow_unsigned=True)


def granted(eng: Engine) -> bool:
    """Is github/delete_repo granted to A by the charter in force?"""
    charter = eng.charters.for_agent(A)
    return charter is not None and charter.grant("github", "delete_repo") is not None


@pytest.mark.parametrize(
    ("bad", "key"),
    [
        ({**WIDER, "tols": []}, "tols"),  # a misspelt key: everything else is fine
        ({**WIDER, "limits": {"max_calls_per_minute": -1}}, "limits.max_calls_per_minute"),
        ({**WIDER, "kind": "robot"}, "kind"),
        ({**WIDER, "forbidden_chains": [{"name": "x", "sequence": ["read"]}]}, "forbidden_chains"),
    ],
)
def test_an_invalid_update_is_rejected_whole_and_the_previous_charter_stays(
    bad: dict[str, Any], key: str
) -> None:
    eng = Engine([CH], EngineSettings(charter_keys=KEYS))
    (alert,) = eng.process(signed(bad, 1)).alerts
    assert eng.charters.for_agent(A) is not None and eng.charters.for_agent(A).charter == CH
    assert alert.detector == "charter_rejected" and alert.severity == "high"
    assert alert.clause.key.startswith(key) and alert.clause.charter == PATTERN
    assert alert.evidence == ["cu"] and alert.mode == CH.mode
    assert "rejected as a whole" in alert.reason and key.split(".")[0] in alert.reason
    assert f"the charter loaded for {PATTERN!r} stays in force" in alert.reason
    assert not eng.process(signed(bad, 1)).revocations
    assert not granted(eng)  # the valid part of the update was not applied either
    assert eng.stats["charter_rejected"] == 2 and eng.stats["charter_updated"] == 0


def test_with_charter_keys_unsigned_and_forged_updates_are_refused() -> None:
    eng = Engine([CH], EngineSettings(charter_keys=KEYS))
    cases = {
        "unsigned": update(WIDER, None, "u1"),
        "bad signature (key policy-1)": update(WIDER, sign_charter(WIDER, ATTACKER), "u2"),
        "unknown key id 'other'": update(
            WIDER, "hmac-sha256:other:" + sign_charter(WIDER, KEYS).rsplit(":", 1)[1], "u3"
        ),
        # a signature of another (valid) document does not carry over
        "bad signature (key policy-1)#": update(WIDER, sign_charter(CH.model_dump(), KEYS), "u4"),
    }
    for why, ev in cases.items():
        (alert,) = eng.process(ev).alerts
        assert alert.clause.key == "signature"
        assert f"not signed by an authorised charter key: {why.rstrip('#')}" in alert.reason
        assert not granted(eng)
    assert eng.charters.for_agent(A).charter == CH


def test_with_charter_keys_a_signed_update_is_applied() -> None:
    eng = Engine([CH], EngineSettings(charter_keys=KEYS))
    narrower = {**WIDER, "mode": "enforce", "tools": []}
    assert not eng.process(signed(narrower, 1)).alerts  # takes away: nothing to say
    assert eng.charters.for_agent(A).charter.tools == []
    assert eng.stats["charter_updated"] == 1


def test_a_signed_but_invalid_update_is_still_rejected_on_its_content() -> None:
    eng = Engine([CH], EngineSettings(charter_keys=KEYS))
    bad = {**WIDER, "mode": "loud"}
    (alert,) = eng.process(signed(bad, 1)).alerts
    assert alert.clause.key == "mode"


def test_the_signature_survives_json_on_the_bus() -> None:
    raw = orjson.dumps(
        {
            "type": "charter_updated",
            "event_id": "cu",
            "ts": "2026-03-02T09:00:02Z",
            "agent_id": A,
            "charter": WIDER,
            "version": 7,
            "signature": sign_charter(WIDER, KEYS, 7),
        }
    )
    eng = Engine([CH], EngineSettings(charter_keys=KEYS))
    (alert,) = eng.process(decode_event(raw)).alerts
    assert alert.detector == "charter_widened" and granted(eng)
    assert eng.charters.signed_versions[PATTERN] == {"cu": 7}


def test_replay_and_the_worker_refuse_the_same_updates_with_the_same_alert() -> None:
    settings = EngineSettings(charter_keys=KEYS)
    lines = [
        orjson.dumps(
            {
                "type": "charter_updated",
                "event_id": f"cu{i}",
                "ts": "2026-03-02T09:00:02Z",
                "agent_id": "spiffe://corp/agents/patcher-1",
                "charter": {"agent": "spiffe://corp/agents/patcher-*", "kind": "autonomous"},
                **extra,
            }
        )
        for i, extra in enumerate([{}, {"signature": "hmac-sha256:policy-1:AAAA"}])
    ]
    a, r, d = io.BytesIO(), io.BytesIO(), io.BytesIO()
    replay_lines(lines, Engine(load_charter_dir(EXAMPLE_CHARTERS), settings), a, r, d)
    replayed = a.getvalue().splitlines()
    proc = Processor(CharterSet(load_charter_dir(EXAMPLE_CHARTERS)), settings)
    proc.assign(0, {}, now=0.0)
    outs = [proc.handle(0, i, line) for i, line in enumerate(lines)]
    assert [rec.value for out in outs for rec in out.decisions] == replayed and len(replayed) == 2
    assert not [n for out in outs for n in out.notes]  # refused updates are not broadcast
    assert d.getvalue() == b""


def test_a_forged_update_arriving_by_broadcast_is_refused() -> None:
    proc = Processor(CharterSet([CH]), EngineSettings(charter_keys=KEYS))
    raw = orjson.dumps(
        {
            "type": "charter_updated",
            "event_id": "cu",
            "ts": "2026-03-02T09:00:02Z",
            "agent_id": A,
            "charter": WIDER,
        }
    )
    with capture_logs() as logs:
        assert not proc.apply_charter_broadcast(raw)
    assert proc.charters.for_agent(A).charter == CH
    (said,) = [x for x in logs if x["event"] == "charter_broadcast_refused"]
    assert said["log_level"] == "warning" and said["key"] == "signature"
    good = {**orjson.loads(raw), "version": 3, "signature": sign_charter(WIDER, KEYS, 3)}
    assert proc.apply_charter_broadcast(orjson.dumps(good))
    assert proc.charters.for_agent(A).charter != CH
    assert proc.counters["charter_broadcast_invalid"] == 1


# ---------------------------------------------------------------- issue 13 item 8
#: what the issue saw applied silently: every tool, and no enforcement
WIDE_OPEN = {"agent": PATTERN, "kind": "delegated", "mode": "observe", "tools": [
    {"server": "*", "tool": "*"}]}  # fmt: skip


def test_an_unsigned_wide_update_is_refused_by_default_with_an_alert_saying_how_to_sign() -> None:
    eng = Engine([CH])  # no keys, nothing allowed: the defaults
    (alert,) = eng.process(update(WIDE_OPEN)).alerts
    assert alert.detector == "charter_rejected" and alert.clause.key == "signature"
    assert "unsigned charter updates are refused" in alert.reason
    assert "mcpmon sign-charter" in alert.reason and "MCPMON_CHARTER_ALLOW_UNSIGNED" in alert.reason
    assert eng.charters.for_agent(A).charter == CH  # still enforced, still one tool
    # a signature it cannot check does not help
    (alert,) = eng.process(update(WIDE_OPEN, sign_charter(WIDE_OPEN, KEYS, 1), "s", 1)).alerts
    assert alert.detector == "charter_rejected" and "no charter keys" in alert.reason
    assert eng.charters.for_agent(A).charter == CH
    assert eng.stats["charter_updated"] == 0 and eng.stats["charter_rejected"] == 2


def test_allowed_unsigned_updates_are_applied_with_a_charter_unsigned_alert() -> None:
    eng = Engine([CH], ALLOW_UNSIGNED)
    alerts = {a.detector: a for a in eng.process(update(WIDE_OPEN)).alerts}
    assert set(alerts) == {"charter_unsigned", "charter_widened"}
    unsigned = alerts["charter_unsigned"]
    assert unsigned.severity == "medium" and "applied unsigned" in unsigned.reason
    assert "MCPMON_CHARTER_ALLOW_UNSIGNED" in unsigned.reason and unsigned.evidence == ["cu"]
    assert unsigned.frameworks.owasp_agentic and unsigned.frameworks.nist_ai_rmf == ["GOVERN"]
    charter = eng.charters.for_agent(A)
    assert charter is not None and charter.mode == "observe" and granted(eng)
    assert PATTERN not in eng.charters.signed_versions  # unsigned: no version is recorded
    # with keys as well, a forged signature is refused all the same (only "unsigned" is allowed)
    keyed = Engine([CH], EngineSettings(charter_keys=KEYS, charter_allow_unsigned=True))
    (alert,) = keyed.process(update(WIDE_OPEN, sign_charter(WIDE_OPEN, ATTACKER, 1), "f", 1)).alerts
    assert alert.detector == "charter_rejected" and alert.clause.key == "signature"
    detectors = [a.detector for a in keyed.process(update(WIDE_OPEN, None, "u")).alerts]
    assert detectors == ["charter_unsigned", "charter_widened"]


def test_a_replayed_older_signed_update_is_refused_even_under_a_new_event_id() -> None:
    eng = Engine([CH], EngineSettings(charter_keys=KEYS))
    wide = signed(WIDER, 100, "grant")  # an old, genuine update that granted delete_repo
    narrow = {**WIDER, "mode": "enforce", "tools": WIDER["tools"][:1]}
    assert [a.detector for a in eng.process(wide).alerts] == ["charter_widened"]
    assert not eng.process(signed(narrow, 200, "revoke-grant")).alerts
    assert not granted(eng)
    for replay in (
        wide.model_copy(update={"event_id": "grant-again"}),  # the attack
        signed(WIDER, 200, "same-version"),  # equal is not newer
    ):
        (alert,) = eng.process(replay).alerts
        assert alert.detector == "charter_rejected" and alert.clause.key == "version"
        assert "a replay of an older signed update" in alert.reason
        assert f"version {replay.version} is not above version 200" in alert.reason
        assert not granted(eng)
    # updates applied before, redelivered (same event id and version, e.g. after a worker
    # crash): nothing at all, neither applied again nor alerted
    for redelivered in (signed(narrow, 200, "revoke-grant"), wide):
        again = eng.process(redelivered)
        assert again.duplicate and not again.alerts and not granted(eng)
    # the version cannot be bumped by whoever replays: the signature covers it
    bumped = wide.model_copy(update={"event_id": "bumped", "version": 300})
    (alert,) = eng.process(bumped).alerts
    assert alert.clause.key == "signature" and "bad signature" in alert.reason
    assert not granted(eng)
    assert eng.charters.signed_versions[PATTERN] == {"grant": 100, "revoke-grant": 200}
    # a newer genuine one is applied
    assert [a.detector for a in eng.process(signed(WIDER, 201, "regrant")).alerts] == [
        "charter_widened"
    ]
    assert granted(eng)


def test_a_signature_without_a_version_is_refused() -> None:
    eng = Engine([CH], EngineSettings(charter_keys=KEYS))
    (alert,) = eng.process(update(WIDER, sign_charter(WIDER, KEYS))).alerts  # as signed before
    assert alert.clause.key == "version" and "signed without a version" in alert.reason
    assert not granted(eng)


@pytest.mark.parametrize(
    ("change", "widened"),
    [
        ({"tools": [{"server": "fs", "tool": "read_file", "classes": ["read"]},
                    {"server": "web", "tool": "post", "classes": ["send"]},
                    {"server": "gh", "tool": "push"}]},
         "tools: granted gh/push"),
        ({"tools": [{"server": "fs", "tool": "*", "classes": ["read"]},
                    {"server": "web", "tool": "post", "classes": ["send"]}]},
         "tools: granted fs/*"),  # a glob that covers more
        ({"mode": "observe"}, "mode: enforce → observe"),
        ({"tenants": None}, "tenants: ['corp'] → any"),
        ({"tenants": ["corp", "other"]}, "tenants: added other"),
        ({"data_domains": ["hr", "finance"]}, "data_domains: added finance"),
        ({"resources": ["file:///srv/**"]}, "resources: added file:///srv/**"),
        ({"forbidden_chains": []}, "forbidden_chains: removed exfil"),
        ({"limits": {"max_calls_per_minute": 600}}, "limits.max_calls_per_minute: 60 → 600"),
        ({"baseline": {"enabled": False}}, "baseline.enabled: True → False"),
    ],
)  # fmt: skip
def test_a_widening_signed_update_is_applied_and_alerted_with_what_widened(
    change: dict[str, Any], widened: str
) -> None:
    base = tb.charter(
        PATTERN,
        "delegated",
        tools=[{"server": "fs", "tool": "read_file", "classes": ["read"]},
               {"server": "web", "tool": "post", "classes": ["send"]}],
        tenants=["corp"],
        data_domains=["hr"],
        resources=["file:///srv/app/*"],
        forbidden_chains=[{"name": "exfil", "sequence": ["read", "send"]}],
        limits={"max_calls_per_minute": 60},
    )  # fmt: skip
    doc = {**base.model_dump(mode="json"), **change}
    eng = Engine([base], EngineSettings(charter_keys=KEYS))
    (alert,) = eng.process(signed(doc, 5, "widen")).alerts
    assert alert.detector == "charter_widened" and alert.severity == "high"
    assert widened in alert.reason and widened in str(alert.details["widened"])
    assert "signed, version 5" in alert.reason and alert.evidence == ["widen"]
    assert alert.clause.key == widened.split(":")[0].split(".")[0]
    assert alert.frameworks.owasp_agentic[0].id == "ASI03"
    assert eng.charters.for_agent(A).charter == Charter.model_validate(doc)  # applied
    assert not eng.process(signed(base.model_dump(mode="json"), 6, "back")).alerts  # narrowing


def test_a_charter_for_a_new_pattern_is_a_widening() -> None:
    eng = Engine([CH], EngineSettings(charter_keys=KEYS))
    doc = {"agent": "agent:new/*", "kind": "autonomous", "tools": [{"server": "s", "tool": "t"}]}
    (alert,) = eng.process(signed(doc, 1)).alerts
    assert alert.detector == "charter_widened" and "charter added" in alert.reason
    assert "no charter (a new pattern)" in alert.reason


def test_a_key_scoped_to_commands_cannot_sign_a_charter_update() -> None:
    ring = parse_keyring(
        "mon-1@commands:0123456789abcdef0123,policy-1@charters:fedcba9876543210fedc"
    )
    commands_only = parse_keyring("mon-1:0123456789abcdef0123")  # same key, as a signer holds it
    assert ring is not None and commands_only is not None
    eng = Engine([CH], EngineSettings(charter_keys=ring))
    forged = update(WIDER, sign_charter(WIDER, commands_only, 9), "by-mon", 9)
    (alert,) = eng.process(forged).alerts
    assert alert.detector == "charter_rejected" and alert.clause.key == "signature"
    assert "key mon-1 may not sign charters (its scopes: commands)" in alert.reason
    assert not granted(eng)
    # the worker: refused, not broadcast, alerted
    proc = Processor(CharterSet([CH]), EngineSettings(charter_keys=ring))
    proc.assign(0, {}, now=0.0)
    out = proc.handle(0, 0, orjson.dumps(forged.model_dump(mode="json")))
    assert not out.notes and not proc.apply_charter_broadcast(
        orjson.dumps(forged.model_dump(mode="json"))
    )
    (rec,) = out.decisions
    assert orjson.loads(rec.value)["detector"] == "charter_rejected"
    assert proc.charters.for_agent(A).charter == CH
    # the policy key signs it
    by_policy = update(WIDER, sign_charter(WIDER, ring, 9), "by-policy", 9)
    assert (by_policy.signature or "").startswith("hmac-sha256:policy-1:")
    assert [a.detector for a in eng.process(by_policy).alerts] == ["charter_widened"]


def test_versions_survive_a_worker_restart_through_the_charter_topic() -> None:
    """The compacted charter topic keeps the update in force; a restarted worker reads it
    first (CharterFeed.catch_up), so its version is known before any event is processed."""
    settings = EngineSettings(charter_keys=KEYS)
    first = Processor(CharterSet([CH]), settings)
    first.assign(0, {}, now=0.0)
    old = signed(WIDER, 100, "grant")
    narrow = signed({**WIDER, "mode": "enforce", "tools": WIDER["tools"][:1]}, 200, "narrow")
    topic = [n.value for ev in (old, narrow) for n in first.handle(0, 0, _raw(ev)).notes]
    assert len(topic) == 2
    restarted = Processor(CharterSet([CH]), settings)
    for raw in topic[-1:]:  # compaction keeps the last per pattern
        assert restarted.apply_charter_broadcast(raw)
    restarted.assign(0, {}, now=0.0)
    out = restarted.handle(0, 5, _raw(old.model_copy(update={"event_id": "grant-replayed"})))
    (rec,) = out.decisions
    alert = orjson.loads(rec.value)
    assert alert["detector"] == "charter_rejected" and alert["clause"]["key"] == "version"
    assert not out.notes and not granted_in(restarted)
    # the update in force redelivered after the restart: a duplicate, no alert, no broadcast
    again = restarted.handle(0, 6, _raw(narrow))
    assert not again and restarted.counters["duplicates"] == 1


def test_the_worker_logs_a_warning_for_every_update_applied_unsigned() -> None:
    proc = Processor(CharterSet([CH]), ALLOW_UNSIGNED)
    proc.assign(0, {}, now=0.0)
    with capture_logs() as logs:
        out = proc.handle(0, 0, _raw(update(WIDE_OPEN)))
    assert [n.topic for n in out.notes] == ["mcp.charters"]  # applied: broadcast
    detectors = sorted(orjson.loads(r.value)["detector"] for r in out.decisions)
    assert detectors == ["charter_unsigned", "charter_widened"]
    (warning,) = [x for x in logs if x["event"] == "charter_applied_unsigned"]
    assert warning["log_level"] == "warning" and warning["pattern"] == PATTERN


def _raw(ev: CharterUpdated) -> bytes:
    return orjson.dumps(ev.model_dump(mode="json", exclude_none=True))


def granted_in(proc: Processor) -> bool:
    charter = proc.charters.for_agent(A)
    return charter is not None and charter.grant("github", "delete_repo") is not None


@pytest.mark.parametrize(
    ("env", "event"),
    [
        ({}, "charter_updates_refused"),
        ({"MCPMON_CHARTER_ALLOW_UNSIGNED": "true"}, "charter_updates_unauthenticated"),
        (
            {"MCPMON_CHARTER_ALLOW_UNSIGNED": "true",
             "MCPMON_CHARTER_SIGNING_KEYS": "policy-1:0123456789abcdef0123"},
            "charter_updates_unauthenticated",
        ),
        ({"MCPMON_CHARTER_SIGNING_KEYS": "policy-1:0123456789abcdef0123"}, None),
    ],
)  # fmt: skip
def test_the_worker_says_at_start_what_happens_to_charter_updates(
    env: dict[str, str], event: str | None
) -> None:
    with capture_logs() as logs:
        warn_unsigned(load_settings(env=env), structlog.get_logger("t"))
    said = [x for x in logs if x["event"].startswith("charter_updates")]
    assert [x["event"] for x in said] == ([event] if event else [])
    assert all(x["log_level"] == "warning" for x in said)


def test_the_applied_versions_kept_per_pattern_are_bounded() -> None:
    eng = Engine([CH], EngineSettings(charter_keys=KEYS))
    narrow = {**WIDER, "mode": "enforce", "tools": WIDER["tools"][:1]}
    for v in range(1, MAX_SIGNED_KEPT + 11):
        assert not eng.process(signed(narrow, v, f"u{v}")).alerts
    kept = eng.charters.signed_versions[PATTERN]
    assert len(kept) == MAX_SIGNED_KEPT and list(kept.items())[-1] == (f"u{v}", v)
    # one forgotten (u1) is older than the one in force: a replay, refused
    (alert,) = eng.process(signed(narrow, 1, "u1")).alerts
    assert alert.clause.key == "version"


def test_alerts_of_an_applied_update_are_redacted_like_every_other_alert() -> None:
    """charter_widened and charter_unsigned quote the update: a secret in it never leaves."""
    secret = "glpat-" + "Ab3dEf6hIj9kLm2nOp5q"
    tool = {"server": "git", "tool": f"push private_token={secret}", "classes": ["write"]}
    doc = {**WIDER, "tools": [*WIDER["tools"], tool]}  # the grant is quoted in the alert
    eng = Engine([CH], EngineSettings(charter_keys=KEYS))
    (widened,) = eng.process(signed(doc, 7, "widen")).alerts
    assert widened.detector == "charter_widened"
    assert secret not in widened.to_json().decode()
    eng = Engine([CH], ALLOW_UNSIGNED)
    alerts = eng.process(update(doc)).alerts
    assert {a.detector for a in alerts} == {"charter_unsigned", "charter_widened"}
    assert all(secret not in a.to_json().decode() for a in alerts)


# ---------------------------------------------------------------- what each verdict says, exactly

_RULE = (
    "a charter update is applied only whole, valid, signed by an authorised key and newer than "
    "the one in force"
)
_HOW = (
    "sign charter updates with mcpmon sign-charter under a key of MCPMON_CHARTER_SIGNING_KEYS, "
    "or allow unsigned ones with MCPMON_CHARTER_ALLOW_UNSIGNED=true (not in production)"
)
_STAYS = f"the charter loaded for {PATTERN!r} stays in force"
_NONE = "no charter was in force for it and none is now"


def _current() -> Any:
    return CharterSet([CH]).put(CH)


def _rejected(r: Any, reason: str, key: str, *, current: bool = True, **details: Any) -> None:
    from monitor.output_contracts import Alert

    assert isinstance(r, Alert)
    assert r.reason == reason
    assert (r.detector, r.severity, r.score, r.clause.key, r.clause.text) == (
        "charter_rejected", "high", 1.0, key, _RULE
    )  # fmt: skip
    assert (r.mode, r.agent_kind) == (("enforce", "delegated") if current else ("observe", None))
    assert r.details == details
    assert r.evidence == [r.details["event_id"]]


def test_a_signature_this_monitor_cannot_check_is_refused_saying_how_to_sign() -> None:
    from monitor.core.charter_update import check_update

    r = check_update(update(WIDER, "hmac-sha256:x:y"), None, _current())
    why = f"this monitor has no charter keys to check its signature; {_HOW}"
    _rejected(r, f"charter update cu for {PATTERN!r} was rejected as a whole, {why}; {_STAYS}",
              "signature", event_id="cu", signed=True, version=None)  # fmt: skip


def test_an_unsigned_update_for_a_new_or_unnamed_pattern_is_refused() -> None:
    from monitor.core.charter_update import check_update

    why = f"unsigned, and unsigned charter updates are refused; {_HOW}"
    r = check_update(update(WIDER), None, None)
    _rejected(r, f"charter update cu for {PATTERN!r} was rejected as a whole, {why}; {_NONE}",
              "signature", current=False, event_id="cu", signed=False, version=None)  # fmt: skip
    r = check_update(update({"kind": "x"}), None, None)
    assert (
        r.reason
        == f"charter update cu for an unnamed pattern was rejected as a whole, {why}; {_NONE}"
    )  # type: ignore[union-attr]
    assert r.clause.charter is None  # type: ignore[union-attr]


def test_unsigned_or_versionless_updates_under_charter_keys_are_refused() -> None:
    from monitor.core.charter_update import check_update

    r = check_update(update(WIDER), KEYS, _current())
    why = "not signed by an authorised charter key: unsigned"
    _rejected(r, f"charter update cu for {PATTERN!r} was rejected as a whole, {why}; {_STAYS}",
              "signature", event_id="cu", signed=False, version=None)  # fmt: skip
    r = check_update(update(WIDER, sign_charter(WIDER, KEYS)), KEYS, _current())
    why = (
        "signed without a version, so it could be replayed at any time; sign it again with "
        "mcpmon sign-charter, which stamps one"
    )
    _rejected(r, f"charter update cu for {PATTERN!r} was rejected as a whole, {why}; {_STAYS}",
              "version", event_id="cu", signed=True, version=None)  # fmt: skip


def test_a_replay_is_compared_with_the_version_in_force_and_a_redelivery_is_nothing() -> None:
    from monitor.core.charter_update import check_update

    applied = {"e1": 2, "e2": 3}
    r = check_update(signed(WIDER, 3, "e3"), KEYS, _current(), applied=applied)
    why = (
        "its version 3 is not above version 3 accepted for the pattern (event e2): a replay of "
        "an older signed update"
    )
    _rejected(r, f"charter update e3 for {PATTERN!r} was rejected as a whole, {why}; {_STAYS}",
              "version", event_id="e3", signed=True, version=3)  # fmt: skip
    assert check_update(signed(WIDER, 3, "e2"), KEYS, _current(), applied=applied) is None
    assert check_update(signed(WIDER, 2, "e1"), KEYS, _current(), applied=applied) is None
    assert check_update(signed(WIDER, 2, "e9"), KEYS, _current(), applied=applied) is not None
    ok = check_update(signed(WIDER, 4, "e4"), KEYS, _current(), applied=applied)
    assert ok is not None and getattr(ok, "version", None) == 4


def test_an_invalid_update_lists_five_problems_and_counts_the_rest() -> None:
    from monitor.core.charter_update import check_update

    bad = {"agent": PATTERN, "kind": "robot", "mode": "x", **{f"a{i}": i for i in range(1, 6)}}
    r = check_update(signed(bad, 1), KEYS, _current())
    unknown = "unknown key (misspelt? unknown keys are rejected so no rule is silently ignored)"
    why = (
        "invalid: kind: Input should be 'delegated' or 'autonomous'; mode: Input should be "
        f"'enforce' or 'observe'; a1: {unknown}; a2: {unknown}; a3: {unknown} (and 2 more)"
    )
    _rejected(r, f"charter update cu for {PATTERN!r} was rejected as a whole, {why}; {_STAYS}",
              "kind", event_id="cu", signed=True, version=1)  # fmt: skip
    five = {"agent": PATTERN, "kind": "robot", "mode": "x", "a1": 1, "a2": 2, "a3": 3}
    r = check_update(signed(five, 1), KEYS, _current())
    assert "(and" not in r.reason and f"a3: {unknown}; the charter" in r.reason  # type: ignore[union-attr]


_UNSIGNED_TAIL = (
    "only because unsigned charter updates are allowed (MCPMON_CHARTER_ALLOW_UNSIGNED): anyone "
    "who can write to the events topic can change this policy; sign updates with mcpmon "
    "sign-charter and turn the setting off"
)


def test_an_allowed_unsigned_update_says_so_and_whether_its_signature_was_checked() -> None:
    from monitor.core.charter_update import check_update

    ok = check_update(update(WIDER, "hmac-sha256:x:y"), None, _current(), allow_unsigned=True)
    unsigned, widened = ok.alerts  # type: ignore[union-attr]
    assert unsigned.reason == (
        f"charter update cu for {PATTERN!r} was applied unsigned (its signature was not checked: "
        f"no charter keys), {_UNSIGNED_TAIL}"
    )
    assert (unsigned.detector, unsigned.severity, unsigned.clause.key, unsigned.clause.text) == (
        "charter_unsigned", "medium", "signature",
        "charter updates are signed by the policy owner; this monitor is set to apply unsigned ones",
    )  # fmt: skip
    assert unsigned.mode == "observe"  # the mode of the charter applied
    assert unsigned.details == {"event_id": "cu", "signed": True, "version": None,
                                "keys_configured": False}  # fmt: skip
    assert widened.reason == (
        f"charter update cu (unsigned) for {PATTERN!r} was applied and grants more than the "
        "charter in force: mode: enforce → observe; tools: granted github/delete_repo [admin]; "
        "confirm with the policy owner that it is intended"
    )
    assert (widened.detector, widened.severity, widened.clause.key, widened.clause.text) == (
        "charter_widened", "high", "mode",
        "a charter update that grants more than the charter in force is reported",
    )  # fmt: skip
    assert widened.details["widened_count"] == 2
    ok = check_update(update(WIDER), None, None, allow_unsigned=True)
    unsigned, widened = ok.alerts  # type: ignore[union-attr]
    assert (
        unsigned.reason
        == f"charter update cu for {PATTERN!r} was applied unsigned, {_UNSIGNED_TAIL}"
    )
    assert widened.reason == (
        f"charter update cu (unsigned) for {PATTERN!r} was applied and grants more than no "
        f"charter (a new pattern): charter added: grants 2 tool(s) to {PATTERN}; confirm with "
        "the policy owner that it is intended"
    )
    assert widened.clause.key == "charter" and widened.agent_kind is None
    assert widened.clause.mission == ""  # no charter in force: no mission to name


def test_a_wide_signed_update_lists_eight_changes_and_counts_the_rest() -> None:
    from monitor.core.charter_update import check_update

    many = {**WIDER, "tools": [{"server": f"s{i}", "tool": "t"} for i in range(10)]}
    ok = check_update(signed(many, 1), KEYS, _current())
    [widened] = ok.alerts  # type: ignore[union-attr]
    granted_ = [f"tools: granted s{i}/t []" for i in range(10)]
    assert widened.reason == (
        f"charter update cu (signed, version 1) for {PATTERN!r} was applied and grants more "
        f"than the charter in force: mode: enforce → observe; {'; '.join(granted_[:7])} "
        "(and 3 more); confirm with the policy owner that it is intended"
    )
    assert widened.details == {
        "event_id": "cu", "signed": True, "version": 1,
        "widened": "; ".join(["mode: enforce → observe", *granted_]), "widened_count": 11,
    }  # fmt: skip
    eight = {**WIDER, "tools": [{"server": f"s{i}", "tool": "t"} for i in range(7)]}
    [widened] = check_update(signed(eight, 1), KEYS, _current()).alerts  # type: ignore[union-attr]
    assert "(and" not in widened.reason and "s6/t" in widened.reason


def test_every_alert_names_the_pattern_the_charter_in_force_and_its_mission() -> None:
    from monitor.core.charter_update import check_update

    cur = CharterSet([]).put(tb.charter(PATTERN, "delegated", mode="enforce", mission="triage",
                                        tools=[{"server": "fs", "tool": "read_file"}]))  # fmt: skip
    wider = {**WIDER, "mode": "enforce", "mission": "triage"}
    r = check_update(update(wider, "hmac-sha256:policy-1:forged"), KEYS, cur)
    assert (r.clause.charter, r.clause.mission, r.agent_kind, r.mode) == (  # type: ignore[union-attr]
        PATTERN,
        "triage",
        "delegated",
        "enforce",
    )
    ok = check_update(update(wider, None, version=7), None, cur, allow_unsigned=True)
    assert ok.version is None  # type: ignore[union-attr]  # applied unsigned: no version recorded
    for a in ok.alerts:  # type: ignore[union-attr]
        assert (a.clause.charter, a.clause.mission, a.agent_kind, a.mode) == (
            PATTERN, "triage", "delegated", "enforce"
        )  # fmt: skip
    assert [a.detector for a in ok.alerts] == ["charter_unsigned", "charter_widened"]  # type: ignore[union-attr]
    assert ok.alerts[0].details["keys_configured"] is False  # type: ignore[union-attr]
    ok = check_update(update(wider), KEYS, cur, allow_unsigned=True)
    assert ok.alerts[0].details["keys_configured"] is True  # type: ignore[union-attr]


def test_a_non_string_pattern_is_an_unnamed_one() -> None:
    from monitor.core.charter_update import check_update

    r = check_update(update({"agent": 5, "kind": "delegated"}), None, None)
    assert r.clause.charter is None and "for an unnamed pattern was" in r.reason  # type: ignore[union-attr]


def test_alert_ids_differ_by_agent_detector_key_and_event() -> None:
    from monitor.core.charter_update import check_update

    def rid(ev: CharterUpdated, keys: Any = KEYS, **kw: Any) -> str:
        r = check_update(ev, keys, _current(), **kw)
        return r.alert_id if hasattr(r, "alert_id") else r.alerts[0].alert_id  # type: ignore[union-attr]

    base = rid(update(WIDER, None, "e1"))  # rejected, key signature
    assert rid(update(WIDER, None, "e2")) != base  # another event
    assert rid(update(WIDER, None, "e1").model_copy(update={"agent_id": "agent:assist/2"})) != base
    assert rid(update(WIDER, sign_charter(WIDER, KEYS), "e1")) != base  # rejected, key version
    assert rid(update(WIDER, None, "e1"), None, allow_unsigned=True) != base  # charter_unsigned


def test_six_problems_list_five_and_count_one_more() -> None:
    from monitor.core.charter_update import check_update

    six = {"agent": PATTERN, "kind": "robot", "mode": "x", "a1": 1, "a2": 2, "a3": 3, "a4": 4}
    r = check_update(signed(six, 1), KEYS, _current())
    assert r.reason.endswith(
        f"a3: unknown key (misspelt? unknown keys are rejected so no rule is silently ignored) (and 1 more); {_STAYS}"
    )  # type: ignore[union-attr]


def test_the_widened_detail_is_cut_at_2048_characters() -> None:
    from monitor.core.charter_update import check_update

    many = {**WIDER, "tools": [{"server": f"s{i}", "tool": "t"} for i in range(200)]}
    [widened] = check_update(signed(many, 1), KEYS, _current()).alerts  # type: ignore[union-attr]
    assert len(widened.details["widened"]) == 2048 and widened.details["widened_count"] == 201
