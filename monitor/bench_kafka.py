"""``mcpmon bench kafka``: the worker end to end on a real broker, beside its ceiling.

Two figures, each next to a baseline from the same run on the same broker:

1. **Latency** (measured first: it is the figure a busy machine disturbs most;
   run after the throughput phase it was seen to carry a steady 1.5–3 s lag
   from a stall at its start). A worker on fresh topics gets simulated events
   at a steady offered rate (default 2,000/s) for a bounded time (≤ 60 s).
   One event in ``--probe-every`` is a violation by a new agent that makes the
   engine publish a revocation command; the latency runs from just before the
   probe is handed to the producer to the moment its command is readable on
   ``mcp.revocations`` by a consumer in this process (one clock).
2. **Throughput.** ``mcpmon worker`` (a subprocess, as deployed; with
   ``--processes N`` every process holding partitions first) runs on a fresh
   4-partition input topic; then ``N`` simulated events are produced into it
   as fast as the producer goes (faster than the worker: a backlog forms).
   Its time runs from the first event produced until a sentinel event placed
   last in every partition has produced its alert on ``mcp.alerts``; per
   partition the order is kept, so then every event has been processed. A
   raw loop — an aiokafka consumer reading every partition and
   ``orjson.loads`` on each value, nothing else — then reads the same topic:
   the practical ceiling of any Python consumer here.

3. **Replay** over the very same events, in this process: the detection
   engine with the worker's settings (baselines on) behind ``replay_lines``,
   nothing else. The worker's own ceiling: ``worker / replay`` is what Kafka,
   Faust and the state writes cost (target, issue 15: ≥ 0.6 for one process).

Order: throughput first (it measures the capacity), then latency at the offered
``--rate`` (2,000/s) and at half the measured capacity, each on a fresh worker
and fresh topics. ``--processes N`` runs the worker as ``mcpmon worker
--processes N`` (N processes, one group; throughput counts all of them).

Topics are named per run and deleted afterwards. Targets: the worker at ≥ 0.6
of replay, p99 ≤ 100 ms at 2,000 events/s; two processes ≥ 1.5 × one.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2

from monitor import simulate
from monitor.kafka_io import delete_topics, ensure_topics, produce
from monitor.settings import Settings
from monitor.worker.process import WorkerProcess
from monitor.worker.topics import worker_topics

KAFKA_DEFAULT_EVENTS = 60_000
TARGET_RATIO = 0.5
TARGET_REPLAY_RATIO = 0.6
TARGET_P99_MS = 100.0
PARTITIONS = 4
PROBE_AGENT = "spiffe://corp/agents/patcher-probe"  # covered by the simulated patcher charter


def _partition(key: bytes, n: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % n


def _agent(line: bytes) -> bytes | None:
    agent = orjson.loads(line).get("agent_id")
    return agent.encode() if isinstance(agent, str) else None


class _Run:
    """One bench phase's private topics, app id and worker."""

    def __init__(self, bootstrap: str, tmp: Path, label: str, processes: int = 1) -> None:
        self.processes = processes
        self.id = f"mcpmon-bench-{label}-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp
        self.settings = Settings.model_validate(
            {
                "kafka_bootstrap": bootstrap,
                "app_id": self.id,
                "topic_events": f"{self.id}.events",
                "topic_alerts": f"{self.id}.alerts",
                "topic_revocations": f"{self.id}.revocations",
                "topic_revocation_acks": f"{self.id}.revocation-acks",
                "topic_deadletter": f"{self.id}.deadletter",
                "topic_charters": f"{self.id}.charters",
                "partitions": PARTITIONS,
                "watermark_idle_seconds": 0,
            }
        )
        self.worker: WorkerProcess | None = None

    def env(self) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCPMON_")}
        for name in (
            "kafka_bootstrap",
            "app_id",
            "topic_events",
            "topic_alerts",
            "topic_revocations",
            "topic_revocation_acks",
            "topic_deadletter",
            "topic_charters",
            "partitions",
            "watermark_idle_seconds",
        ):
            env[f"MCPMON_{name.upper()}"] = str(getattr(s, name))
        # the worker's tuning (MCPMON_WORKER_FLUSH_SECONDS, ...) as this shell has it
        env.update({k: v for k, v in os.environ.items() if k.startswith("MCPMON_WORKER_FLUSH")})
        env["MCPMON_DATA_DIR"] = str(self.tmp / f"{self.id}-data")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start_worker(self, charters: Path) -> WorkerProcess:
        extra = ["--processes", str(self.processes)] if self.processes > 1 else []
        self.worker = WorkerProcess(
            self.id, self.env(), charters, self.tmp / f"{self.id}.log", extra_args=extra
        )
        return self.worker

    def topics(self) -> list[str]:
        s = self.settings
        return [
            s.topic_events,
            s.topic_alerts,
            s.topic_revocations,
            s.topic_revocation_acks,
            s.topic_deadletter,
            s.topic_charters,
            f"{self.id}-agent_state-changelog",
            f"{self.id}-__assignor-__leader",
        ]

    def close(self) -> None:
        if self.worker is not None and self.worker.alive:
            self.worker.stop(15)
        asyncio.run(delete_topics(self.settings.kafka_bootstrap, self.topics()))


