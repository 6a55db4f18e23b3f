"""``mcpmon sign-charter`` and ``mcpmon replay`` with keys: what they write verifies."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from monitor.cli import main
from monitor.core import Engine, EngineSettings
from monitor.events import decode_event
from monitor.outputs import RevocationCommand
from monitor.signing import check_command, parse_keyring
from tests.worker.support import EXAMPLE_CHARTERS, EXAMPLE_EVENTS

KEYS = "policy-1:0123456789abcdef0123"
CMD_KEYS = "mon-1:fedcba9876543210fedc"


def test_sign_charter_prints_updates_a_keyed_engine_applies(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MCPMON_CHARTER_SIGNING_KEYS", KEYS)
    path = EXAMPLE_CHARTERS / "patcher.yaml"
    assert main(["sign-charter", str(path), "--ts", "2026-03-02T09:00:00Z"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    ev = decode_event(line)
    assert ev.type == "charter_updated" and ev.agent_id == "spiffe://corp/agents/patcher-*"
    eng = Engine([], EngineSettings(charter_keys=parse_keyring(KEYS)))
    assert not eng.process(ev).alerts
    assert eng.charters.for_agent("spiffe://corp/agents/patcher-1") is not None
    doc = orjson.loads(line)
    doc["charter"]["mode"] = "observe"  # changed after signing
    (alert,) = eng.process(decode_event(orjson.dumps({**doc, "event_id": "x"}))).alerts
    assert alert.detector == "charter_rejected" and alert.clause.key == "signature"


def test_sign_charter_without_a_key_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MCPMON_CHARTER_SIGNING_KEYS", raising=False)
    assert main(["sign-charter", str(EXAMPLE_CHARTERS / "patcher.yaml")]) == 1
    assert "MCPMON_CHARTER_SIGNING_KEYS is empty" in capsys.readouterr().err


def test_replay_with_a_command_key_signs_every_command_as_the_worker_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MCPMON_COMMAND_SIGNING_KEYS", CMD_KEYS)
    out = tmp_path / "out"
    assert main(["replay", str(EXAMPLE_EVENTS), "--charters", str(EXAMPLE_CHARTERS),
                 "--out", str(out), "--json"]) == 0  # fmt: skip
    lines = (out / "revocations.jsonl").read_bytes().splitlines()
    ring = parse_keyring(CMD_KEYS)
    assert lines and ring is not None
    for line in lines:
        assert check_command(RevocationCommand.model_validate_json(line), ring) is None
    monkeypatch.delenv("MCPMON_COMMAND_SIGNING_KEYS")
    plain = tmp_path / "plain"
    assert main(["replay", str(EXAMPLE_EVENTS), "--charters", str(EXAMPLE_CHARTERS),
                 "--out", str(plain), "--json"]) == 0  # fmt: skip
    unsigned = (plain / "revocations.jsonl").read_bytes().splitlines()
    assert [orjson.loads(x) | {"signature": None} for x in lines] == [
        orjson.loads(x) | {"signature": None} for x in unsigned
    ]
    assert not any(b'"signature"' in x for x in unsigned)
