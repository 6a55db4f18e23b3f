"""Charter updates: applied whole and signed, or refused whole with a charter_rejected alert."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from monitor import testing as tb
from monitor.charter import load_charter_dir
from monitor.core import Engine, EngineSettings
from monitor.core.policy import CharterSet
from monitor.events import CharterUpdated, decode_event
from monitor.replay import replay_lines
from monitor.signing import parse_keyring, sign_charter
from monitor.worker.processor import Processor
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
    doc: dict[str, Any], signature: str | None = None, event_id: str = "cu"
) -> CharterUpdated:
    return CharterUpdated(
        event_id=event_id, ts=tb.at(2), agent_id=A, charter=doc, signature=signature
    )


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
    eng = Engine([CH])
    (alert,) = eng.process(update(bad)).alerts
    assert eng.charters.for_agent(A) is not None and eng.charters.for_agent(A).charter == CH
    assert alert.detector == "charter_rejected" and alert.severity == "high"
    assert alert.clause.key.startswith(key) and alert.clause.charter == PATTERN
    assert alert.evidence == ["cu"] and alert.mode == CH.mode
    assert "rejected as a whole" in alert.reason and key.split(".")[0] in alert.reason
    assert f"the charter loaded for {PATTERN!r} stays in force" in alert.reason
    assert not eng.process(update(bad)).revocations
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
    assert not eng.process(update(WIDER, sign_charter(WIDER, KEYS))).alerts
    assert granted(eng)


def test_a_signed_but_invalid_update_is_still_rejected_on_its_content() -> None:
    eng = Engine([CH], EngineSettings(charter_keys=KEYS))
    bad = {**WIDER, "mode": "loud"}
    (alert,) = eng.process(update(bad, sign_charter(bad, KEYS))).alerts
    assert alert.clause.key == "mode"


def test_the_signature_survives_json_on_the_bus() -> None:
    raw = orjson.dumps(
        {
            "type": "charter_updated",
            "event_id": "cu",
            "ts": "2026-03-02T09:00:02Z",
            "agent_id": A,
            "charter": WIDER,
            "signature": sign_charter(WIDER, KEYS),
        }
    )
    eng = Engine([CH], EngineSettings(charter_keys=KEYS))
    assert not eng.process(decode_event(raw)).alerts and granted(eng)


def test_without_keys_unsigned_updates_are_applied_as_before() -> None:
    eng = Engine([CH])
    assert not eng.process(update(WIDER)).alerts
    assert granted(eng)


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
    assert not proc.apply_charter_broadcast(raw)
    assert proc.charters.for_agent(A).charter == CH
    signed = orjson.dumps({**orjson.loads(raw), "signature": sign_charter(WIDER, KEYS)})
    assert proc.apply_charter_broadcast(signed)
    assert proc.charters.for_agent(A).charter != CH
