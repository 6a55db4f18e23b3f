"""The revoker killed between applying a command and acking it, again and again.

Real broker, real Redis (deny-list and ledger), a real HTTP receiver behind the
webhook actuator, signed commands. The revoker (``mcpmon revoker`` with a crash
hook, :mod:`tests.integration.crashing`) SIGKILLs itself

- ``before`` — right after an actuator applied a command, before the ledger
  recorded it: the redelivered command is applied again, and the target's own
  idempotence (deny-list ``SET``, webhook ``Idempotency-Key``) makes the
  second application a no-op;
- ``after`` — after the ledger recorded it, before the ack: the redelivered
  command is acked ``already_applied`` and not applied again.

After every crash a new revoker takes over. In the end every command has
exactly one ack per actuator, none ``failed``; the deny-list holds exactly the
commanded credentials; the receiver got every command, and a command twice
only where a ``before`` crash hit it, with the same idempotency key and body.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import orjson
import pytest

from monitor.kafka_io import produce, read_topics
from monitor.revoker.actuators.webhook import verify
from tests.integration.faults import COMMAND_KEYS, SIGNER, Process, commands
from tests.integration.workers import Run
from tests.revoker.servers import HTTPServer, RedisServer, Reply

pytestmark = pytest.mark.kafka

#: (where, at which ledger write of that process, of which actuator; "": any): four kills,
#: then a revoker that finishes
CRASHES = [("before", 3, "webhook"), ("after", 4, ""), ("before", 5, "denylist"), ("after", 2, "")]
N = 24
ACTUATORS = ("denylist", "webhook")
WEBHOOK_SECRET = "fault-test-webhook-secret"


def test_revoker_killed_between_apply_and_ack_applies_each_command_once(
    run: Run, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path)
    receiver = HTTPServer(lambda req: Reply(200, b"{}"))
    try:
        _run(run, tmp_path, redis, receiver)
    finally:
        receiver.close()
        redis.stop()


def _run(run: Run, tmp: Path, redis: RedisServer, receiver: HTTPServer) -> None:
    cmds = commands(N, run.id)
    asyncio.run(
        produce(
            run.bootstrap,
            run.topics["revocations"],
            [(c.agent_id.encode(), SIGNER.encode(c)) for c in cmds],
        )
    )
    env = run.env(
        MCPMON_REVOKER_GROUP_ID=f"{run.app_id}-revoker",
        MCPMON_REVOKER_REDIS_URL=redis.url,
        MCPMON_REVOKER_ACTUATORS=",".join(ACTUATORS),
        MCPMON_REVOKER_WEBHOOK_URL=receiver.url("/revoke"),
        MCPMON_REVOKER_WEBHOOK_SECRET=WEBHOOK_SECRET,
        MCPMON_COMMAND_SIGNING_KEYS=COMMAND_KEYS,
        MCPMON_REVOKER_RETRY_BASE_SECONDS="0.05",
    )
    for i, (when, at, actuator) in enumerate(CRASHES):
        crash = {"CRASH_AT": str(at), "CRASH_WHEN": when, "CRASH_ACTUATOR": actuator}
        p = Process(f"r{i}", "revoker", {**env, **crash}, [], tmp / f"revoker-{i}.log")
        assert p.crashed(), f"revoker {i} exited without the injected crash:\n{p.tail()}"
    last = Process("r-last", "revoker", env, [], tmp / "revoker-last.log")
    try:
        acks = asyncio.run(
            read_topics(
                run.bootstrap,
                [run.topics["acks"]],
                until=lambda r: len(r) >= N * len(ACTUATORS),
                timeout=90,
                settle=2.0,
            )
        )
        assert last.alive, last.tail()
    finally:
        last.stop()

    # every command acked exactly once per actuator, none failed
    by = Counter((a["command_id"], a["actuator"], a["status"]) for a in map(_doc, acks))
    per_pair = Counter((cid, act) for cid, act, _ in by.elements())
    assert set(per_pair) == {(c.command_id, a) for c in cmds for a in ACTUATORS}
    assert set(per_pair.values()) == {1}, "a command was acked twice by one actuator"
    statuses = Counter(status for _, _, status in by)
    assert set(statuses) <= {"applied", "already_applied"}, statuses
    # an "after" crash leaves its command recorded but unacked: the next revoker says so
    assert statuses["already_applied"] >= sum(1 for w, _, _ in CRASHES if w == "after")
    ledger = redis.command("KEYS", "mcpmon:revoker:applied:*").decode()
    assert ledger.count("mcpmon:revoker:applied:") == N * len(ACTUATORS)

    # effects at the targets: the deny-list holds exactly the commanded credentials ...
    keys = redis.command("KEYS", "mcpmon:deny:credential:*").decode()
    denied = {k for k in keys.split("\r\n") if k.startswith("mcpmon:deny:")}
    assert denied == {f"mcpmon:deny:credential:{c.credential_ids[0]}" for c in cmds}
    # ... and the receiver saw every command; a repeat only with the same key and body
    # (as a real receiver does, only deliveries whose signature verifies count: a revoker
    # killed while sending leaves a cut-off body, which is no delivery at all)
    delivered = [
        r
        for r in receiver.requests
        if verify(WEBHOOK_SECRET.encode(), r.body, r.headers.get("x-mcpmon-signature", ""))
    ]
    bodies: dict[str, set[bytes]] = {}
    for req in delivered:
        bodies.setdefault(req.headers["idempotency-key"], set()).add(req.body)
    assert set(bodies) == {c.command_id for c in cmds}
    assert all(len(b) == 1 for b in bodies.values())
    deliveries = Counter(r.headers["idempotency-key"] for r in delivered)
    repeats = sum(n - 1 for n in deliveries.values())
    assert repeats <= len(CRASHES), "more re-deliveries than crashes"
    # the webhook's crash before its ledger write: delivered, then delivered again (same key)
    assert repeats >= 1
    print(
        f"\n{len(CRASHES)} revoker kills, {N} commands x {len(ACTUATORS)} actuators: "
        f"acks {dict(statuses)}; webhook got {sum(deliveries.values())} deliveries for "
        f"{len(deliveries)} commands ({repeats} repeated with the same Idempotency-Key; "
        f"{len(receiver.requests) - len(delivered)} cut off by a kill)"
    )


def _doc(rec: object) -> dict:
    return orjson.loads(rec.value)  # type: ignore[attr-defined]
