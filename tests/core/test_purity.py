"""The detection core imports no Kafka, Faust, network or wall-clock code."""

from __future__ import annotations

import ast
from pathlib import Path

import monitor.core

CORE = Path(monitor.core.__file__).parent
FORBIDDEN_MODULES = {
    "aiokafka",
    "faust",
    "mode",
    "kafka",
    "socket",
    "asyncio",
    "http",
    "urllib",
    "httpx",
    "requests",
    "aiohttp",
    "random",
    "threading",
    "subprocess",
}
FORBIDDEN_CALLS = {"time.time", "time.monotonic", "datetime.now", "datetime.utcnow", "date.today"}


def _imports(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def _dotted_calls(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            base = node.func.value
            if isinstance(base, ast.Name):
                out.add(f"{base.id}.{node.func.attr}")
    return out


def test_core_modules_import_nothing_from_kafka_faust_or_network() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 10
    for f in files:
        bad = _imports(ast.parse(f.read_text())) & FORBIDDEN_MODULES
        assert not bad, f"{f.relative_to(CORE.parent)} imports {sorted(bad)}"


def test_core_never_reads_the_wall_clock() -> None:
    for f in sorted(CORE.rglob("*.py")):
        bad = _dotted_calls(ast.parse(f.read_text())) & FORBIDDEN_CALLS
        assert not bad, f"{f.relative_to(CORE.parent)} calls {sorted(bad)}"


def test_core_only_imports_the_contract_modules_of_the_package() -> None:
    allowed = {
        "monitor.core",
        "monitor.events",
        "monitor.charter",
        "monitor.output_contracts",
        "monitor.errors",
        "monitor.signing",  # HMAC over canonical JSON, stdlib only: checked below
    }
    for f in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("monitor")
            ):
                assert any(node.module == a or node.module.startswith(a + ".") for a in allowed), (
                    f"{f.name} imports {node.module}"
                )


def test_the_signing_module_the_core_uses_is_pure_too() -> None:
    f = CORE.parent / "signing.py"
    tree = ast.parse(f.read_text())
    assert not _imports(tree) & FORBIDDEN_MODULES
    assert not _dotted_calls(tree) & FORBIDDEN_CALLS
    package = {
        n.module
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("monitor")
    }
    assert package <= {"monitor.errors", "monitor.output_contracts"}, package
