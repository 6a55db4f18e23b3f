"""``mcpmon bench kafka``: the worker end to end on a real broker, beside its ceiling.

Two figures, each next to a baseline from the same run on the same broker:

1. **Latency** (measured first: it is the figure a busy machine disturbs most;
   run after the throughput phase it was seen to carry a steady 1.5–3 s lag
   from a stall at its start). A worker on fresh topics gets simulated events
   at a steady offered rate (default 2,000/s) for a bounded time (≤ 60 s).
   One event in ``--probe-every`` is a violation by a new agent that makes the
   engine publish a revocation command; the latency runs from just before the
   probe is handed to the producer to the moment its command is readable on
   ``mcp.revocations`` by a consumer in this process (one clock). p50/p99 are
   over the probes sent after the first :data:`LATENCY_WARMUP_SECONDS` of load
   (a fresh worker meets each agent of the run for the first time then);
   every probe's p99 and max, the first seconds included, are printed beside.
2. **Throughput.** ``mcpmon worker`` (a subprocess, as deployed; with
   ``--processes N`` every process holding partitions first) runs on a fresh
   4-partition input topic and, once every process holds partitions, is
   stopped (SIGSTOP) while ``N`` simulated events are produced into it: a
   backlog, as after an outage or a restart. Its time runs from the moment it
   is continued (SIGCONT) until a sentinel event placed last in every
   partition has produced its alert on ``mcp.alerts``; per partition the
   order is kept, so then every event has been processed. While it drains,
   only the worker and the broker run (the load generator no longer takes a
   core from it: before, the events were produced while it ran, and its
   figure measured the producer as much as the worker). A raw loop — an
   aiokafka consumer reading every partition and ``orjson.loads`` on each
   value, nothing else — then drains the same topic under the same
   conditions: the practical ceiling of any Python consumer here.

3. **Replay** over the very same events, in this process: the detection
   engine with the worker's settings (baselines on) behind ``replay_lines``,
   nothing else. The worker's own ceiling: ``worker / replay`` is what Kafka,
   Faust and the state writes cost (target, issue 15: ≥ 0.6 for one process).

Order: latency at the offered ``--rate`` (2,000/s) first, on a broker with
nothing else to do (after the throughput phases it met the broker deleting
their topics); then throughput (it measures the capacity); then latency at half
the measured capacity. Each on a fresh worker and fresh topics. ``--processes N`` runs the worker as ``mcpmon worker
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
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from monitor import simulate
from monitor.bench import workercost
from monitor.bench.broker import (
    PARTITIONS,
    PROBE_AGENT,
    BenchRun,
    agent_key,
    partition_of,
    probe_event,
)
from monitor.kafka_io import ensure_topics, produce
from monitor.settings import Settings
from monitor.worker.process import WorkerProcess
from monitor.worker.topics import worker_topics

KAFKA_DEFAULT_EVENTS = 60_000
#: One event in this many of a latency phase is a probe violation. Each makes a new agent,
#: an alert and a signed command (about 1 ms of engine time against ~0.2 ms for an event);
#: at one in 20 they were a quarter of the engine's work, far above any real violation rate.
KAFKA_DEFAULT_PROBE_EVERY = 50
TARGET_RATIO = 0.5
TARGET_REPLAY_RATIO = 0.6
TARGET_P99_MS = 100.0
TARGET_GC_PAUSE_MS = 20.0
#: The first seconds of offered load, whose probes are reported apart: a fresh worker meets
#: every agent of the run for the first time then (state built, charters resolved).
LATENCY_WARMUP_SECONDS = 3.0


def _sentinels(n: int, ts: str) -> list[tuple[bytes, bytes]]:
    """One violating event per partition, keyed so that partition ``p`` gets sentinel ``p``."""
    out: list[tuple[bytes, bytes]] = []
    seen: set[int] = set()
    i = 0
    while len(seen) < n:
        agent = f"{PROBE_AGENT}-sentinel-{i}"
        p = partition_of(agent.encode(), n)
        if p not in seen:
            seen.add(p)
            out.append((agent.encode(), probe_event(f"sentinel-{p}", agent, ts)))
        i += 1
    return out


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
    last: dict[int, list[int]] = {}
    while time.monotonic() < deadline:
        last = {}
        for rec in worker.logs():
            if rec.get("event") == "partitions_assigned":
                last[rec.get("pid", 0)] = rec.get("partitions", [])
        if sum(1 for ps in last.values() if ps) >= processes:
            return
        if not worker.alive:
            raise RuntimeError("worker exited:\n" + worker.tail())
        time.sleep(0.1)
    # the worker log goes with the bench's temporary directory: its tail is the only trace
    raise TimeoutError(
        f"{processes} worker processes did not all get partitions within {timeout:.0f} s; "
        f"last assignments by pid: {last}\n" + worker.tail()
    )


def bench_replay_same(
    lines: list[bytes], charters_dir: Path, settings: Settings
) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``replay_lines`` (the worker's engine settings) over
    ``lines``."""
    from monitor.charter import load_charter_dir
    from monitor.core import Engine
    from monitor.replay import replay_lines

    engine = Engine(load_charter_dir(charters_dir), settings.engine())
    sink = io.BytesIO
    t0, c0 = time.perf_counter(), time.process_time()
    replay_lines(lines, engine, sink(), sink(), sink())
    return time.perf_counter() - t0, time.process_time() - c0