def _sentinels(n: int, ts: str) -> list[tuple[bytes, bytes]]:
    """One violating event per partition, keyed so that partition ``p`` gets sentinel ``p``."""
    out: list[tuple[bytes, bytes]] = []
    seen: set[int] = set()
    i = 0
    while len(seen) < n:
        agent = f"{PROBE_AGENT}-sentinel-{i}"
        p = _partition(agent.encode(), n)
        if p not in seen:
            seen.add(p)
            out.append((agent.encode(), _probe(f"sentinel-{p}", agent, ts)))
        i += 1
    return out


def _probe(event_id: str, agent: str, ts: str) -> bytes:
    return orjson.dumps(
        {
            "type": "tool_call",
            "event_id": event_id,
            "ts": ts,
            "agent_id": agent,
            "server": "shell",
            "tool": "exec",
            "credential_id": event_id,
            "outcome": "ok",
        }
    )


async def _raw_loop(bootstrap: str, topic: str, total: int, timeout: float) -> float:
    """Seconds for a bare consumer to read and ``orjson.loads`` ``total`` messages."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        loads = orjson.loads
        n = 0
        start = time.perf_counter()
        deadline = start + timeout
        while n < total and time.perf_counter() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for recs in batch.values():
                for rec in recs:
                    loads(rec.value)
                n += len(recs)
        elapsed = time.perf_counter() - start
    finally:
        await consumer.stop()
    if n < total:
        raise TimeoutError(f"raw loop read {n} of {total} messages in {timeout:.0f} s")
    return elapsed


async def _wait_alerts(bootstrap: str, topic: str, evidence: set[str], timeout: float) -> float:
    """Wall time (time.time) at which alerts citing every id in ``evidence`` were readable."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        missing = set(evidence)
        deadline = time.monotonic() + timeout
        while missing and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            for recs in batch.values():
                for rec in recs:
                    for ev in orjson.loads(rec.value).get("evidence", ()):
                        missing.discard(ev)
        if missing:
            raise TimeoutError(f"no alert for {sorted(missing)} within {timeout:.0f} s")
        return time.time()
    finally:
        await consumer.stop()


