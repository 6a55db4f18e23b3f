"""``mcpmon sign-charter`` and ``mcpmon replay`` with keys: what they write verifies."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from monitor.cli import main
from monitor.core import Engine, EngineSettings
from monitor.events import decode_event
from monitor.output_contracts import RevocationCommand
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
    assert ev.version is not None and abs(ev.version - time.time()) < 600  # epoch seconds
    eng = Engine([], EngineSettings(charter_keys=parse_keyring(KEYS)))
    # applied; a new pattern grants tools, which is reported
    assert [a.detector for a in eng.process(ev).alerts] == ["charter_widened"]
    assert eng.charters.for_agent("spiffe://corp/agents/patcher-1") is not None
    doc = orjson.loads(line)
    doc["charter"]["mode"] = "observe"  # changed after signing
    (alert,) = eng.process(decode_event(orjson.dumps({**doc, "event_id": "x"}))).alerts
    assert alert.detector == "charter_rejected" and alert.clause.key == "signature"
    (alert,) = eng.process(decode_event(orjson.dumps({**doc, "version": ev.version + 1}))).alerts
    assert alert.clause.key == "signature"  # the version is signed: it cannot be bumped


def test_sign_charter_stamps_the_version_and_a_replayed_older_line_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MCPMON_CHARTER_SIGNING_KEYS", KEYS)
    path = str(EXAMPLE_CHARTERS / "patcher.yaml")
    assert main(["sign-charter", path, "--version", "41"]) == 0
    assert main(["sign-charter", path, "--version", "42"]) == 0
    old, new = capsys.readouterr().out.splitlines()
    assert orjson.loads(old)["version"] == 41 and orjson.loads(new)["version"] == 42
    assert orjson.loads(old)["event_id"] != orjson.loads(new)["event_id"]
    eng = Engine([], EngineSettings(charter_keys=parse_keyring(KEYS)))
    assert not [
        a for a in eng.process(decode_event(new)).alerts if a.detector == "charter_rejected"
    ]
    replayed = {**orjson.loads(old), "event_id": "an-old-line-sent-again"}
    (alert,) = eng.process(decode_event(orjson.dumps(replayed))).alerts
    assert alert.detector == "charter_rejected" and alert.clause.key == "version"
    for bad in ("0", "-3", "x", str(1 << 53)):
        with pytest.raises(SystemExit):
            main(["sign-charter", path, "--version", bad])
    assert "--version" in capsys.readouterr().err


def test_sign_charter_needs_a_key_that_may_sign_charters(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "MCPMON_CHARTER_SIGNING_KEYS",
        "mon-1@commands:0123456789abcdef0123,policy-1@charters:fedcba9876543210fedc",
    )
    assert main(["sign-charter", str(EXAMPLE_CHARTERS / "patcher.yaml")]) == 0
    assert orjson.loads(capsys.readouterr().out)["signature"].startswith("hmac-sha256:policy-1:")


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