def _worker_throughput(
    run: BenchRun, lines: list[bytes], charters: Path, processes: int
) -> tuple[int, float, float, float | None, list[dict[str, object]]]:
    """(events, worker seconds, raw-loop seconds, the worker processes' CPU seconds from
    ready to done, the worker's stats logs) on ``run``'s topics.

    The worker(s) first, every process holding partitions, then the events: a
    rebalance while processing (a second process joining late) is not what this
    measures. The raw loop then reads the same topic with nothing else running.
    """
    bootstrap = run.settings.kafka_bootstrap
    asyncio.run(ensure_topics(bootstrap, worker_topics(run.settings)))
    records = [(agent_key(line), line) for line in lines]
    records += _sentinels(PARTITIONS, orjson.loads(lines[-1])["ts"])
    total = len(records)
    size = sum(len(v) for _, v in records)
    worker = run.start_worker(charters)
    worker.wait_ready(90)
    _wait_all_assigned(worker, processes)
    pids = workercost.worker_pids(worker.logs(), worker.proc.pid)
    with workercost.paused(pids):  # the backlog first, the worker stopped: then only it runs
        t0 = time.perf_counter()
        asyncio.run(produce(bootstrap, run.settings.topic_events, records, linger_ms=20))
        produce_s = time.perf_counter() - t0
        print(
            f"produced {total:,} events ({size / total:.0f} bytes each) into "
            f"{run.settings.topic_events} in {produce_s:.1f} s, the worker stopped (SIGSTOP)"
        )
        cpu0 = workercost.cpu_seconds(pids)
        ready = time.time()
    done = asyncio.run(
        _wait_alerts(
            bootstrap,
            run.settings.topic_alerts,
            {f"sentinel-{p}" for p in range(PARTITIONS)},
            timeout=600,
        )
    )
    cpu_s = workercost.cpu_used(cpu0, workercost.cpu_seconds(pids))
    worker.stop(15)
    stats = [r for r in worker.logs() if r.get("event") == "stats"]  # the last at its stop
    raw_s = min(
        asyncio.run(_raw_loop(bootstrap, run.settings.topic_events, total, 120)) for _ in range(2)
    )
    return total, done - ready, raw_s, cpu_s, stats


def bench_throughput(
    bootstrap: str, n_events: int, seed: int, tmp: Path, processes: int = 1
) -> dict[str, float]:
    print(f"simulating ≥ {n_events:,} events (seed {seed}) …", flush=True)
    agents = max(20, n_events // 80)
    sim = simulate.simulate(agents=agents, minutes=60, seed=seed)
    simulate.write(sim, tmp / "sim")
    lines = (tmp / "sim" / "events.jsonl").read_bytes().splitlines()[:n_events]
    run = BenchRun(bootstrap, tmp, "tput", processes)
    try:
        total, worker_s, raw_s, worker_cpu, stats = _worker_throughput(
            run, lines, tmp / "sim" / "charters", processes
        )
    finally:
        run.close()
    replay_s, replay_cpu = bench_replay_same(lines, tmp / "sim" / "charters", run.settings)
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
        f"({worker_s:.2f} s, {processes} process{'es' if processes > 1 else ''}, draining "
        "the backlog: from SIGCONT to the last sentinel alert readable)"
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
    cost = _print_cost(total, worker_cpu, len(lines), replay_cpu, stats)
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
        **cost,
    }


