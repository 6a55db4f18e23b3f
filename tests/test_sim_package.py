"""The monitor.sim package: the registry, the compatibility module, and pinned output.

Why the digests: the simulator was split from one 1,912-line module into a package
with a script registry (issue 16); the split had to leave every byte it writes as it
was, and the commit that made the split pinned the digests of the single-module
simulator (aade012) here: 8c27800c… (20 agents, 30 min, seed 3), 4aa33d49…,
f78ad131…. The behaviour rewrite of issue 14 then changed the traffic on purpose
(reads carry ``result_digests``, support replies go to the requester, four new granted
tools) and re-pinned them. Any later change to these digests is a change of the
benign traffic or the scenarios, which every figure in results/ depends on: re-measure.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

import monitor.simulate as compat
from monitor import sim
from monitor.sim import SCENARIO_BY_NAME, SCRIPTS, describe, simulate, write

PINNED = {
    (20, 30, 3, True): "9e160462a6faa3d12cccbed596a05cfa3eba44af81e193ebb5fe6f48607dc1ed",
    (6, 10, 1, True): "6c177f0e023445e559cf9e192ce1bdd04d8e0a3f91fa4bee59effa13b959be13",
    (52, 45, 7, True): "aebd1fa9cde547e16738db49c19ebd68cf0b97514b887fe2fd6b35a4de962f96",
    (30, 150, 11, True): "e3cdd9ebccb14393e47561efa06eef34ff77d79516741ff85d940d75c54dff43",
}


def output_digest(out: Path) -> str:
    """SHA-256 over events.jsonl, labels.jsonl and every charter file, names included."""
    h = hashlib.sha256()
    files = [out / "events.jsonl", out / "labels.jsonl", *sorted((out / "charters").glob("*"))]
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("size", sorted(PINNED))
def test_output_is_pinned_byte_for_byte(size: tuple[int, float, int, bool], tmp_path: Path) -> None:
    agents, minutes, seed, attacks = size
    write(simulate(agents=agents, minutes=minutes, seed=seed, attacks=attacks), tmp_path)
    assert output_digest(tmp_path) == PINNED[size]


def test_every_scenario_has_exactly_one_registered_script() -> None:
    assert set(SCRIPTS) == set(SCENARIO_BY_NAME)
    for name in SCENARIO_BY_NAME:
        assert describe(name) and describe(name) != name  # its docstring tells the story


def test_registering_a_second_script_for_a_scenario_is_refused() -> None:
    from monitor.sim.agent import script

    def script_rate_burst(agent: object) -> None:  # same name as the monitor's script
        """A duplicate."""

    with pytest.raises(RuntimeError, match="rate_burst"):
        script(script_rate_burst)
    assert SCRIPTS["rate_burst"] is not script_rate_burst


def test_compatibility_module_re_exports_every_public_name() -> None:
    assert compat.__all__ == sim.__all__
    for name in sim.__all__:
        assert getattr(compat, name) is getattr(sim, name)


def test_package_shape_no_module_over_600_lines_no_function_over_80() -> None:
    root = Path(sim.__file__).parent
    for path in root.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 600, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 80, f"{path.name}:{node.name} is {length} lines"