def _wait_all_assigned(worker: WorkerProcess, processes: int, timeout: float = 120.0) -> None:
    """Until ``processes`` worker processes each hold input partitions (one group)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last: dict[int, list[int]] = {}
        for rec in worker.logs():
            if rec.get("event") == "partitions_assigned":
                last[rec.get("pid", 0)] = rec.get("partitions", [])
        if sum(1 for ps in last.values() if ps) >= processes:
            return
        if not worker.alive:
            raise RuntimeError("worker exited:\n" + worker.tail())
        time.sleep(0.1)
    raise TimeoutError(f"{processes} worker processes did not all get partitions")


def bench_replay_same(lines: list[bytes], charters_dir: Path, settings: Settings) -> float:
    """Seconds for ``replay_lines`` (the worker's engine settings) over ``lines``."""
    from monitor.charter import load_charter_dir
    from monitor.core import Engine
    from monitor.replay import replay_lines

    engine = Engine(load_charter_dir(charters_dir), settings.engine())
    sink = io.BytesIO
    t0 = time.perf_counter()
    replay_lines(lines, engine, sink(), sink(), sink())
    return time.perf_counter() - t0


def bench_throughput(
    bootstrap: str, n_events: int, seed: int, tmp: Path, processes: int = 1
) -> dict[str, float]:
    print(f"simulating ≥ {n_events:,} events (seed {seed}) …", flush=True)
    agents = max(20, n_events // 80)
    sim = simulate.simulate(agents=agents, minutes=60, seed=seed)
    simulate.write(sim, tmp / "sim")
    lines = (tmp / "sim" / "events.jsonl").read_bytes().splitlines()[:n_events]
    run = _Run(bootstrap, tmp, "tput", processes)
    try:
        asyncio.run(ensure_topics(bootstrap, worker_topics(run.settings)))
        records = [(_agent(line), line) for line in lines]
        records += _sentinels(PARTITIONS, orjson.loads(lines[-1])["ts"])
        total = len(records)
        size = sum(len(v) for _, v in records)
        # the worker(s) first, every process holding partitions, then the events: a
        # rebalance while processing (a second process joining late) is not what this
        # measures
        worker = run.start_worker(tmp / "sim" / "charters")
        worker.wait_ready(90)
        _wait_all_assigned(worker, processes)
        ready = time.time()
        t0 = time.perf_counter()
        asyncio.run(produce(bootstrap, run.settings.topic_events, records, linger_ms=20))
        produce_s = time.perf_counter() - t0
        print(
            f"produced {total:,} events ({size / total:.0f} bytes each) into "
            f"{run.settings.topic_events} in {produce_s:.1f} s, the worker running"
        )
        done = asyncio.run(
            _wait_alerts(
                bootstrap,
                run.settings.topic_alerts,
                {f"sentinel-{p}" for p in range(PARTITIONS)},
                timeout=600,
            )
        )
        worker_s = done - ready
        stats = [r for r in worker.logs() if r.get("event") == "stats"]
        worker.stop(15)  # the raw loop reads the same topic with nothing else running
        raw_s = min(
            asyncio.run(_raw_loop(bootstrap, run.settings.topic_events, total, 120))
            for _ in range(2)
        )
    finally:
        run.close()
    replay_s = bench_replay_same(lines, tmp / "sim" / "charters", run.settings)
    raw_rate, worker_rate = total / raw_s, total / worker_s
    replay_rate = len(lines) / replay_s
    ratio = worker_rate / raw_rate
    print(f"raw aiokafka consume + orjson.loads : {raw_rate:>10,.0f} events/s  ({raw_s:.2f} s)")
    print(
        f"mcpmon replay, same events          : {replay_rate:>10,.0f} events/s  "
        f"({replay_s:.2f} s, engine with the worker's settings, one process)"
    )
    print(
        f"mcpmon worker, end to end           : {worker_rate:>10,.0f} events/s  "
        f"({worker_s:.2f} s, {processes} process{'es' if processes > 1 else ''}, from the first "
        "event produced to the last sentinel alert readable)"
    )
    per_replay = worker_rate / replay_rate
    print(
        f"ratio worker / replay               : {per_replay:>10.3f}  "
        f"({'meets' if per_replay >= TARGET_REPLAY_RATIO * processes else 'below'} the "
        f"{TARGET_REPLAY_RATIO} target per process)"
    )
    verdict = "meets" if ratio >= TARGET_RATIO else "below"
    print(
        f"ratio worker / raw                  : {ratio:>10.3f}  ({verdict} the {TARGET_RATIO} "
        "target)"
    )
    if stats:
        print(f"worker counters: {stats[-1]}")
    return {
        "events": total,
        "processes": processes,
        "raw_eps": raw_rate,
        "replay_eps": replay_rate,
        "worker_eps": worker_rate,
        "ratio": ratio,
        "worker_per_replay": per_replay,
    }


async def _latency_phase(
    run: _Run, lines: list[bytes], rate: float, seconds: float, probe_every: int
) -> tuple[list[float], int, float]:
    bootstrap = run.settings.kafka_bootstrap
    sent_at: dict[str, float] = {}
    lat_ms: list[float] = []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    tps = [TopicPartition(run.settings.topic_revocations, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    stop = asyncio.Event()

    async def read() -> None:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=20)
            now = time.perf_counter()
            for recs in batch.values():
                for rec in recs:
                    for cid in orjson.loads(rec.value).get("credential_ids", ()):
                        t = sent_at.get(cid)
                        if t is not None:
                            lat_ms.append((now - t) * 1000)

    reader = asyncio.create_task(read())
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    # Warm-up: one probe, answered before the clock starts. A worker's first events
    # were seen to wait seconds (first fetch, committed-offset lookup, a broker busy
    # deleting the previous phase's topics); that start-up stall is its own figure,
    # not the steady latency this phase measures.
    t0 = time.perf_counter()
    sent_at["warmup"] = t0
    warm_agent = f"{PROBE_AGENT}-warmup"
    await producer.send(
        run.settings.topic_events,
        key=warm_agent.encode(),
        value=_probe("warmup", warm_agent, orjson.loads(lines[0])["ts"]),
    )
    while not lat_ms and time.perf_counter() - t0 < 90:
        await asyncio.sleep(0.05)
    print(f"warm-up: first command readable after {time.perf_counter() - t0:.1f} s", flush=True)
    lat_ms.clear()
    sent_at.clear()
    total = int(rate * seconds)
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    start = time.perf_counter()
    n = 0
    try:
        while n < total:
            for _ in range(min(per_tick, total - n)):
                line = lines[n % len(lines)]
                if n % probe_every == probe_every - 1:
                    pid = f"probe-{n}"
                    agent = f"{PROBE_AGENT}-{n}"
                    value = _probe(pid, agent, orjson.loads(line)["ts"])
                    sent_at[pid] = time.perf_counter()
                    await producer.send(run.settings.topic_events, key=agent.encode(), value=value)
                else:
                    await producer.send(run.settings.topic_events, key=_agent(line), value=line)
                n += 1
            delay = start + (n / rate) - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await producer.flush()
        offered = n / (time.perf_counter() - start)
        deadline = time.perf_counter() + 15
        while len(lat_ms) < len(sent_at) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await reader
        await producer.stop()
        await consumer.stop()
    return lat_ms, len(sent_at), offered


def bench_latency(
    bootstrap: str,
    rate: float,
    seconds: float,
    probe_every: int,
    seed: int,
    tmp: Path,
    processes: int = 1,
) -> dict[str, float]:
    seconds = min(seconds, 60.0)
    n = int(rate * seconds)
    sim = simulate.simulate(agents=max(20, n // 80), minutes=60, seed=seed + 1)
    simulate.write(sim, tmp / "sim-lat")
    lines = (tmp / "sim-lat" / "events.jsonl").read_bytes().splitlines()
    run = _Run(bootstrap, tmp, "lat", processes)
    try:
        asyncio.run(ensure_topics(bootstrap, worker_topics(run.settings)))
        worker = run.start_worker(tmp / "sim-lat" / "charters")
        worker.wait_ready(90)
        _wait_all_assigned(worker, processes)
        print(
            f"offering {rate:,.0f} events/s for {seconds:.0f} s, one probe violation in "
            f"{probe_every} …",
            flush=True,
        )
        lat, probes, offered = asyncio.run(_latency_phase(run, lines, rate, seconds, probe_every))
    finally:
        run.close()
    if not lat:
        raise TimeoutError("no revocation command came back")
    lat.sort()
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    print(f"offered load                        : {offered:>10,.0f} events/s")
    print(f"probes answered                     : {len(lat):>10,} of {probes:,}")
    print(f"produce → revocation readable  p50  : {p50:>10.1f} ms")
    print(
        f"                               p99  : {p99:>10.1f} ms  "
        f"({'meets' if p99 <= TARGET_P99_MS else 'above'} the {TARGET_P99_MS:.0f} ms target)"
    )
    print(f"                               max  : {lat[-1]:>10.1f} ms")
    return {
        "offered_eps": offered,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": lat[-1],
        "probes": probes,
        "answered": len(lat),
    }


def bench_kafka(
    bootstrap: str,
    n_events: int,
    seed: int,
    rate: float,
    seconds: float,
    probe_every: int = 20,
    processes: int = 1,
) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="mcpmon-bench-kafka-"))
    load = os.getloadavg()[0]
    print(
        f"{os.cpu_count()} CPUs, load average {load:.2f} before the run (the worker, the "
        "broker and this load generator share them)"
    )
    try:
        # throughput first: it measures the capacity the second latency phase is offered half of
        print(f"== throughput: {n_events:,} events, {processes} worker process(es)")
        tput = bench_throughput(bootstrap, n_events, seed, tmp, processes)
        if processes > 1:  # the same events through one process, for the scaling ratio
            print(f"\n== throughput: {n_events:,} events, 1 worker process (for the ratio)")
            one = bench_throughput(bootstrap, n_events, seed, tmp, 1)
            tput["one_process_eps"] = one["worker_eps"]
            tput["scaling"] = tput["worker_eps"] / one["worker_eps"]
            print(
                f"{processes} processes / 1 process              : {tput['scaling']:>10.2f}  "
                f"({'meets' if tput['scaling'] >= 1.5 else 'below'} the 1.5 target for 2)"
            )
        print(f"\n== latency: {rate:,.0f} events/s offered, broker {bootstrap}")
        lat = bench_latency(bootstrap, rate, seconds, probe_every, seed, tmp, processes)
        half = max(1.0, round(tput["worker_eps"] / 2))
        print(f"\n== latency: {half:,.0f} events/s offered (50 % of the measured capacity)")
        lat_half = bench_latency(bootstrap, half, seconds, probe_every, seed, tmp, processes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f} after the run")
    summary = {
        **tput,
        **lat,
        **{f"half_capacity_{k}": v for k, v in lat_half.items()},
    }
    print("\nsummary: " + orjson.dumps(summary, option=orjson.OPT_SERIALIZE_NUMPY).decode())
    return 0