def _print_cost(
    events: int,
    worker_cpu: float | None,
    replayed: int,
    replay_cpu: float,
    stats: list[dict[str, object]],
) -> dict[str, float]:
    """CPU per event of the worker processes (ready to done) and of replay, and the longest
    GC pause the worker reported: figures the shared machine disturbs less than events/s."""
    out: dict[str, float] = {"replay_cpu_us": replay_cpu / replayed * 1e6}
    print(f"replay CPU per event                : {out['replay_cpu_us']:>10.1f} µs")
    if worker_cpu is not None:
        out["worker_cpu_us"] = worker_cpu / events * 1e6
        out["cpu_ratio"] = out["replay_cpu_us"] / out["worker_cpu_us"]
        print(
            f"worker CPU per event                : {out['worker_cpu_us']:>10.1f} µs  (every "
            f"worker process, ready to done; replay / worker {out['cpu_ratio']:.3f})"
        )
    pause = workercost.longest_gc_pause(stats)
    if pause is not None:
        out["gc_max_ms"] = pause[0]
        print(
            f"longest GC pause in the worker      : {pause[0]:>10.1f} ms  (generation {pause[1]})"
        )
    return out


async def _warm_up(
    producer: AIOKafkaProducer,
    topic: str,
    first: bytes,
    sent_at: dict[str, float],
    answered: dict[str, float],
) -> None:
    """One probe, answered before the clock starts.

    A worker's first events were seen to wait seconds (first fetch,
    committed-offset lookup, a broker busy deleting the previous phase's
    topics); that start-up stall is its own figure, not the steady latency the
    latency phase measures.
    """
    t0 = time.perf_counter()
    sent_at["warmup"] = t0
    warm_agent = f"{PROBE_AGENT}-warmup"
    await producer.send(
        topic,
        key=warm_agent.encode(),
        value=probe_event("warmup", warm_agent, orjson.loads(first)["ts"]),
    )
    while not answered and time.perf_counter() - t0 < 90:
        await asyncio.sleep(0.05)
    print(f"warm-up: first command readable after {time.perf_counter() - t0:.1f} s", flush=True)


