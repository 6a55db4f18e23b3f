"""Forged and replayed input on the real bus: charter updates and revocation commands.

A worker with command and charter keys, and an in-process revoker with the
command keys, on the real broker and a real Redis deny-list. Someone who can
write to the topics (not the monitor, not the policy owner) sends

- on ``mcp.events``: an unsigned ``charter_updated`` that would grant the
  patchers a shell, and a correctly signed one that does not validate;
- on ``mcp.revocations``: an unsigned command, one signed with another key,
  a genuine one with its target changed, a genuine one two days old, and an
  exact replay of the worker's own command.

What must happen: both charter updates refused with a ``charter_rejected``
alert each, the old charter in force (the patcher's shell call is still
out of charter, alerted and revoked); a signed, valid update applied; the
four bad commands never applied (dead-lettered with their reason, one
``revocation_refused`` alert each); the replay acked ``already_applied``; the
deny-list holds exactly what the genuine command denies. The worker's outputs
equal those of ``mcpmon replay`` with the same keys.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from monitor.charter import load_charter_dir
from monitor.core import Engine
from monitor.kafka_io import produce, read_topics
from monitor.output_contracts import RevocationCommand
from monitor.replay import replay_lines
from monitor.revoker.actuators.denylist import entries
from monitor.revoker.build import build_revoker
from monitor.revoker.service import RevokerService
from monitor.settings import Settings, load_settings
from monitor.signing import CommandSigner, sign_charter
from tests.integration.faults import CHARTER_KEYS, COMMAND_KEYS, SIGNER, canon, ring
from tests.integration.helpers import produce_lines
from tests.integration.workers import Run
from tests.revoker.servers import RedisServer
from tests.worker.support import EXAMPLE_CHARTERS

pytestmark = pytest.mark.kafka

PATCHER = "spiffe://corp/agents/patcher-9"
NEWBIE = "spiffe://corp/agents/newbie-1"
POLICY = ring(CHARTER_KEYS)
ATTACKER = CommandSigner(ring("mon-1:an-attacker-s-own-key-00"))


def _last_noon() -> datetime:
    """The latest noon UTC not in the future: inside the revoker's replay window (24 h),
    the patchers' working hours, and never ahead of the worker's clock (events stamped
    ahead by more than max_future_seconds are refused: before noon, "noon today" was)."""
    now = datetime.now(UTC)
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    return noon if noon <= now - timedelta(minutes=5) else noon - timedelta(days=1)


def _events(now: datetime) -> list[bytes]:
    def ts(s: float) -> str:
        return (now + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")

    shell = {
        "agent": "spiffe://corp/agents/patcher-*",
        "kind": "autonomous",
        "mode": "enforce",
        "tools": [{"server": "shell", "tool": "exec", "classes": ["exec"]}],
    }
    broken = {**shell, "tools": [{"server": "shell", "tool": "exec", "clases": ["exec"]}]}
    newbie = {
        "agent": "spiffe://corp/agents/newbie-*",
        "kind": "autonomous",
        "mode": "enforce",
        "tools": [{"server": "fs", "tool": "read_file", "classes": ["read"]}],
    }

    def update(eid: str, s: float, agent: str, doc: dict, sig: str | None) -> dict:
        ev = {"type": "charter_updated", "event_id": eid, "ts": ts(s), "agent_id": agent}
        return {**ev, "charter": doc, **({"signature": sig, "version": 1} if sig else {})}

    def call(eid: str, s: float, agent: str, server: str, tool: str) -> dict:
        return {
            "type": "tool_call",
            "event_id": eid,
            "ts": ts(s),
            "agent_id": agent,
            "server": server,
            "tool": tool,
            "tenant": "corp",
            "credential_id": f"cred-{agent[-9:]}",
            "outcome": "ok",
        }

    docs = [
        update("forged-1", 0, PATCHER, shell, None),  # unsigned: would grant a shell
        update("broken-1", 1, PATCHER, broken, sign_charter(broken, POLICY, 1)),  # invalid
        call("shell-1", 2, PATCHER, "shell", "exec"),  # still out of charter
        update("newbie-ok", 3, NEWBIE, newbie, sign_charter(newbie, POLICY, 1)),
        call("newbie-read", 4, NEWBIE, "fs", "read_file"),  # granted by the signed update
    ]
    return [orjson.dumps(d) for d in docs]


def test_forged_and_replayed_input_is_refused_and_alerted(run: Run, tmp_path: Path) -> None:
    now = _last_noon()
    events = _events(now)
    env = run.env(
        MCPMON_COMMAND_SIGNING_KEYS=COMMAND_KEYS, MCPMON_CHARTER_SIGNING_KEYS=CHARTER_KEYS
    )
    settings = load_settings(env={k: v for k, v in env.items() if k.startswith("MCPMON_")})
    a, r, d = io.BytesIO(), io.BytesIO(), io.BytesIO()
    engine = Engine(load_charter_dir(EXAMPLE_CHARTERS), settings.engine())
    replay_lines(events, engine, a, r, d, encode_command=SIGNER.encode)
    want = {
        (doc.get("alert_id") or doc["command_id"]): canon(doc)
        for doc in map(orjson.loads, (a.getvalue() + r.getvalue()).splitlines())
    }
    (genuine,) = [RevocationCommand.model_validate_json(x) for x in r.getvalue().splitlines()]
    assert genuine.agent_id == PATCHER and genuine.signature

    redis = RedisServer(tmp_path)
    try:
        worker = run.start_worker(
            EXAMPLE_CHARTERS,
            MCPMON_COMMAND_SIGNING_KEYS=COMMAND_KEYS,
            MCPMON_CHARTER_SIGNING_KEYS=CHARTER_KEYS,
        )
        worker.wait_ready(timeout=90)
        produce_lines(run, events)
        revoker = {"group_id": f"{run.app_id}-revoker", "redis_url": redis.url}
        rsettings = settings.model_copy(
            update={"revoker": settings.revoker.model_copy(update=revoker)}
        )
        got, acks, dead = asyncio.run(_revoke(run, rsettings, want, genuine, now))
        keys = redis.command("KEYS", "mcpmon:deny:*").decode()
    finally:
        redis.stop()

    outputs = {k: v for k, v in got.items() if k in want}
    assert outputs == want, "worker and replay differ"
    alerts = [x for x in map(orjson.loads, got.values()) if "alert_id" in x]
    rejected = sorted(
        (x["evidence"][0], x["clause"]["key"])
        for x in alerts
        if x["detector"] == "charter_rejected"
    )
    assert rejected == [("broken-1", "tools.0.clases"), ("forged-1", "signature")]
    assert any(
        x["detector"] == "out_of_charter_tool" and x["evidence"] == ["shell-1"] for x in alerts
    )
    # the signed update applied: the only alert about the newbies says what it granted
    (widened,) = [x for x in alerts if x.get("agent_id") == NEWBIE]
    assert widened["detector"] == "charter_widened" and widened["evidence"] == ["newbie-ok"]
    refused = Counter(
        x["details"]["refused"].split(" (")[0].split(":")[0]
        for x in alerts
        if x["detector"] == "revocation_refused"
    )
    assert refused == Counter({"unsigned": 1, "bad signature": 2, "expired": 1}), refused
    assert sorted(d_["reason"].split(": ")[1].split(" (")[0].split(":")[0] for d_ in dead) == [
        "bad signature",
        "bad signature",
        "expired",
        "unsigned",
    ]
    assert Counter(x["status"] for x in acks) == Counter({"applied": 1, "already_applied": 1})
    assert {x["command_id"] for x in acks} == {genuine.command_id}
    denied = {k for k in keys.split("\r\n") if k.startswith("mcpmon:deny:")}
    assert denied == set(entries(genuine))
    assert worker.alive, worker.tail()


async def _revoke(
    run: Run, settings: Settings, want: dict[str, bytes], genuine: RevocationCommand, now: datetime
) -> tuple[dict[str, bytes], list[dict], list[dict]]:
    # wait for the worker's outputs (its command is genuine and signed)
    recs = await read_topics(
        run.bootstrap,
        [run.topics["alerts"], run.topics["revocations"]],
        until=lambda rs: {_id(x) for x in rs} >= set(want),
        timeout=90,
        settle=1.0,
    )
    got = {_id(x): canon(orjson.loads(x.value)) for x in recs}
    victim = genuine.model_copy(update={"signature": None, "command_id": "evil-1",
                                        "credential_ids": ["cred-of-the-ceo"]})  # fmt: skip
    tampered = orjson.loads(SIGNER.encode(genuine.model_copy(update={"command_id": "evil-3"})))
    tampered["credential_ids"] = ["cred-of-the-cfo"]
    old = SIGNER.encode(
        genuine.model_copy(update={"command_id": "evil-4", "ts": now - timedelta(days=2)})
    )
    bad = [
        victim.to_json(),  # unsigned
        ATTACKER.encode(victim.model_copy(update={"command_id": "evil-2"})),  # another key
        orjson.dumps(tampered),  # genuine signature, changed target
        old,  # genuine, two days old: a replay outside the window
    ]
    replayed = SIGNER.encode(genuine)  # the worker's own command, again
    await produce(run.bootstrap, run.topics["revocations"], [(b"x", v) for v in [*bad, replayed]])
    service = RevokerService(settings, build_revoker(settings))
    task = asyncio.create_task(service.run())
    try:
        acks = await read_topics(
            run.bootstrap,
            [run.topics["acks"]],
            until=lambda rs: len(rs) >= 2,
            timeout=60,
            settle=1.0,
        )
        dead = await read_topics(
            run.bootstrap, [run.topics["deadletter"]], until=lambda rs: len(rs) >= 4, timeout=30
        )
        more = await read_topics(
            run.bootstrap,
            [run.topics["alerts"]],
            until=lambda rs: sum(b"revocation_refused" in x.value for x in rs) >= 4,
            timeout=30,
        )
    finally:
        service.stop()
        await asyncio.wait_for(task, 30)
    got.update({_id(x): canon(orjson.loads(x.value)) for x in more})
    return got, [orjson.loads(x.value) for x in acks], [orjson.loads(x.value) for x in dead]


def _id(rec: object) -> str:
    doc = orjson.loads(rec.value)  # type: ignore[attr-defined]
    return str(doc.get("alert_id") or doc.get("command_id"))


def test_a_replayed_older_charter_update_is_refused_after_a_worker_restart(run: Run) -> None:
    """Issue 13 item 8 on the real bus. The policy owner granted the patchers a shell
    (version 100) and took it back (version 200). Someone who kept the version-100
    event sends it again under a new event_id — after the worker restarted, so the
    version in force is known only from the compacted charter topic. It is refused
    (charter_rejected, key ``version``), the shell call after it is out of charter,
    alerted and revoked, and the worker's outputs equal ``mcpmon replay``'s."""
    now = _last_noon()

    def ts(s: float) -> str:
        return (now + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")

    (patchers,) = [c for c in load_charter_dir(EXAMPLE_CHARTERS) if "patcher" in c.agent]
    narrow = patchers.model_dump(mode="json")
    wide = {**narrow, "tools": [*narrow["tools"], {"server": "shell", "tool": "exec"}]}

    def update(eid: str, s: float, doc: dict, version: int) -> dict:
        return {"type": "charter_updated", "event_id": eid, "ts": ts(s), "agent_id": PATCHER,
                "charter": doc, "version": version,
                "signature": sign_charter(doc, POLICY, version)}  # fmt: skip

    grant = update("grant-v100", 0, wide, 100)
    before = [grant, update("narrow-v200", 1, narrow, 200)]
    after = [
        {**grant, "event_id": "grant-v100-again", "ts": ts(2)},  # the replay
        {"type": "tool_call", "event_id": "shell-after", "ts": ts(3), "agent_id": PATCHER,
         "server": "shell", "tool": "exec", "tenant": "corp", "credential_id": "cred-p9",
         "outcome": "ok"},
    ]  # fmt: skip
    lines = [orjson.dumps(d) for d in before + after]
    env = {"MCPMON_CHARTER_SIGNING_KEYS": CHARTER_KEYS}
    settings = load_settings(env=env)
    a, r, d = io.BytesIO(), io.BytesIO(), io.BytesIO()
    replay_lines(lines, Engine(load_charter_dir(EXAMPLE_CHARTERS), settings.engine()), a, r, d)
    want = {
        (doc.get("alert_id") or doc["command_id"]): canon(doc)
        for doc in map(orjson.loads, (a.getvalue() + r.getvalue()).splitlines())
    }
    assert d.getvalue() == b""

    first = run.start_worker(EXAMPLE_CHARTERS, **env)
    first.wait_ready(timeout=90)
    produce_lines(run, lines[:2])
    # both applied and on the charter topic (the second replaces the first there)
    asyncio.run(
        read_topics(run.bootstrap, [run.topics["charters"]], until=lambda rs: len(rs) >= 2,
                    timeout=60)
    )  # fmt: skip
    first.stop()
    second = run.start_worker(EXAMPLE_CHARTERS, **env)
    second.wait_ready(timeout=90)
    produce_lines(run, lines[2:])
    recs = asyncio.run(
        read_topics(
            run.bootstrap,
            [run.topics["alerts"], run.topics["revocations"]],
            until=lambda rs: {_id(x) for x in rs} >= set(want),
            timeout=90,
            settle=1.5,
        )
    )
    got = {_id(x): canon(orjson.loads(x.value)) for x in recs}
    assert got == want, "worker and replay differ"
    alerts = [x for x in map(orjson.loads, got.values()) if "alert_id" in x]
    summary = sorted((x["detector"], x["evidence"][0], x["clause"]["key"]) for x in alerts)
    assert ("charter_widened", "grant-v100", "tools") in summary  # the genuine grant, reported
    assert ("charter_rejected", "grant-v100-again", "version") in summary  # the replay, refused
    assert ("out_of_charter_tool", "shell-after", "tools") in summary  # the shell stays closed
    (replay,) = [x for x in alerts if x["evidence"] == ["grant-v100-again"]]
    assert "version 100 is not above version 200" in replay["reason"]
    commands = [x for x in map(orjson.loads, got.values()) if "alert_id" not in x]
    assert [c["agent_id"] for c in commands] == [PATCHER]
    caught_up = [x for x in second.logs() if x.get("event") == "charters_caught_up"]
    assert caught_up and caught_up[0]["applied"] >= 1, second.tail()
    assert second.alive, second.tail()
