"""The tap's mapping side is pure: formats, mapping, paths and pairing do no I/O.

They import no Kafka, asyncio, threads, OS or network code and read no clock;
time comes in (``Line.seen``; ``FormatContext.clock``, whose default
``utc_now`` is the tap's one documented use of the wall clock). I/O lives in
``reader``, ``writers``, ``checkpoint`` and ``run``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import monitor.tap

TAP = Path(monitor.tap.__file__).parent
PURE = [
    TAP / "lines.py",
    TAP / "paths.py",
    TAP / "mapping.py",
    TAP / "pairing.py",
    *sorted((TAP / "formats").glob("*.py")),
]
FORBIDDEN = {"aiokafka", "faust", "asyncio", "socket", "threading", "subprocess", "os", "time"}
CLOCK_CALLS = {"time.time", "time.monotonic", "datetime.now", "datetime.utcnow", "date.today"}


def _imports(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def _clock_calls(tree: ast.AST) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            base = node.func.value
            if isinstance(base, ast.Name) and f"{base.id}.{node.func.attr}" in CLOCK_CALLS:
                out.append((f"{base.id}.{node.func.attr}", node.lineno))
    return out


def test_mapping_modules_import_no_io() -> None:
    for path in PURE:
        bad = _imports(ast.parse(path.read_text())) & FORBIDDEN
        assert not bad, f"{path.name} imports {bad}"


def test_only_utc_now_reads_the_wall_clock() -> None:
    for path in PURE:
        tree = ast.parse(path.read_text())
        for call, line in _clock_calls(tree):
            fn = next(
                n.name
                for n in ast.walk(tree)
                if isinstance(n, ast.FunctionDef) and n.lineno <= line <= (n.end_lineno or 0)
            )
            assert (path.name, fn) == ("base.py", "utc_now"), f"{path.name}:{line} calls {call}"


def test_importing_the_formats_loads_no_kafka_client() -> None:
    code = "import sys, monitor.tap.formats; print('aiokafka' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
