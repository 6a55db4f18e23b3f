"""Mutation testing of the detection core: ``make mutate``.

Runs mutmut (3.x) over ``monitor/core/`` and ``monitor/identity.py`` (the
canonical identifiers the ids and dedup keys are built from) against the fast
unit tests of the core (``tests/core``, without the slow Hypothesis contract
suites: they kill little the unit tests do not, and cost ~40 s a surviving
mutant). Writes ``results/mutation.md``: killed/total per module and every
mutant that was not killed, each either justified in
``scripts/mutation_justified.toml`` (an equivalent mutant, a log text, ...) or
marked UNJUSTIFIED. Exits 1 when an unjustified mutant is left, so a scheduled
job goes red; it is not part of ``make test``.

mutmut rewrites the tree it runs in, so it runs in a copy under
``build/mutation/`` (git-ignored); the working tree is never touched. mutmut
lives in its own virtualenv there (``build/mutation/venv``, made on first use)
that sees the project's packages through a ``.pth`` file: mutmut >= 3.8.1 (the
first that works with pytest 9) needs click >= 8.4.2 and faust-streaming pins
click < 8.4, so the two cannot share one environment. The core imports no faust.

    python scripts/mutate.py                          # the whole core, 2 workers
    python scripts/mutate.py --only 'monitor/core/decision.py' --only 'monitor/core/state.py'
    python scripts/mutate.py --report-only            # rewrite the report from the last run
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "mutation"
JUSTIFIED = ROOT / "scripts" / "mutation_justified.toml"
REPORT = ROOT / "results" / "mutation.md"

TOOL = WORK / "venv"
MUTMUT = "mutmut>=3.8.1,<4"
DEFAULT_ONLY = ["monitor/core/*", "monitor/identity.py"]
#: Hypothesis suites over the whole engine: strong, but ~40 s for every mutant they do not kill
SLOW_TESTS = ["tests/core/test_detector_contract.py", "tests/core/test_event_time.py"]

STATUS = {  # mutmut 3's exit codes (mutmut.__main__.status_by_exit_code)
    1: "killed",
    3: "killed",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    36: "timeout",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    37: "caught by type check",
    -11: "segfault",
    -9: "segfault",
    None: "not checked",
}
KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def _tool() -> Path:
    """The virtualenv mutmut runs in; it imports the project's packages from this interpreter's."""
    py = TOOL / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TOOL)], check=True)
    has = subprocess.run([py, "-c", "import mutmut"], capture_output=True).returncode == 0
    if not has:
        subprocess.run([py, "-m", "pip", "install", "-q", MUTMUT], check=True)
    purelib = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # appended after the tool's own site-packages: mutmut's click wins, the rest is the project's
    (Path(purelib) / "_mcpmon_project.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return py


def _stage(only: list[str]) -> None:
    """Copy the sources and tests into ``build/mutation`` with a mutmut configuration."""
    WORK.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in ("monitor", "tests", "examples", "schemas"):
        dst = WORK / name
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(ROOT / name, dst, ignore=ignore)
    if (WORK / "mutants").exists():
        shutil.rmtree(WORK / "mutants")  # a result is only worth the sources it ran on
    selection = ["tests/core", *(f"--ignore={t}" for t in SLOW_TESTS)]
    conf = (
        "\n\n[tool.mutmut]\n"
        'source_paths = ["monitor"]\n'
        'also_copy = ["examples", "schemas"]\n'
        f"only_mutate = {json.dumps(only)}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(selection)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]\n'
        "use_git_change_detection = false\n"
    )
    (WORK / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + conf)


def _run(py: Path, jobs: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(WORK)  # mutmut puts mutants/ first; never the working tree
    t0 = time.monotonic()
    r = subprocess.run([py, "-m", "mutmut", "run", "--max-children", str(jobs)], cwd=WORK, env=env)
    took = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"mutmut run failed (exit {r.returncode}); see its output above")
    return took


@dataclass
class Mutant:
    name: str
    module: str
    status: str
    path: str = ""
    line: int = 0
    before: str = ""
    after: str = ""


def _collect() -> list[Mutant]:
    out: list[Mutant] = []
    for meta in sorted((WORK / "mutants").rglob("*.py.meta")):
        rel = meta.relative_to(WORK / "mutants").as_posix()[: -len(".meta")]
        data = json.loads(meta.read_text())
        for name, code in data.get("exit_code_by_key", {}).items():
            out.append(Mutant(name, rel, STATUS.get(code, f"suspicious ({code})"), rel))
    return out


_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
out = {}
for name, path in json.load(sys.stdin):
    try:
        out[name] = get_diff_for_mutant(name, path=path)
    except Exception as err:
        out[name] = f"? {type(err).__name__}: {err}"
print(json.dumps(out))
"""


