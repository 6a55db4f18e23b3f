"""``mcpmon bench soak``: sustained load on a real broker, a worker restart in the middle.

A bounded soak test on loopback. Simulated traffic is offered at a steady
rate (default 400 events/s for 300 s) to a fresh input topic that one
``mcpmon worker`` (a subprocess, as deployed) consumes. Half-way through, the
worker is stopped (SIGTERM; or SIGKILL, a crash, with ``kill=True`` as the CI test runs it) and a new
one is started on the same consumer group and changelog, while the load
goes on. Every second the run samples the worker's resident memory
(``/proc/<pid>/status``) and the consumer group's lag (end offsets minus
committed offsets: the worker commits an input offset only once the broker has
the state records of every event below it).

What it proves, once the load has stopped and the lag is back to zero:

- **events in = events processed**: every event the broker acknowledged to
  the producer is committed by the group, i.e. consumed and its state on the broker;
- **nothing lost, nothing invented**: the alerts and revocation commands on
  the output topics are exactly those that the same events give when run
  in-process, partition by partition, through :class:`~monitor.worker.Processor`
  (the reference), by id and content; restart redelivery only adds identical
  copies;
- **state intact**: every agent's final state in the changelog is
  byte-identical to the reference's (so each event was applied exactly once).

And it reports the figures: offered rate, lag recovery time (from the stop
signal to the lag being back under its pre-restart level) and memory over
time. ``bench_soak`` prints them and writes ``results/soak.md``.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from monitor import simulate
from monitor.bench.broker import PARTITIONS, BenchRun, agent_key, partition_of
from monitor.charter import load_charter_dir
from monitor.core.policy import CharterSet
from monitor.kafka_io import ensure_topics, read_topics
from monitor.worker import store
from monitor.worker.process import WorkerProcess
from monitor.worker.processor import Processor
from monitor.worker.topics import worker_topics

SOAK_DEFAULT_RATE = 400.0
SOAK_DEFAULT_SECONDS = 300.0


@dataclass
class SoakResult:
    rate: float
    seconds: float
    restart: str
    events_in: int = 0  # acknowledged by the broker to the producer
    events_processed: int = 0  # committed by the worker's group (after its state is on the broker)
    offered_eps: float = 0.0
    expected_outputs: int = 0  # unique alert and command ids the reference gives
    seen_outputs: int = 0  # unique ids on the output topics
    output_copies: int = 0  # records on the output topics (≥ seen: redelivery copies)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # same id, different content
    agents: int = 0
    agents_state_equal: int = 0
    restart_at: float = 0.0  # seconds into the load
    downtime_s: float = 0.0  # stop signal to the new worker's partitions restored
    stop_s: float = 0.0  # stop signal to the old worker's exit
    stop_rc: int | None = None  # the old worker's exit status (-9: killed)
    assigned_s: float = 0.0  # new worker: process start to partitions assigned
    restored_s: float = 0.0  # new worker: partitions assigned to restored
    restored_agents: int = 0
    recovery_s: float | None = None  # stop signal to lag back under the pre-restart level
    lag_threshold: int = 0
    peak_lag: int = 0
    samples: list[tuple[float, int, float, int]] = field(default_factory=list)  # t, lag, MiB, w
    worker_logs: str = ""  # the last lines of each worker's log, kept when the run failed

    @property
    def lost(self) -> int:
        return (self.events_in - self.events_processed) + len(self.missing)

    def ok(self) -> bool:
        return (
            self.events_in > 0
            and self.events_in == self.events_processed
            and not self.missing
            and not self.unexpected
            and not self.changed
            and self.agents == self.agents_state_equal
            and self.recovery_s is not None
        )

    def rss(self, worker: int) -> list[float]:
        return [m for _, _, m, w in self.samples if w == worker and m > 0]

    def render(self) -> str:
        r = self
        rss0, rss1 = r.rss(0), r.rss(1)
        rec = f"{r.recovery_s:.1f} s" if r.recovery_s is not None else "NOT RECOVERED"
        lines = [
            f"offered load        {r.offered_eps:>10,.0f} events/s for {r.seconds:.0f} s "
            f"(target {r.rate:,.0f}/s)",
            f"events in           {r.events_in:>10,}  (acknowledged by the broker)",
            f"events processed    {r.events_processed:>10,}  (committed by the worker group)",
            f"outputs             {r.seen_outputs:>10,} unique of {r.expected_outputs:,} expected "
            f"({r.output_copies:,} records; missing {len(r.missing)}, unexpected "
            f"{len(r.unexpected)}, changed {len(r.changed)})",
            f"agent states        {r.agents_state_equal:>10,} of {r.agents:,} byte-identical to "
            "the reference",
            f"restart ({r.restart}) at {r.restart_at:.0f} s: old worker gone after {r.stop_s:.1f} s "
            f"({_exit(r.stop_rc, r.restart)}), "
            f"new one ready after {r.downtime_s:.1f} s; lag back under {r.lag_threshold:,} after {rec} "
            f"(peak lag {r.peak_lag:,} events)",
            f"new worker          partitions assigned {r.assigned_s:.1f} s after its start, "
            f"{r.restored_agents:,} agents restored {r.restored_s:.1f} s later",
        ]
        if rss0:
            lines.append(
                f"worker 1 RSS        {rss0[0]:>7.1f} → {rss0[-1]:.1f} MiB (max {max(rss0):.1f})"
            )
        if rss1:
            lines.append(
                f"worker 2 RSS        {rss1[0]:>7.1f} → {rss1[-1]:.1f} MiB (max {max(rss1):.1f})"
            )
        lines.append(f"verdict             {'nothing lost' if r.ok() else 'FAILED'}")
        return "\n".join(lines)

    def markdown(self) -> str:
        out = [
            "# Soak: sustained load with a worker restart",
            "",
            f"`mcpmon bench soak --rate {self.rate:g} --seconds {self.seconds:g}` on loopback "
            f"(worker restarted by {'SIGKILL' if self.restart == 'kill' else 'SIGTERM'}; "
            "one broker, one worker, "
            f"{PARTITIONS} partitions, {os.cpu_count()} CPUs shared with the broker and the load "
            "generator).",
            "",
            "```",
            self.render(),
            "```",
            "",
            "Memory and lag over time (every ~10 s; lag = end offsets − committed offsets):",
            "",
            "| t (s) | worker | RSS (MiB) | lag (events) |",
            "|---:|---:|---:|---:|",
        ]
        last = -math.inf
        for t, lag, mib, w in self.samples:
            if t - last >= 10 or (t, lag, mib, w) == self.samples[-1]:
                shown = f"{mib:.1f}" if mib else "(restarting)"
                out.append(f"| {t:.0f} | {w + 1} | {shown} | {lag:,} |")
                last = t
        return "\n".join(out) + "\n"


def _exit(rc: int | None, restart: str) -> str:
    if restart == "term" and rc == -9:
        return "did not stop on SIGTERM within 30 s: SIGKILLed"
    return f"exit status {rc}"


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class _Workers:
    """The current worker of the soak; restarts happen in a thread while load goes on."""

    def __init__(self, run: BenchRun, charters: Path, tmp: Path) -> None:
        self.run, self.charters, self.tmp = run, charters, tmp
        self.env = {**run.env(), "MCPMON_KAFKA_SESSION_TIMEOUT_SECONDS": "6"}
        self.all: list[WorkerProcess] = []
        self.ready = threading.Event()
        self.stopped_wall = 0.0  # time.time() of the last stop signal
        self.stop_s = 0.0  # how long the old worker took to exit
        self.stop_rc: int | None = None  # its exit status (-9: SIGKILL)
        self.started_wall = 0.0  # time.time() when the current worker was started
        self.start()

    @property
    def current(self) -> WorkerProcess:
        return self.all[-1]

    def start(self) -> None:
        self.started_wall = time.time()
        n = len(self.all)
        w = WorkerProcess(f"soak-{n}", self.env, self.charters, self.tmp / f"soak-worker-{n}.log")
        self.all.append(w)
        self.run.worker = w
        w.wait_ready(120)
        self.ready.set()

    def restart(self, kill: bool) -> None:
        self.ready.clear()
        self.stopped_wall = time.time()
        if kill:
            self.current.kill()
        else:
            self.current.stop(30)
        self.stop_s = time.time() - self.stopped_wall
        self.stop_rc = self.current.proc.returncode
        self.start()


async def _lag(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str, topic: str
) -> int:
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    ends = await consumer.end_offsets(tps)
    committed = await admin.list_consumer_group_offsets(group)
    done = {tp.partition: om.offset for tp, om in committed.items() if tp.topic == topic}
    return sum(max(0, ends[tp] - max(0, done.get(tp.partition, 0))) for tp in tps)


async def _committed(admin: AIOKafkaAdminClient, group: str, topic: str) -> int:
    committed = await admin.list_consumer_group_offsets(group)
    return sum(max(0, om.offset) for tp, om in committed.items() if tp.topic == topic)


class _Sampler:
    """Every second: the group's lag and the current worker's memory, into ``res.samples``."""

    def __init__(
        self, admin: AIOKafkaAdminClient, probe: AIOKafkaConsumer, run: BenchRun, t0: float
    ) -> None:
        self.admin, self.probe, self.t0 = admin, probe, t0
        self.group, self.topic = run.settings.app_id, run.settings.topic_events

    async def lag(self) -> int:
        return await _lag(self.admin, self.probe, self.group, self.topic)

    async def every_second(
        self, workers: _Workers, res: SoakResult, stop: asyncio.Event, log: Any
    ) -> None:
        while not stop.is_set():
            t = time.perf_counter() - self.t0
            lag = await self.lag()
            w = len(workers.all) - 1
            mib = _rss_mib(workers.current.proc.pid) if workers.ready.is_set() else 0.0
            res.samples.append((t, lag, mib, w))
            if int(t) % 30 == 0 and mib:
                log(f"  t={t:5.0f} s  lag {lag:>7,}  worker {w + 1} RSS {mib:6.1f} MiB")
            await asyncio.sleep(1.0)

    async def drain(self, workers: _Workers, res: SoakResult) -> None:
        """Until the lag is back to zero (bounded)."""
        deadline = time.perf_counter() + max(120.0, res.seconds)
        while time.perf_counter() < deadline:
            if await self.lag() == 0:
                mib = _rss_mib(workers.current.proc.pid)
                res.samples.append((time.perf_counter() - self.t0, 0, mib, len(workers.all) - 1))
                break
            await asyncio.sleep(0.5)


async def _offer(
    producer: AIOKafkaProducer,
    topic: str,
    records: list[tuple[bytes | None, bytes]],
    res: SoakResult,
    restart: Callable[[], None],
    log: Any,
    t0: float,
) -> tuple[list[asyncio.Future[Any]], asyncio.Future[None] | None]:
    """Produce ``records`` at ``res.rate`` from ``t0`` (perf_counter) on, starting
    ``restart`` in a thread half-way; returns the delivery futures and the restart's task.
    """
    futures = []
    rate, total = res.rate, len(records)
    per_tick = max(1, round(rate * 0.01))
    restart_task: asyncio.Future[None] | None = None
    n = 0
    while n < total:
        for key, value in records[n : n + per_tick]:
            futures.append(await producer.send(topic, key=key, value=value))
        n = min(total, n + per_tick)
        if restart_task is None and n >= total // 2:
            res.restart_at = time.perf_counter() - t0
            log(f"  t={res.restart_at:5.0f} s  restarting the worker ({res.restart}) …")
            restart_task = asyncio.ensure_future(asyncio.to_thread(restart))
        delay = t0 + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    await producer.flush()
    res.offered_eps = total / (time.perf_counter() - t0)
    return futures, restart_task


async def _load(
    run: BenchRun,
    workers: _Workers,
    records: list[tuple[bytes | None, bytes]],
    res: SoakResult,
    kill: bool,
    log: Any,
) -> None:
    s = run.settings
    bootstrap, topic = s.kafka_bootstrap, s.topic_events
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await probe.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    t0 = time.perf_counter()
    sampling = _Sampler(admin, probe, run, t0)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sampling.every_second(workers, res, stop, log))
    try:
        futures, restart_task = await _offer(
            producer, topic, records, res, lambda: workers.restart(kill), log, t0
        )
        acked = await asyncio.gather(*futures, return_exceptions=True)
        res.events_in = sum(1 for a in acked if not isinstance(a, BaseException))
        if restart_task is not None:
            await restart_task
        await sampling.drain(workers, res)
        res.events_processed = await _committed(admin, s.app_id, topic)
    finally:
        stop.set()
        await sampler
        await producer.stop()
        await probe.stop()
        await admin.close()
    if restart_task is None:
        raise RuntimeError("the load ended before the worker was restarted (no events?)")
    _recovery(res, workers)


def _recovery(res: SoakResult, workers: _Workers) -> None:
    """Lag recovery: from the stop signal until the lag is back under its pre-restart level."""
    restarted_at = res.restart_at
    before = [lag for t, lag, _, w in res.samples if w == 0 and 10 <= t < restarted_at]
    before = before or [lag for t, lag, _, w in res.samples if t < restarted_at] or [0]
    res.lag_threshold = max(
        int(statistics.quantiles(before, n=20)[-1]) if len(before) > 1 else before[0],
        int(res.rate),  # at least one second of traffic: commits come every few seconds
    )
    after = [(t, lag) for t, lag, _, w in res.samples if t >= restarted_at]
    res.peak_lag = max((lag for _, lag in after), default=0)
    ready = restarted_at + workers_downtime(workers, res)
    res.downtime_s = ready - restarted_at
    res.stop_s, res.stop_rc = workers.stop_s, workers.stop_rc
    for t, lag in after:
        if t >= ready and lag <= res.lag_threshold:
            res.recovery_s = t - restarted_at
            break


def workers_downtime(workers: _Workers, res: SoakResult) -> float:
    """Seconds from the stop signal to the new worker's partitions restored (its log's clock).

    Also notes when the new worker got its partitions and how many agents it restored.
    """

    def wall(rec: dict[str, Any]) -> float:
        return datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00")).timestamp()

    new = workers.current
    ready = new.wait_ready(1)
    assigned = new.wait_log(lambda r: r.get("event") == "partitions_assigned", 1)
    res.assigned_s = wall(assigned) - workers.started_wall
    res.restored_s = wall(ready) - wall(assigned)
    res.restored_agents = int(ready.get("agents", 0))
    return max(0.0, wall(ready) - workers.stopped_wall)


def _reference(
    records: list[tuple[bytes | None, bytes]], charters: Path, run: BenchRun
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(output id -> canonical JSON, agent -> state snapshot) from the in-process Processor."""
    proc = Processor(CharterSet(load_charter_dir(charters)), run.settings.engine())
    for p in range(PARTITIONS):
        proc.assign(p, {}, now=0.0)
    outputs: dict[str, bytes] = {}
    offsets = [0] * PARTITIONS
    for key, value in records:
        p = partition_of(key, PARTITIONS) if key else 0
        out = proc.handle(p, offsets[p], value, key)
        offsets[p] += 1
        for rec in out.decisions:
            doc = orjson.loads(rec.value)
            outputs[doc.get("alert_id") or doc["command_id"]] = _canon(doc)
    states = {
        agent: st.snapshot()
        for p in range(PARTITIONS)
        for agent, st in proc.engine(p).states.items()
    }
    return outputs, states


