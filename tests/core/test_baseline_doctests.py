"""The compiled baseline modules' docstring examples, run against the modules in use.

pytest's ``--doctest-modules`` finds examples through the imported module. A module
compiled by mypyc (``make setup`` builds them) keeps no docstrings doctest can find, so
with the build in place those examples went unrun. Here they are read from the sources
and run in the namespace of the module actually imported, compiled or not: the
documentation stays true of the code that runs.
"""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

from monitor.core.baseline import native


def _docstrings(path: Path) -> list[tuple[str, str, int]]:
    """(qualified name, docstring, line) of the module and every class and function in it."""
    tree = ast.parse(path.read_text())
    out: list[tuple[str, str, int]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}.{child.name}"
                doc = ast.get_docstring(child, clean=False)
                if doc:
                    out.append((name, doc, child.lineno))
                walk(child, name)

    mod_doc = ast.get_docstring(tree, clean=False)
    if mod_doc:
        out.append(("", mod_doc, 1))
    walk(tree, "")
    return out


@pytest.mark.parametrize("name", native.MODULES)
def test_the_examples_in_the_source_hold_for_the_module_in_use(name: str) -> None:
    module = importlib.import_module(f"monitor.core.baseline.{name}")
    path = native.HERE / f"{name}.py"
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(verbose=False)
    examples = 0
    for qual, doc, line in _docstrings(path):
        test = parser.get_doctest(doc, dict(vars(module)), f"{name}{qual}", str(path), line)
        examples += len(test.examples)
        runner.run(test)
    failed, tried = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {tried} docstring examples of {name}.py failed"
    assert tried == examples


def test_the_compiled_modules_have_examples_to_run() -> None:
    """At least the modules documented by example today (a test that ran none could not fail)."""
    with_examples = {
        name
        for name in native.MODULES
        if any(
            doctest.DocTestParser().get_examples(doc)
            for _, doc, _ in _docstrings(native.HERE / f"{name}.py")
        )
    }
    assert {"calibration", "counts", "features", "layout", "model", "moments", "window"} <= (
        with_examples
    )
