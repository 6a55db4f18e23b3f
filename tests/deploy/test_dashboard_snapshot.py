"""scripts/dashboard_snapshot.py's own logic, without the live stack it scrapes.

The live run (broker, worker, revoker, sink, proxy, Prometheus; five minutes)
is what writes docs/dashboard.png and fails when a panel the traffic must fill
is empty. Here: the re-stamping that makes simulated traffic "now", and the
rendering of every panel of the real dashboard, including "No data".
"""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "dashboard_snapshot", ROOT / "scripts" / "dashboard_snapshot.py"
)
assert _spec and _spec.loader
snap = importlib.util.module_from_spec(_spec)
sys.modules["dashboard_snapshot"] = snap
_spec.loader.exec_module(snap)


def _line(ts: str, expires: str | None = None) -> bytes:
    doc = {"type": "credential_issued", "ts": ts, "agent_id": "a"}
    if expires:
        doc["expires_at"] = expires
    return orjson.dumps(doc)


def test_live_moves_every_stamp_by_one_offset_and_times_each_send() -> None:
    lines = [
        _line("2026-03-02T08:00:00Z", expires="2026-03-02T08:10:00Z"),
        _line("2026-03-02T08:00:30.250Z"),
        _line("2026-03-02T08:02:00Z"),
    ]
    start = datetime(2026, 12, 3, 19, 0, 0, tzinfo=UTC)
    out = snap.live(lines, start)
    assert [at for at, _ in out] == [0.0, 30.25, 120.0]
    docs = [orjson.loads(line) for _, line in out]
    stamps = [datetime.fromisoformat(d["ts"].replace("Z", "+00:00")) for d in docs]
    assert stamps == [start, start + timedelta(seconds=30.25), start + timedelta(seconds=120)]
    # every timestamp of a line moves, not only ts: a credential keeps its 10-minute life
    expires = datetime.fromisoformat(docs[0]["expires_at"].replace("Z", "+00:00"))
    assert expires - stamps[0] == timedelta(minutes=10)
    assert all(d["ts"].endswith("Z") for d in docs)


def test_bad_records_are_mixed_in_at_the_time_of_their_neighbours() -> None:
    timed = [(float(i), _line("2026-03-02T08:00:00Z")) for i in range(10)]
    out = snap.with_bad_records(timed, every=4)
    bad = [(at, line) for at, line in out if b'"agent_id":"a"' not in line]
    assert [at for at, _ in bad] == [4.0, 8.0]
    assert len(out) == 12


def test_every_panel_of_the_real_dashboard_renders_with_data_or_no_data(tmp_path: Path) -> None:
    dashboard = json.loads(snap.DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    data = {p["id"]: [("series", [0.0, 2.0, 4.0], [1.0, 3.0, 2.0])] for p in panels[::2]}
    out = tmp_path / "d.png"
    snap.render(dashboard, data, out, "test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000


def test_the_scrape_config_uses_the_job_names_the_dashboard_matches(tmp_path: Path) -> None:
    stack = snap.Stack(tmp_path, "127.0.0.1:9092")
    cfg = snap.prometheus_config(stack)
    for name, port in stack.ports.items():
        assert f"job_name: mcpmon-{name}" in cfg
        assert f'"127.0.0.1:{port}"' in cfg
    workers_up = next(
        t["expr"]
        for p in json.loads(snap.DASHBOARD.read_text())["panels"]
        for t in p.get("targets", [])
        if "up{" in t["expr"]
    )
    assert 'job=~".*worker.*"' in workers_up  # mcpmon-worker matches it