def _canon(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def _compare(
    run: BenchRun, res: SoakResult, want: dict[str, bytes], states: dict[str, bytes]
) -> None:
    s = run.settings
    bootstrap = s.kafka_bootstrap
    recs = asyncio.run(
        read_topics(bootstrap, [s.topic_alerts, s.topic_revocations], timeout=60, idle=5)
    )
    seen: dict[str, bytes] = {}
    for rec in recs:
        doc = orjson.loads(rec.value)
        key = doc.get("alert_id") or doc["command_id"]
        canon = _canon(doc)
        if key not in want:
            res.unexpected.append(key)
        elif canon != want[key]:
            res.changed.append(key)
        seen[key] = canon
    res.output_copies = len(recs)
    res.seen_outputs = len(seen)
    res.expected_outputs = len(want)
    res.missing = sorted(set(want) - set(seen))
    changelog = f"{s.app_id}-agent_state-changelog"
    final: dict[str, bytes] = {}
    for rec in asyncio.run(read_topics(bootstrap, [changelog], timeout=60, idle=5)):
        if rec.key is not None and rec.value is not None:
            final[rec.key.decode()] = store.decode(rec.value)[1]
    res.agents = len(states)
    res.agents_state_equal = sum(1 for a, snap in states.items() if final.get(a) == snap)


def run_soak(
    bootstrap: str,
    rate: float = SOAK_DEFAULT_RATE,
    seconds: float = SOAK_DEFAULT_SECONDS,
    seed: int = 7,
    kill: bool = False,
    log: Any = print,
) -> SoakResult:
    res = SoakResult(rate=rate, seconds=seconds, restart="kill" if kill else "term")
    tmp = Path(tempfile.mkdtemp(prefix="mcpmon-soak-"))
    try:
        n = int(rate * seconds)
        agents, minutes = simulate.size_for_events(n, minutes=60)
        log(f"simulating {n:,} events ({agents} agents, seed {seed}) …")
        s = simulate.stream(agents, minutes, seed)
        lines = [orjson.dumps(e) for e in islice(iter(s), n)]
        charters = tmp / "charters"
        simulate.write_charters(s.charters, charters)
        records = [(agent_key(line), line) for line in lines]
        run = BenchRun(bootstrap, tmp, "soak")
        try:
            asyncio.run(ensure_topics(bootstrap, worker_topics(run.settings)))
            log("reference: the same events in-process, partition by partition …")
            want, states = _reference(records, charters, run)
            workers = _Workers(run, charters, tmp)
            log(f"offering {rate:,.0f} events/s for {seconds:.0f} s …")
            asyncio.run(_load(run, workers, records, res, kill, log))
            log("comparing the output topics and the changelog with the reference …")
            _compare(run, res, want, states)
            if not res.ok():
                res.worker_logs = "\n".join(
                    f"--- {w.name} (exit {w.proc.returncode}):\n{w.tail(40)}" for w in workers.all
                )
        finally:
            run.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def bench_soak(
    bootstrap: str,
    rate: float = SOAK_DEFAULT_RATE,
    seconds: float = SOAK_DEFAULT_SECONDS,
    seed: int = 7,
    kill: bool = False,
    out: str | Path = "results/soak.md",
) -> int:
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} before the run")
    res = run_soak(bootstrap, rate, seconds, seed, kill)
    print(res.render())
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(res.markdown())
    print(f"wrote {path}")
    return 0 if res.ok() else 1
