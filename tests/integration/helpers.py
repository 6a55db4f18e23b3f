"""Producing test traffic and reading the worker's outputs, with bounded waits."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from monitor.kafka_io import produce, read_topics
from tests.integration.workers import Run
from tests.worker.support import agent_of


def produce_lines(run: Run, lines: Iterable[bytes]) -> list[int]:
    """Produce JSON lines keyed by their ``agent_id`` (as a gateway tap does); returns partitions."""
    records = []
    for line in lines:
        agent = agent_of(line)
        records.append((agent.encode() if agent else None, line))
    metas = asyncio.run(produce(run.bootstrap, run.topics["events"], records))
    return [m.partition for m in metas]


class DistinctOutputs:
    """``until`` for :func:`read_topics`: true once ``want`` distinct outputs were read.

    Alerts and commands are told apart by ``alert_id`` / ``command_id``; any other record
    (a dead letter, a record that is not JSON) counts each time it arrives. Reads only the
    records added since the last call.
    """

    def __init__(self, want: int) -> None:
        self.want = want
        self.seen = 0
        self.keys: set[str] = set()
        self.others = 0

    def __call__(self, records: list[ConsumerRecord]) -> bool:
        for rec in records[self.seen :]:
            key = _output_key(rec.value)
            if key is None:
                self.others += 1
            else:
                self.keys.add(key)
        self.seen = len(records)
        return len(self.keys) + self.others >= self.want


def _output_key(value: bytes | None) -> str | None:
    try:
        doc = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    key = doc.get("alert_id") or doc.get("command_id")
    return key if isinstance(key, str) else None


def read_outputs(
    run: Run,
    want: int,
    timeout: float = 60.0,
    settle: float = 1.5,
    names: tuple[str, ...] = ("alerts", "revocations"),
) -> dict[str, list[ConsumerRecord]]:
    """Records on the output topics once ``want`` distinct outputs have arrived (+ ``settle`` s
    for extras).

    An alert or command counts once however many copies arrived: a restarted worker repeats
    what it published after its last commit, and counting those copies would stop the wait
    before the outputs still owed had come (a CI run read 8 violations as missed that way).
    """
    topics = [run.topics[n] for n in names]
    recs = asyncio.run(
        read_topics(
            run.bootstrap, topics, until=DistinctOutputs(want), timeout=timeout, settle=settle
        )
    )
    by_name = {n: [r for r in recs if r.topic == run.topics[n]] for n in names}
    return by_name


def docs(recs: Iterable[ConsumerRecord]) -> list[dict]:
    return [orjson.loads(r.value) for r in recs]


def multiset(docs_: Iterable[dict]) -> Counter[bytes]:
    return Counter(orjson.dumps(d, option=orjson.OPT_SORT_KEYS) for d in docs_)


def produce_paced(
    run: Run,
    lines: list[bytes],
    per_second: float,
    *,
    at: float | None = None,
    action: Callable[[], None] | None = None,
    chunk: int = 50,
) -> None:
    """Produce ``lines`` at about ``per_second``; call ``action`` once ``at`` of them are sent."""

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=run.bootstrap, acks="all", linger_ms=2)
        await producer.start()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        fired = False
        try:
            for i in range(0, len(lines), chunk):
                futs = []
                for line in lines[i : i + chunk]:
                    agent = agent_of(line)
                    futs.append(
                        await producer.send(
                            run.topics["events"], key=agent.encode() if agent else None, value=line
                        )
                    )
                await asyncio.gather(*futs)
                sent = i + len(futs)
                if action is not None and at is not None and not fired and sent >= at * len(lines):
                    fired = True
                    action()
                delay = t0 + sent / per_second - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            await producer.stop()

    asyncio.run(asyncio.wait_for(go(), timeout=120))


def committed(run: Run) -> dict[int, int]:
    """The run's consumer group's committed offset per partition of its events topic."""

    async def go() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=run.bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(run.app_id)
        finally:
            await admin.close()
        events = run.topics["events"]
        return {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == events}

    return asyncio.run(go())
