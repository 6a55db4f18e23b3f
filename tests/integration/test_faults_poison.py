"""Poison messages at every consumer, on the real broker (issue 13, "one message stops
revocations for good").

Between two valid messages go: 900 KB of control bytes (its JSON-escaped dead letter
was 5.4 MB, over the producer's 1 MiB request limit: the loop died uncommitted and died
again on every restart), 1.5 MiB of control bytes (the topic is configured to take
it) and a short control-byte message. What must happen, for the revoker and the sink:
both valid messages carried out (acked / delivered), one bounded dead letter per bad
message (length, digest, position), the service still running, the group's offsets
committed past all of them, and a restarted service does not see the poison again.
The worker is checked the same way with a 3 MB control-byte event.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord
from structlog.testing import capture_logs

from monitor.deadletter import MAX_RECORD_BYTES
from monitor.kafka_io import TopicSpec, end_offsets, ensure_topics, produce, read_topics
from monitor.metrics import CollectorRegistry, RevokerMetrics, SinkMetrics
from monitor.output_contracts import Alert, RevocationCommand
from monitor.revoker.build import build_revoker
from monitor.revoker.gate import CommandGate
from monitor.revoker.service import RevokerService
from monitor.settings import Settings, load_settings
from monitor.sinks.service import SinkService, build_transport
from monitor.sinks.transports import OcsfFile
from tests.integration.helpers import docs
from tests.integration.workers import Run
from tests.revoker.servers import RedisServer, free_port
from tests.revoker.support import command
from tests.sinks.support import alert
from tests.worker.support import EXAMPLE_CHARTERS

pytestmark = pytest.mark.kafka

BIG_TOPIC = 4 << 20  # max.message.bytes of the input topics here: a > 1 MiB message gets in
CTRL_900K = bytes(range(1, 32)) * (900_000 // 31)
CTRL_1_5M = bytes(range(32)) * ((3 << 19) // 32)
CTRL_SHORT = b"\x00\x1b[2J\x07{\x7f"
POISON = [CTRL_900K, CTRL_1_5M, CTRL_SHORT]


def _env(run: Run, **extra: str) -> Settings:
    env = {k: v for k, v in run.env().items() if k.startswith("MCPMON_")}
    env.update(extra)
    return load_settings(env=env)


async def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        got = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: m.offset for tp, m in got.items() if tp.topic == topic}


async def _wait(pred: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def _check_dead(dead: list[ConsumerRecord], metas: list, topic: str) -> list[dict]:
    """One bounded dead letter per poison message, at its offset, with length and digest."""
    assert len(dead) == len(POISON), [orjson.loads(d.value)["reason"][:80] for d in dead]
    by_offset = {}
    for rec in dead:
        assert len(rec.value) <= MAX_RECORD_BYTES
        doc = orjson.loads(rec.value)
        assert doc["topic"] == topic
        by_offset[(doc["partition"], doc["offset"])] = doc
    out = []
    for meta, raw in zip(metas, POISON, strict=True):
        doc = by_offset[(meta.partition, meta.offset)]
        assert doc["length"] == len(raw) and doc["sha256"] == hashlib.sha256(raw).hexdigest()
        assert raw.startswith(doc["raw"].encode())
        out.append(doc)
    return out


def test_revoker_survives_poison_between_two_commands(run: Run, tmp_path: Path) -> None:
    port = free_port()
    topic, group = run.topics["revocations"], f"{run.app_id}-revoker"
    settings = _env(
        run,
        MCPMON_REVOKER_GROUP_ID=group,
        MCPMON_REVOKER_REDIS_URL=f"redis://127.0.0.1:{port}/0",
        MCPMON_REVOKER_TIMEOUT_SECONDS="0.5",
    )
    cmds = [command(command_id=f"cmd-{i}", credential_ids=[f"cred-{i}"]) for i in range(3)]
    reg = CollectorRegistry()

    def acks_for(recs: list[ConsumerRecord]) -> list[tuple[str, str]]:
        return sorted((d["command_id"], d["status"]) for d in docs(recs))

    async def go() -> None:
        await ensure_topics(run.bootstrap, [TopicSpec(topic, 4, max_message_bytes=BIG_TOPIC)])
        metas = await produce(
            run.bootstrap,
            topic,
            [(b"a1", cmds[0].to_json())]
            + [(b"a1", p) for p in POISON]
            + [(b"a1", cmds[1].to_json())],
        )
        service = RevokerService(settings, build_revoker(settings), metrics=RevokerMetrics(reg))
        task = asyncio.create_task(service.run())
        try:
            acks = await read_topics(
                run.bootstrap, [run.topics["acks"]], until=lambda r: len(r) >= 2, timeout=60
            )
            assert acks_for(acks) == [("cmd-0", "applied"), ("cmd-1", "applied")]
            ends = await end_offsets(run.bootstrap, topic)

            async def committed_to_the_end() -> bool:
                got = await _committed(run.bootstrap, group, topic)
                return all(got.get(p, 0) >= o for p, o in ends.items() if o > 0)

            await _wait(committed_to_the_end, 30, "offsets committed past the poison")
            assert not task.done()  # still running
        finally:
            service.stop()
            first = await asyncio.wait_for(task, 30)
        assert (first.commands, first.deadletter, first.deadletter_failed) == (2, 3, 0)
        dead = await read_topics(
            run.bootstrap, [run.topics["deadletter"]], until=lambda r: len(r) >= 3, timeout=20
        )
        found = _check_dead(dead, metas[1:4], topic)
        assert found[1]["reason"].startswith(f"message of {len(CTRL_1_5M)} bytes exceeds")
        assert found[0]["reason"].startswith("invalid revocation command")
        # a restart: the poison is not seen again; a new command behind it is applied
        again = RevokerService(settings, build_revoker(settings))
        task2 = asyncio.create_task(again.run())
        try:
            await produce(run.bootstrap, topic, [(b"a1", cmds[2].to_json())])
            acks = await read_topics(
                run.bootstrap, [run.topics["acks"]], until=lambda r: len(r) >= 3, timeout=60
            )
        finally:
            again.stop()
            second = await asyncio.wait_for(task2, 30)
        assert acks_for(acks) == [("cmd-0", "applied"), ("cmd-1", "applied"), ("cmd-2", "applied")]
        assert (second.commands, second.deadletter) == (1, 0)

    redis = RedisServer(tmp_path, port=port)
    try:
        asyncio.run(go())
    finally:
        redis.stop()
    assert reg.get_sample_value("mcpmon_revoker_deadletters_total", {"reason": "invalid"}) == 2
    assert reg.get_sample_value("mcpmon_revoker_deadletters_total", {"reason": "too_large"}) == 1


def test_sink_survives_poison_between_two_alerts(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "ocsf.jsonl"
    topic, group = run.topics["alerts"], f"{run.app_id}-sink"
    settings = _env(
        run, MCPMON_SINK_GROUP_ID=group, MCPMON_SINK_TO="ocsf-file", MCPMON_SINK_FILE=str(out)
    )
    alerts = [alert(alert_id=f"k{i}") for i in range(3)]
    reg = CollectorRegistry()

    def delivered() -> list[str]:
        if not out.exists():
            return []
        return [orjson.loads(x)["finding_info"]["uid"] for x in out.read_bytes().splitlines()]

    async def go() -> None:
        await ensure_topics(run.bootstrap, [TopicSpec(topic, 4, max_message_bytes=BIG_TOPIC)])
        metas = await produce(
            run.bootstrap,
            topic,
            [(b"a1", alerts[0].to_json())]
            + [(b"a1", p) for p in POISON]
            + [(b"a1", alerts[1].to_json())],
        )
        service = SinkService(settings, build_transport(settings), metrics=SinkMetrics(reg))
        task = asyncio.create_task(service.run())
        try:

            async def two_delivered() -> bool:
                return len(delivered()) >= 2

            await _wait(two_delivered, 60, "both valid alerts delivered")
            ends = await end_offsets(run.bootstrap, topic)

            async def committed_to_the_end() -> bool:
                got = await _committed(run.bootstrap, group, topic)
                return all(got.get(p, 0) >= o for p, o in ends.items() if o > 0)

            await _wait(committed_to_the_end, 30, "offsets committed past the poison")
            assert not task.done()  # still running
        finally:
            service.stop()
            first = await asyncio.wait_for(task, 30)
        assert (first.delivered, first.deadletter, first.deadletter_failed) == (2, 3, 0)
        dead = await read_topics(
            run.bootstrap, [run.topics["deadletter"]], until=lambda r: len(r) >= 3, timeout=20
        )
        found = _check_dead(dead, metas[1:4], topic)
        assert found[0]["reason"].startswith("invalid alert")
        assert found[1]["reason"].startswith(f"message of {len(CTRL_1_5M)} bytes exceeds")
        again = SinkService(settings, build_transport(settings))
        task2 = asyncio.create_task(again.run())
        try:
            await produce(run.bootstrap, topic, [(b"a1", alerts[2].to_json())])

            async def three_delivered() -> bool:
                return len(delivered()) >= 3

            await _wait(three_delivered, 60, "the alert after the restart delivered")
        finally:
            again.stop()
            second = await asyncio.wait_for(task2, 30)
        assert (second.delivered, second.deadletter) == (1, 0)  # the poison is not seen again

    asyncio.run(go())
    assert delivered() == ["k0", "k1", "k2"]  # in order, each once
    assert reg.get_sample_value("mcpmon_sink_deadletters_total", {"reason": "invalid"}) == 2
    assert reg.get_sample_value("mcpmon_sink_deadletters_total", {"reason": "too_large"}) == 1


AGENT = "spiffe://corp/agents/patcher-7"


def _call(event_id: str, tool: str) -> bytes:
    return orjson.dumps(
        {
            "type": "tool_call",
            "event_id": event_id,
            "ts": "2026-03-02T09:06:00Z",
            "agent_id": AGENT,
            "server": "shell",
            "tool": tool,
            "outcome": "ok",
        }
    )


def test_worker_survives_a_3_mb_control_byte_event(run: Run) -> None:
    ctrl = bytes(range(32)) * ((3 << 20) // 32)
    asyncio.run(
        ensure_topics(
            run.bootstrap, [TopicSpec(run.topics["events"], 4, max_message_bytes=8 << 20)]
        )
    )
    worker = run.start_worker(EXAMPLE_CHARTERS)
    worker.wait_ready()
    key = AGENT.encode()
    metas = asyncio.run(
        produce(
            run.bootstrap,
            run.topics["events"],
            [
                (key, _call("before-poison", "exec")),
                (key, ctrl),
                (key, _call("after-poison", "rm_rf")),
            ],
        )
    )
    dead = asyncio.run(
        read_topics(
            run.bootstrap, [run.topics["deadletter"]], until=lambda r: len(r) >= 1, timeout=60
        )
    )
    assert len(dead) == 1 and len(dead[0].value) <= MAX_RECORD_BYTES, worker.tail()
    doc = orjson.loads(dead[0].value)
    assert (doc["partition"], doc["offset"]) == (metas[1].partition, metas[1].offset)
    assert doc["length"] == len(ctrl) and doc["sha256"] == hashlib.sha256(ctrl).hexdigest()
    assert doc["reason"].startswith(f"message of {len(ctrl)} bytes exceeds")
    want = {"before-poison", "after-poison"}

    def evidence(recs: list[ConsumerRecord]) -> set[str]:
        return {e for a in docs(recs) for e in a["evidence"]}

    alerts = asyncio.run(
        read_topics(
            run.bootstrap,
            [run.topics["alerts"]],
            until=lambda r: want <= evidence(r),
            timeout=60,
        )
    )
    assert want <= evidence(alerts), worker.tail()
    assert worker.alive


class _ExplodingGate(CommandGate):
    """A gate with a bug that one command triggers (any failure in handling one message)."""

    def check(self, cmd: RevocationCommand, now: datetime) -> str | None:
        if cmd.command_id == "boom":
            raise ValueError("a bug this one command triggers")
        return super().check(cmd, now)


def test_revoker_dead_letters_a_message_that_makes_its_handling_fail(
    run: Run, tmp_path: Path
) -> None:
    port = free_port()
    topic, group = run.topics["revocations"], f"{run.app_id}-revoker"
    settings = _env(
        run,
        MCPMON_REVOKER_GROUP_ID=group,
        MCPMON_REVOKER_REDIS_URL=f"redis://127.0.0.1:{port}/0",
        MCPMON_REVOKER_TIMEOUT_SECONDS="0.5",
    )
    cmds = [command(command_id=c, credential_ids=[f"cred-{c}"]) for c in ("c0", "boom", "c1")]
    reg = CollectorRegistry()

    async def go() -> list[dict]:
        metas = await produce(run.bootstrap, topic, [(b"a1", c.to_json()) for c in cmds])
        gate = _ExplodingGate(settings.command_keyring(), 3600.0)
        service = RevokerService(
            settings, build_revoker(settings), metrics=RevokerMetrics(reg), gate=gate
        )
        task = asyncio.create_task(service.run())
        try:
            acks = await read_topics(
                run.bootstrap, [run.topics["acks"]], until=lambda r: len(r) >= 2, timeout=60
            )
            ends = await end_offsets(run.bootstrap, topic)

            async def committed_to_the_end() -> bool:
                got = await _committed(run.bootstrap, group, topic)
                return all(got.get(p, 0) >= o for p, o in ends.items() if o > 0)

            await _wait(committed_to_the_end, 30, "offsets committed past the poison")
            assert not task.done()
        finally:
            service.stop()
            counters = await asyncio.wait_for(task, 30)
        assert (counters.commands, counters.poison, counters.deadletter) == (2, 1, 1)
        dead = await read_topics(
            run.bootstrap, [run.topics["deadletter"]], until=lambda r: len(r) >= 1, timeout=20
        )
        (doc,) = docs(dead)
        assert (doc["partition"], doc["offset"]) == (metas[1].partition, metas[1].offset)
        assert doc["raw"].encode() == cmds[1].to_json()
        assert doc["reason"] == "handler error: ValueError: a bug this one command triggers"
        return docs(acks)

    redis = RedisServer(tmp_path, port=port)
    try:
        acks = asyncio.run(go())
    finally:
        redis.stop()
    assert sorted(a["command_id"] for a in acks) == ["c0", "c1"]
    assert (
        reg.get_sample_value("mcpmon_revoker_deadletters_total", {"reason": "handler_error"}) == 1
    )


def test_sink_commits_past_poison_whose_dead_letter_the_broker_refuses(
    run: Run, tmp_path: Path
) -> None:
    """The dead-letter topic takes no record over 200 bytes: the dead letter is refused,
    which is logged and counted; the sink commits past and delivers what follows."""
    out = tmp_path / "ocsf.jsonl"
    topic, group = run.topics["alerts"], f"{run.app_id}-sink"
    settings = _env(
        run, MCPMON_SINK_GROUP_ID=group, MCPMON_SINK_TO="ocsf-file", MCPMON_SINK_FILE=str(out)
    )
    alerts = [alert(alert_id=f"k{i}") for i in range(2)]
    reg = CollectorRegistry()

    async def go() -> None:
        await ensure_topics(
            run.bootstrap,
            [
                TopicSpec(topic, 4, max_message_bytes=BIG_TOPIC),
                TopicSpec(run.topics["deadletter"], 4, max_message_bytes=200),
            ],
        )
        await produce(
            run.bootstrap,
            topic,
            [
                (b"a1", alerts[0].to_json()),
                (b"a1", b"{" + b"x" * 1000),
                (b"a1", alerts[1].to_json()),
            ],
        )
        service = SinkService(settings, build_transport(settings), metrics=SinkMetrics(reg))
        task = asyncio.create_task(service.run())
        try:

            async def two_delivered() -> bool:
                return out.exists() and len(out.read_bytes().splitlines()) >= 2

            await _wait(two_delivered, 60, "both valid alerts delivered")
            ends = await end_offsets(run.bootstrap, topic)

            async def committed_to_the_end() -> bool:
                got = await _committed(run.bootstrap, group, topic)
                return all(got.get(p, 0) >= o for p, o in ends.items() if o > 0)

            await _wait(committed_to_the_end, 30, "offsets committed past the poison")
            assert not task.done()
        finally:
            service.stop()
            counters = await asyncio.wait_for(task, 30)
        assert (counters.delivered, counters.deadletter, counters.deadletter_failed) == (2, 1, 1)

    with capture_logs() as logs:
        asyncio.run(go())
    assert reg.get_sample_value("mcpmon_sink_deadletter_failures_total") == 1
    (failed,) = [e for e in logs if e["event"] == "deadletter_failed"]
    assert "MessageSizeTooLarge" in failed["error"]  # the broker's refusal, said


class _FailsOnBoom:
    """An OCSF file transport with a bug that one alert triggers."""

    def __init__(self, path: Path) -> None:
        self.inner = OcsfFile(path)
        self.name = "ocsf-file"

    async def send(self, a: Alert) -> None:
        if a.alert_id == "boom":
            raise ValueError("cannot format this alert")
        await self.inner.send(a)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_sink_dead_letters_an_alert_it_can_never_deliver(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "ocsf.jsonl"
    topic, group = run.topics["alerts"], f"{run.app_id}-sink"
    settings = _env(
        run,
        MCPMON_SINK_GROUP_ID=group,
        MCPMON_SINK_TO="ocsf-file",
        MCPMON_SINK_FILE=str(out),
        MCPMON_SINK_RETRY_BASE_SECONDS="0.05",
        MCPMON_SINK_RETRY_MAX_SECONDS="0.1",
    )
    alerts = [alert(alert_id=i) for i in ("k0", "boom", "k1")]
    reg = CollectorRegistry()

    async def go() -> None:
        metas = await produce(run.bootstrap, topic, [(b"a1", a.to_json()) for a in alerts])
        service = SinkService(settings, _FailsOnBoom(out), metrics=SinkMetrics(reg))
        task = asyncio.create_task(service.run())
        try:

            async def two_delivered() -> bool:
                return out.exists() and len(out.read_bytes().splitlines()) >= 2

            await _wait(two_delivered, 60, "the alerts around the undeliverable one delivered")
            assert not task.done()
        finally:
            service.stop()
            counters = await asyncio.wait_for(task, 30)
        assert (counters.delivered, counters.deadletter) == (2, 1)
        dead = await read_topics(
            run.bootstrap, [run.topics["deadletter"]], until=lambda r: len(r) >= 1, timeout=20
        )
        (doc,) = docs(dead)
        assert (doc["partition"], doc["offset"]) == (metas[1].partition, metas[1].offset)
        assert doc["reason"].startswith("undeliverable alert: ocsf-file: ValueError")
        assert doc["raw"].encode() == alerts[1].to_json()

    asyncio.run(go())
    rows = [orjson.loads(x)["finding_info"]["uid"] for x in out.read_bytes().splitlines()]
    assert rows == ["k0", "k1"]
    assert reg.get_sample_value("mcpmon_sink_deadletters_total", {"reason": "undeliverable"}) == 1
