"""The monitor.sim package: the registry, the compatibility module, and pinned output.

Why the digests: the simulator was split from one 1,912-line module into a package
with a script registry (issue 16); the split must not change one byte of what it
writes. The digests below were computed on the single-module simulator (commit
aade012) for rule-only runs, whose traffic the behaviour rewrite of issue 14 does
not touch; any change to them is a change of the benign traffic or the rule
scenarios, which every figure in results/ depends on.
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
    (20, 30, 3, True): "8c27800c4d388c00486dbf319524837a0977ee834a6027a1c8c7f9a137a8428e",
    (6, 10, 1, True): "4aa33d49c86be4a7f8197ec25be3f780177171c1ca4c6f0531a2758043ca2000",
    (52, 45, 7, True): "f78ad1316e95b268c29e95bcf5752c8eac9fa9b3417df2fe42f9b337f850660f",
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
def test_output_is_byte_identical_to_the_single_module_simulator(
    size: tuple[int, float, int, bool], tmp_path: Path
) -> None:
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