def _diffs(py: Path, mutants: list[Mutant]) -> None:
    """Fill in each mutant's line: file:line, the line before and after (one mutmut process)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run(
        [py, "-c", _DIFFS],
        cwd=WORK,
        env=env,
        input=json.dumps([[m.name, m.path] for m in mutants]),
        capture_output=True,
        text=True,
        check=True,
    )
    diffs = json.loads(r.stdout)
    for m in mutants:
        lines = diffs.get(m.name, "").splitlines()
        minus = [x[1:] for x in lines if x.startswith("-") and not x.startswith("---")]
        plus = [x[1:] for x in lines if x.startswith("+") and not x.startswith("+++")]
        m.before = " / ".join(s.strip() for s in minus)
        m.after = " / ".join(s.strip() for s in plus)
        m.line = _line_of(m, minus[0] if minus else "")


def _line_of(m: Mutant, before: str) -> int:
    """The line of the mutated statement in the original file (inside the mutated function)."""
    src = (ROOT / m.path).read_text()
    lines = src.splitlines()
    func = m.name.rsplit(".", 1)[-1].split("__mutmut_")[0]
    func = func[2:] if func.startswith("x_") else func.removeprefix("xǁ")
    parts = func.split("ǁ")  # class methods: xǁClassǁmethod
    start, end = 1, len(lines)
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == parts[-1]:
            start, end = node.lineno, node.end_lineno or end
            break
    for i in range(start - 1, end):
        if lines[i].strip() == before.strip():
            return i + 1
    return start


def _justified() -> dict[str, dict[str, str]]:
    if not JUSTIFIED.exists():
        return {}
    return tomllib.loads(JUSTIFIED.read_text()).get("mutant", {})


def _report(py: Path, mutants: list[Mutant], took: float | None, jobs: int, only: list[str]) -> int:
    why = _justified()
    by_module: dict[str, list[Mutant]] = defaultdict(list)
    for m in mutants:
        by_module[m.module].append(m)
    left = [m for m in mutants if m.status not in KILLED]
    _diffs(py, left)
    unjustified = 0
    rows = []
    total_k = total_n = total_j = 0
    for mod in sorted(by_module):
        ms = by_module[mod]
        k = sum(m.status in KILLED for m in ms)
        j = sum(m.status not in KILLED and _is_justified(m, why) for m in ms)
        total_k, total_n, total_j = total_k + k, total_n + len(ms), total_j + j
        rows.append(f"| `{mod}` | {len(ms)} | {k} | {j} | {len(ms) - k - j} | {_pct(k, len(ms))} |")
    lines = [
        "# Mutation testing of the detection core",
        "",
        "`make mutate` (scripts/mutate.py): mutmut 3 over "
        + ", ".join(f"`{o}`" for o in only)
        + ", run against `tests/core` without the Hypothesis contract suites ("
        + ", ".join(f"`{t}`" for t in SLOW_TESTS)
        + "). A mutant counts as killed when a test fails, it times out or crashes.",
        "Every mutant not killed is listed below, with why it is harmless when it is "
        "(`scripts/mutation_justified.toml`); an UNJUSTIFIED one is a gap in the tests.",
        "",
        f"Run: {len(mutants)} mutants"
        + (f" in {took / 60:.1f} min with {jobs} workers" if took is not None else "")
        + ".",
        "",
        "| module | mutants | killed | survived, justified | survived, unjustified | killed % |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        f"| **total** | {total_n} | {total_k} | {total_j} | {total_n - total_k - total_j} "
        f"| **{_pct(total_k, total_n)}** |",
        "",
        "## Mutants not killed",
        "",
    ]
    if not left:
        lines.append("None.")
    for m in sorted(left, key=lambda m: (m.path, m.line, m.name)):
        j = _is_justified(m, why)
        unjustified += not j
        lines.append(f"- `{m.path}:{m.line}` {m.status}: `{m.before}` → `{m.after}`  ")
        lines.append(
            f"  {'justified: ' + why[m.name]['why'] if j else '**UNJUSTIFIED**'} (`{m.name}`)"
        )
    lines.append("")
    REPORT.write_text("\n".join(lines))
    print(
        f"{REPORT.relative_to(ROOT)}: {total_k}/{total_n} killed ({_pct(total_k, total_n)}), "
        f"{total_j} justified, {unjustified} unjustified"
    )
    return 1 if unjustified else 0


def _is_justified(m: Mutant, why: dict[str, dict[str, str]]) -> bool:
    """Justified only while the mutant is still the one that was judged (same mutated line)."""
    entry = why.get(m.name)
    return bool(entry) and _norm(entry.get("after", "")) == _norm(m.after)


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f} %" if n else "-"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--only",
        action="append",
        metavar="GLOB",
        help="files to mutate (fnmatch on the path, repeatable); default: "
        + " ".join(DEFAULT_ONLY),
    )
    p.add_argument(
        "--jobs", type=int, default=2, help="mutants tested at once (default 2; one per core)"
    )
    p.add_argument(
        "--report-only", action="store_true", help="rewrite the report from the last run"
    )
    a = p.parse_args(argv)
    only = a.only or DEFAULT_ONLY
    py = _tool()
    took = None
    if not a.report_only:
        _stage(only)
        took = _run(py, a.jobs)
    return _report(py, _collect(), took, a.jobs, only)


if __name__ == "__main__":
    raise SystemExit(main())
