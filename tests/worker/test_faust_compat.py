"""The Faust/aiokafka contract: every private the worker relies on, against the installed packages.

Fails naming the attribute when an upgrade moves one (faust-streaming and aiokafka
are pinned exactly in pyproject.toml for that reason).
"""

from __future__ import annotations

import asyncio
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from monitor.settings import Settings
from monitor.worker import faust_compat, faust_contract
from monitor.worker.app import faust_app

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_pins_exactly_the_versions_the_contract_was_checked_on() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*==\s*([0-9][^;\s,]*)", dep.strip())
        if m:
            pins[m.group(1).lower()] = m.group(2)
    for dist, version in faust_contract.PINNED.items():
        assert pins.get(dist) == version, f"pyproject.toml must pin {dist}=={version} exactly"
    lock = (ROOT / "deploy" / "requirements.lock").read_text()
    for dist, version in faust_contract.PINNED.items():
        assert f"\n{dist}=={version} " in lock, f"deploy/requirements.lock: {dist}=={version}"


def test_the_installed_packages_are_the_pinned_ones() -> None:
    assert faust_contract.version_problems() == []


def test_every_private_the_worker_uses_is_where_it_was(tmp_path: Path) -> None:
    app = faust_app(Settings(data_dir=str(tmp_path), kafka_bootstrap="127.0.0.1:1"))
    consumer = app.consumer  # built, not started: no broker needed
    assert faust_contract.contract_problems(consumer) == []
    faust_contract.check_contract(consumer)  # does not raise


def test_a_moved_private_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from faust.transport.consumer import Consumer

    monkeypatch.delattr(Consumer, "_commit")
    consumer = SimpleNamespace()  # an instance without _gap
    problems = faust_contract.contract_problems(consumer)
    assert any("Consumer._commit" in p for p in problems), problems
    assert any("._gap" in p for p in problems), problems
    assert any("._read_offset" in p for p in problems), problems
    with pytest.raises(faust_contract.FaustContractError, match=r"Consumer\._commit"):
        faust_contract.check_contract(consumer)


def test_a_broken_contract_is_under_the_package_root() -> None:
    """Callers catch :class:`MonitorError` for everything mcp-monitor raises on purpose."""
    from monitor.errors import MonitorError
    from monitor.worker.exceptions import WorkerError

    assert issubclass(faust_contract.FaustContractError, WorkerError)
    assert issubclass(faust_contract.FaustContractError, MonitorError)
    assert issubclass(faust_contract.FaustContractError, RuntimeError)  # as before


def test_the_privates_do_what_the_worker_needs(tmp_path: Path) -> None:
    """Through the real classes: a table record's send returns a future, the current
    event is the one given, a message marked done is acked, a seek forgets Faust's gap."""
    from faust.streams import current_event
    from faust.types import TP
    from faust.types.tuples import Message

    class _Event:  # Faust keeps the current event by weak reference
        def __init__(self, message: Any) -> None:
            self.message = message

    msg = Message("t", 0, 5, 0.0, 0, [], b"k", b"v", None)
    event = _Event(msg)
    assert current_event() is None
    with faust_compat.event_context(event):
        assert current_event() is event
    assert current_event() is None
    faust_compat.mark_done(event)
    assert msg.acked is True

    app = faust_app(Settings(data_dir=str(tmp_path), kafka_bootstrap="127.0.0.1:1"))
    consumer: Any = app.consumer
    tp = TP("t", 0)
    consumer._gap[tp]  # a defaultdict: touching it makes an entry
    sought: list[dict[Any, int]] = []

    async def seek_wait(offsets: dict[Any, int]) -> None:
        sought.append(offsets)

    consumer.seek_wait = seek_wait
    asyncio.run(faust_compat.seek_back(consumer, tp, 7))
    assert tp not in consumer._gap and sought == [{tp: 7}]

    table = app.Table("t", default=None, key_type=bytes, value_type=bytes)
    sent: list[tuple[Any, ...]] = []
    table.send_changelog = lambda *a: sent.append(a) or "future"  # type: ignore[method-assign]
    store: dict[bytes, bytes] = {}
    table._data = store  # the in-memory store Faust builds on start  # type: ignore[attr-defined]
    assert faust_compat.write_record(table, 3, b"k", b"v") == "future"
    assert sent == [(3, b"k", b"v")] and store == {b"k": b"v"}


PRIVATE = re.compile(
    r"\._commit\(|\b_gap\b|_current_event|\.acked\s*=|send_changelog|\bFetcher\b|seek_wait"
    r"|\.data\[|aiokafka\.consumer\.fetcher|_read_offset|perform_seek|on_buffer_full"
)


def test_no_other_module_touches_a_faust_private() -> None:
    offenders = []
    for path in sorted((ROOT / "monitor").rglob("*.py")):
        if path.name in ("faust_compat.py", "faust_contract.py"):  # the latter only names them
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if PRIVATE.search(code) and "``" not in code:
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_the_worker_app_runs_without_faust_s_per_event_statistics(tmp_path: Path) -> None:
    from faust.sensors import Monitor
    from faust.types import TP
    from faust.types.tuples import Message

    app = faust_app(Settings(data_dir=str(tmp_path), kafka_bootstrap="127.0.0.1:1"))
    monitor = app.monitor
    assert isinstance(monitor, Monitor) and type(monitor) is not Monitor
    msg = Message("t", 0, 5, 0.0, 0, [], b"k", b"v", None)
    monitor.on_message_in(TP("t", 0), 5, msg)
    assert monitor.messages_received_total == 0 and msg.time_in is None


def test_a_nested_data_dir_that_does_not_exist_yet_is_created_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "no" / "such" / "dir"
    faust_app(Settings(data_dir=str(data), kafka_bootstrap="127.0.0.1:1"))
    assert data.is_dir()
    assert data.stat().st_mode & 0o077 == 0
