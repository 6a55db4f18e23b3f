"""``mcpmon sink``'s Kafka loop against the real broker and a real HEC receiver.

The receiver is down at first: nothing is delivered or committed; once it is
up every alert arrives, a bad message goes to the dead-letter topic, and a
second sink in the same group gets nothing again (the offsets were committed):
given one more alert after them, it delivers that one and only that one.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from structlog.testing import capture_logs

from monitor.kafka_io import produce, read_topics
from monitor.metrics import CollectorRegistry, SinkMetrics
from monitor.settings import Settings, load_settings
from monitor.sinks.service import SinkCounters, SinkService, build_transport
from tests.integration.workers import Run
from tests.revoker.servers import free_port
from tests.sinks.receivers import HecBehaviour, HecServer, TcpReceiver, wait_for
from tests.sinks.support import alert
from tests.waiting import until

pytestmark = pytest.mark.kafka

TOKEN = "it-token"


def _settings(run: Run, **extra: str) -> Settings:
    env = {k: v for k, v in run.env().items() if k.startswith("MCPMON_")}
    env.update(MCPMON_SINK_GROUP_ID=f"{run.app_id}-sink", **extra)
    return load_settings(env=env)


def _lag(reg: CollectorRegistry) -> float | None:
    values = [
        s.value for m in reg.collect() if m.name == "mcpmon_sink_consumer_lag" for s in m.samples
    ]
    return sum(values) if values else None


def test_hec_sink_waits_for_the_receiver_then_delivers_all_once(run: Run) -> None:
    port = free_port()
    settings = _settings(
        run,
        MCPMON_SINK_TO="splunk-hec",
        MCPMON_SINK_HEC_URL=f"http://127.0.0.1:{port}",
        MCPMON_SINK_HEC_TOKEN=TOKEN,
        MCPMON_SINK_RETRY_BASE_SECONDS="0.1",
        MCPMON_SINK_RETRY_MAX_SECONDS="0.5",
        MCPMON_SINK_TIMEOUT_SECONDS="1",
    )
    alerts = [alert(alert_id=f"k{i}") for i in range(3)]
    marker = alert(alert_id="k3")  # produced for the second sink only
    hec = HecBehaviour(TOKEN)
    servers: list[HecServer] = []
    reg = CollectorRegistry()
    stuck_lag: list[float | None] = []

    def retries() -> float:
        return reg.get_sample_value("mcpmon_sink_retries_total", {"sink": "splunk-hec"}) or 0

    async def go() -> tuple[SinkCounters, SinkCounters]:
        await produce(
            run.bootstrap,
            run.topics["alerts"],
            [(b"a1", a.to_json()) for a in alerts[:2]]
            + [(b"a1", b"{not an alert")]
            + [(b"a1", alerts[2].to_json())],
        )
        service = SinkService(settings, build_transport(settings), metrics=SinkMetrics(reg))
        task = asyncio.create_task(service.run())
        try:
            # all four fetched and the first delivery failing: the receiver is down
            await until(lambda: _lag(reg) == 4.0 and retries() >= 2, 60, "a stuck delivery")
            assert hec.events == []  # receiver down: nothing delivered, nothing committed
            stuck_lag.append(_lag(reg))
            servers.append(HecServer(hec, port=port))
            await until(lambda: len(hec.events) >= 3, 60, "3 alerts at the receiver", every=0.1)
        finally:
            service.stop()
            first = await asyncio.wait_for(task, 30)
        # a second sink in the same group: everything was committed, nothing comes again;
        # one more alert behind the others proves it got the partition and read from the
        # committed offset (a sink that never got its partition also "delivers nothing")
        await produce(run.bootstrap, run.topics["alerts"], [(b"a1", marker.to_json())])
        again = SinkService(settings, build_transport(settings))
        task2 = asyncio.create_task(again.run())
        try:
            await until(lambda: len(hec.events) >= 4, 60, "the second sink's alert", every=0.1)
        finally:
            again.stop()
            second = await asyncio.wait_for(task2, 30)
        return first, second

    try:
        with capture_logs() as logs:
            first, second = asyncio.run(go())
    finally:
        for s in servers:
            s.close()
    assert (first.delivered, first.deadletter) == (3, 1)
    assert stuck_lag == [4.0]  # all four fetched, none handled while the receiver was down
    assert _lag(reg) == 0.0
    assert reg.get_sample_value("mcpmon_sink_delivered_total", {"sink": "splunk-hec"}) == 3
    assert reg.get_sample_value("mcpmon_sink_deadletters_total", {"reason": "invalid"}) == 1
    assert retries() >= 2
    assert (second.delivered, second.deadletter) == (1, 0)  # all committed: only the new one
    # in order, once each: the second sink delivered the new alert and nothing before it
    assert [b["event"]["alert_id"] for b in hec.events] == ["k0", "k1", "k2", "k3"]
    assert any(e["event"] == "sink_retry" for e in logs)
    dead = asyncio.run(
        read_topics(
            run.bootstrap, [run.topics["deadletter"]], until=lambda r: len(r) >= 1, timeout=20
        )
    )
    assert len(dead) == 1
    assert orjson.loads(dead[0].value)["reason"].startswith("invalid alert")


def test_ocsf_file_sink_end_to_end(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "ocsf.jsonl"
    settings = _settings(run, MCPMON_SINK_TO="ocsf-file", MCPMON_SINK_FILE=str(out))
    alerts = [alert(alert_id=f"f{i}", severity="critical") for i in range(5)]

    async def go() -> None:
        await produce(run.bootstrap, run.topics["alerts"], [(b"a1", a.to_json()) for a in alerts])
        service = SinkService(settings, build_transport(settings))
        task = asyncio.create_task(service.run())
        try:
            await until(
                lambda: out.exists() and len(out.read_bytes().splitlines()) >= 5,
                60,
                "5 rows in the OCSF file",
                every=0.1,
            )
        finally:
            service.stop()
            await asyncio.wait_for(task, 30)

    asyncio.run(go())
    rows = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [r["finding_info"]["uid"] for r in rows] == [f"f{i}" for i in range(5)]
    assert {r["severity_id"] for r in rows} == {5}


def test_mcpmon_sink_cli_cef_syslog_tcp(run: Run, tmp_path: Path) -> None:
    """The real ``mcpmon sink`` process: alerts reach a TCP syslog receiver; SIGTERM exits 0."""
    rx = TcpReceiver()
    env = run.env(
        MCPMON_SINK_GROUP_ID=f"{run.app_id}-sink",
        MCPMON_SINK_SYSLOG_HOST="127.0.0.1",
        MCPMON_SINK_SYSLOG_PORT=str(rx.port),
        MCPMON_SINK_HOSTNAME="mon-1",
    )
    alerts = [alert(alert_id=f"c{i}", reason=f"a|b=c\nline {i}") for i in range(3)]
    asyncio.run(
        produce(run.bootstrap, run.topics["alerts"], [(b"a1", a.to_json()) for a in alerts])
    )
    log = (tmp_path / "sink.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "sink", "--to", "cef-syslog", "--protocol", "tcp"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for(lambda: len(rx.messages) >= 3, timeout=60), (
            tmp_path / "sink.log"
        ).read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
        rx.close()
    assert [m.split(b"externalId=")[1].split(b" ")[0] for m in rx.messages] == [b"c0", b"c1", b"c2"]
    assert all(m.startswith(b"<83>1 2026-03-01T12:00:00.250Z mon-1 mcpmon - ") for m in rx.messages)
    assert b"msg=a|b\\=c\\nline 0" in rx.messages[0]