async def _latency_phase(
    run: BenchRun,
    lines: list[bytes],
    rate: float,
    seconds: float,
    probe_every: int,
    warmup: float = 0.0,
) -> tuple[list[float], list[float], int, float]:
    """(latencies of the probes sent ``warmup`` s or more after the load began, of every
    probe answered, probes sent, the offered rate): ms from a probe handed to the producer
    to its command readable."""
    bootstrap = run.settings.kafka_bootstrap
    sent_at: dict[str, float] = {}
    answered: dict[str, float] = {}  # probe id -> ms from handed to the producer to readable
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
                        if t is not None and cid not in answered:
                            answered[cid] = (now - t) * 1000

    reader = asyncio.create_task(read())
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    await _warm_up(producer, run.settings.topic_events, lines[0], sent_at, answered)
    answered.clear()
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
                    value = probe_event(pid, agent, orjson.loads(line)["ts"])
                    sent_at[pid] = time.perf_counter()
                    await producer.send(run.settings.topic_events, key=agent.encode(), value=value)
                else:
                    await producer.send(run.settings.topic_events, key=agent_key(line), value=line)
                n += 1
            delay = start + (n / rate) - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await producer.flush()
        offered = n / (time.perf_counter() - start)
        deadline = time.perf_counter() + 15
        while len(answered) < len(sent_at) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await reader
        await producer.stop()
        await consumer.stop()
    steady = [ms for cid, ms in answered.items() if sent_at[cid] - start >= warmup]
    return steady, list(answered.values()), len(sent_at), offered


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
    warmup = min(LATENCY_WARMUP_SECONDS, seconds / 4)
    n = int(rate * seconds)
    sim = simulate.simulate(agents=max(20, n // 80), minutes=60, seed=seed + 1)
    simulate.write(sim, tmp / "sim-lat")
    lines = (tmp / "sim-lat" / "events.jsonl").read_bytes().splitlines()
    run = BenchRun(bootstrap, tmp, "lat", processes)
    try:
        asyncio.run(ensure_topics(bootstrap, worker_topics(run.settings)))
        worker = run.start_worker(tmp / "sim-lat" / "charters")
        worker.wait_ready(90)
        _wait_all_assigned(worker, processes)
        pids = workercost.worker_pids(worker.logs(), worker.proc.pid)
        cpu0 = workercost.cpu_seconds(pids)
        print(
            f"offering {rate:,.0f} events/s for {seconds:.0f} s, one probe violation in "
            f"{probe_every} …",
            flush=True,
        )
        lat, every, probes, offered = asyncio.run(
            _latency_phase(run, lines, rate, seconds, probe_every, warmup)
        )
        cpu_s = workercost.cpu_used(cpu0, workercost.cpu_seconds(pids))
    finally:
        run.close()
    # every event offered, the warm-up probe and the wait for the last answers included
    cpu_us = None if cpu_s is None else cpu_s / (int(rate * seconds) + 1) * 1e6
    logs = run.worker.logs() if run.worker is not None else []
    pause = workercost.longest_gc_pause(logs)
    stats = [r for r in logs if r.get("event") == "stats"]
    if not lat:
        raise TimeoutError("no revocation command came back")
    lat.sort()
    every.sort()
    p50 = statistics.median(lat)
    p99 = _p99(lat)
    print(f"offered load                        : {offered:>10,.0f} events/s")
    print(f"probes answered                     : {len(every):>10,} of {probes:,}")
    print(
        f"produce → revocation readable  p50  : {p50:>10.1f} ms  (probes sent after the "
        f"first {warmup:.0f} s of load: {len(lat):,})"
    )
    print(
        f"                               p99  : {p99:>10.1f} ms  "
        f"({'meets' if p99 <= TARGET_P99_MS else 'above'} the {TARGET_P99_MS:.0f} ms target)"
    )
    print(f"                               max  : {lat[-1]:>10.1f} ms")
    print(
        f"every probe, the first {warmup:.0f} s too : p99 {_p99(every):.1f} ms, max "
        f"{every[-1]:.1f} ms  (a fresh worker meeting every agent for the first time)"
    )
    if pause is not None:
        print(
            f"longest GC pause in the worker      : {pause[0]:>10.1f} ms  (generation {pause[1]}, "
            f"target ≤ {TARGET_GC_PAUSE_MS:.0f} ms)"
        )
    if cpu_us is not None:
        print(f"worker CPU per event offered        : {cpu_us:>10.1f} µs")
    if stats:
        gc_keys = [k for k in stats[-1] if str(k).startswith("gc")]
        print(f"worker GC at its stop: { {k: stats[-1][k] for k in gc_keys} }")
    return {
        **({"gc_max_ms": pause[0]} if pause is not None else {}),
        **({"stream_cpu_us": cpu_us} if cpu_us is not None else {}),
        "offered_eps": offered,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": lat[-1],
        "p99_with_warmup_ms": _p99(every),
        "max_with_warmup_ms": every[-1],
        "warmup_s": warmup,
        "probes": probes,
        "answered": len(every),
    }


def _p99(sorted_ms: list[float]) -> float:
    """The 99th percentile of an ascending, non-empty list (nearest rank)."""
    return sorted_ms[min(len(sorted_ms) - 1, int(0.99 * len(sorted_ms)))]


def bench_kafka(
    bootstrap: str,
    n_events: int,
    seed: int,
    rate: float,
    seconds: float,
    probe_every: int = KAFKA_DEFAULT_PROBE_EVERY,
    processes: int = 1,
) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="mcpmon-bench-kafka-"))
    load = os.getloadavg()[0]
    print(
        f"{os.cpu_count()} CPUs, load average {load:.2f} before the run (the worker, the "
        "broker and this load generator share them)"
    )
    try:
        # latency at the offered rate first, on a broker with nothing else to do: run after
        # the throughput phases, it met the broker deleting their topics (p99 196 ms against
        # 46-73 ms for the same worker and load on its own); the half-capacity phase needs the
        # capacity the throughput phases measure, so it comes last
        print(f"== latency: {rate:,.0f} events/s offered, broker {bootstrap}")
        lat = bench_latency(bootstrap, rate, seconds, probe_every, seed, tmp, processes)
        print(f"\n== throughput: {n_events:,} events, {processes} worker process(es)")
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
