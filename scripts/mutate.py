"""Mutation testing of the detection core and the response loop: ``make mutate``.

Runs mutmut (3.x) over ``monitor/core/`` and ``monitor/identity.py`` (the
canonical identifiers the ids and dedup keys are built from) against the fast
unit tests of the core (``tests/core``, without the slow Hypothesis
suites: they kill little the unit tests do not, and cost ~40 s a surviving
mutant), and over the response loop — the revoker (``monitor/revoker/``), the
alert sinks (``monitor/sinks/``) and the gateway proxy (``monitor/proxy/``) —
each against its own unit tests (``tests/revoker``, ``tests/sinks``,
``tests/proxy``: their real Redis, HTTP and syslog servers included, so run
``make redis-install chromium-install`` first). Results ACCUMULATE across runs
in ``results/mutation.json`` (one row per module: mutants, killed, the
survivors, the commit and date it was measured at; a module that is run again
replaces its row, a ``--survivors`` run updates it), and ``results/mutation.md``
is rendered from all of it: the score per module, the total, the total of each
part (``monitor/core/``, the revoker, the sinks, the proxy), and every mutant
not killed, each either justified in ``scripts/mutation_justified.toml``
(an equivalent mutant, a log text, ...) or marked UNJUSTIFIED. Exits 1 when an
unjustified mutant is left, so a scheduled job goes red; it is not part of
``make test``.

mutmut rewrites the tree it runs in, so it runs in a copy under
``build/mutation/`` (git-ignored); the working tree is never touched. mutmut
lives in its own virtualenv there (``build/mutation/venv``, made on first use)
that sees the project's packages through a ``.pth`` file: mutmut >= 3.8.1 (the
first that works with pytest 9) needs click >= 8.4.2 and faust-streaming pins
click < 8.4, so the two cannot share one environment. The core imports no faust.

    python scripts/mutate.py                          # the core, 2 workers
    python scripts/mutate.py --only 'monitor/revoker/*'   # the revoker, against tests/revoker
    python scripts/mutate.py --only 'monitor/core/decision.py' --only 'monitor/core/state.py'
    python scripts/mutate.py --survivors monitor/core/state.py   # re-test its survivors only
    python scripts/mutate.py --report-only            # merge the last run, re-render the report
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
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
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "mutation"
JUSTIFIED = ROOT / "scripts" / "mutation_justified.toml"
REPORT = ROOT / "results" / "mutation.md"
RESULTS = ROOT / "results" / "mutation.json"
STAMP = WORK / "run.json"  # what the staged copy is: commit, date, --only

TOOL = WORK / "venv"
MUTMUT = "mutmut>=3.8.1,<4"
DEFAULT_ONLY = ["monitor/core/*", "monitor/identity.py"]
#: The parts mutation-tested, each by path prefix, with the unit tests its mutants run against
#: (mutmut then runs, for each mutated function, only the tests that reached it unmutated); the
#: first prefix that matches wins
SUITES = {
    "monitor/core/": ["tests/core"],
    "monitor/identity.py": ["tests/core"],
    # the settings a sub-command reads are tested across commands, in one file
    "monitor/revoker/": ["tests/revoker", "tests/test_command_settings.py"],
    "monitor/sinks/": ["tests/sinks", "tests/test_command_settings.py"],
    # every proxy test goes through the upstream link, each starting a server: a surviving
    # mutant of it would run them all; its own tests drive each of its paths
    "monitor/proxy/upstream.py": ["tests/proxy/test_upstream.py"],
    # the same for the gateway: its own path's tests (the rest reach it only on the way to
    # what they test, each starting a server: a surviving mutant ran ~290 tests, ~90 s)
    "monitor/proxy/gateway.py": [
        "tests/proxy/test_gateway.py",
        "tests/proxy/test_gateway_paths.py",
        "tests/proxy/test_policy_gateway.py",
        "tests/proxy/test_token_expiry.py",
        "tests/proxy/test_secret_transit.py",
        "tests/proxy/test_refusal.py",
    ],
    "monitor/proxy/": ["tests/proxy"],
}
#: Code of those parts that no unit test runs, so mutmut would find "no tests" for every
#: mutant: the Kafka shells, whose loops the integration tests run against a real broker (a
#: mutant there would cost a broker round per test). A file (never mutated), ``file::Class`` or
#: ``file::Class.method`` (its mutants left out of the count). Named in the report.
SHELLS = {
    "monitor/revoker/service.py": "the revoker's Kafka loop "
    "(tests/integration/test_revoker_service.py and the fault tests run it against a real broker)",
    "monitor/sinks/service.py::SinkService": "the sink's Kafka loop "
    "(tests/integration/test_sinks.py runs it against a real broker and real receivers)",
    "monitor/proxy/emit.py::KafkaEmitter._connect": "the proxy's producer and topic set-up "
    "(tests/integration/test_proxy_sink.py runs it against a real broker, reachable late)",
}
#: The parts the report totals, in its order (identity.py counts in the total only)
PARTS = ("monitor/core/", "monitor/revoker/", "monitor/sinks/", "monitor/proxy/")
#: Hypothesis suites over the whole engine: strong, but ~40 s for every mutant they do not kill
#: (test_ids.py also starts other processes: 46 s of the 50 s a surviving detector mutant cost)
SLOW_TESTS = [
    "tests/core/test_detector_contract.py",
    "tests/core/test_event_time.py",
    "tests/core/test_ids.py",
]
#: Suites that read the sources instead of running them: they can kill no mutant (mutmut does
#: not mutate imports), and a failure of theirs would stop mutmut's stats run before it starts
#: (a file is left out, a test id ``file::name`` deselected). test_purity runs again: the mypyc
#: builder left the core; the revoker's plan check reads its imports, and mutmut adds its own
STATIC_TESTS: list[str] = ["tests/revoker/test_plan.py::test_plan_is_pure"]

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


def _stage(only: list[str], jobs: int, partial: bool = False) -> None:
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
    selection = [
        *suites(only),
        *(f"--{'deselect' if '::' in t else 'ignore'}={t}" for t in [*SLOW_TESTS, *STATIC_TESTS]),
    ]
    conf = (
        "\n\n[tool.mutmut]\n"
        'source_paths = ["monitor"]\n'
        'also_copy = ["examples", "schemas"]\n'
        f"only_mutate = {json.dumps(only)}\n"
        f"do_not_mutate = {json.dumps(sorted(k for k in SHELLS if '::' not in k))}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(selection)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]\n'
        "use_git_change_detection = false\n"
    )
    (WORK / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + conf)
    stamp = {"commit": _commit(), "date": _now(), "only": only, "jobs": jobs, "partial": partial}
    STAMP.write_text(json.dumps(stamp) + "\n")


def suites(only: list[str], root: Path = ROOT) -> list[str]:
    """The test directories the files ``only`` names are run against (see :data:`SUITES`)."""
    files = [
        rel
        for p in sorted((root / "monitor").rglob("*.py"))
        if any(fnmatch.fnmatch(rel := p.relative_to(root).as_posix(), g) for g in only)
    ]
    if not files:
        raise SystemExit(f"--only {' '.join(only)}: no file under monitor/ matches")
    out: list[str] = []
    for rel in files:
        if rel in SHELLS:
            continue
        tests = next((t for prefix, t in SUITES.items() if rel.startswith(prefix)), None)
        if tests is None:
            raise SystemExit(
                f"{rel}: no unit tests to mutation-test it against (parts: {', '.join(SUITES)})"
            )
        out += [t for t in tests if t not in out]
    return out


def _commit() -> str:
    """HEAD, marked ``+dirty`` when the sources or tests staged differ from it."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "monitor", "tests"], capture_output=True, text=True
    )
    return (head.stdout.strip() or "unknown") + ("+dirty" if dirty.stdout.strip() else "")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run(py: Path, jobs: int, names: list[str] | None = None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(WORK)  # mutmut puts mutants/ first; never the working tree
    t0 = time.monotonic()
    cmd = [str(py), "-m", "mutmut", "run", "--max-children", str(jobs), *(names or [])]
    r = subprocess.run(cmd, cwd=WORK, env=env)
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
            if _in_shell(rel, name):
                continue
            out.append(Mutant(name, rel, STATUS.get(code, f"suspicious ({code})"), rel))
    return out


def _in_shell(path: str, name: str) -> bool:
    """Whether mutant ``name`` of ``path`` is in a class or method :data:`SHELLS` names."""
    for key in SHELLS:
        where, _, what = key.partition("::")
        if not what or where != path:
            continue
        cls, _, method = what.partition(".")
        if (f"xǁ{cls}ǁ{method}__mutmut_" if method else f"xǁ{cls}ǁ") in name:
            return True
    return False


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
    scope: ast.AST = ast.parse(src)
    if len(parts) > 1:  # a method: look in its class (another class may have one of its name)
        scope = next(
            (n for n in ast.walk(scope) if isinstance(n, ast.ClassDef) and n.name == parts[0]),
            scope,
        )
    for node in ast.walk(scope):
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


def _measure(py: Path, mutants: list[Mutant], partial: bool = False) -> dict[str, dict[str, Any]]:
    """One row per module of the last run: mutants, killed and every mutant not killed."""
    by_module: dict[str, list[Mutant]] = defaultdict(list)
    for m in mutants:
        by_module[m.module].append(m)
    checked_all = [m for m in mutants if m.status != "not checked"]
    left = [m for m in checked_all if m.status not in KILLED]
    if partial:  # few: the mutated line of each one re-tested, to see it is still the same
        left = checked_all
    if left:
        _diffs(py, left)
    rows: dict[str, dict[str, Any]] = {}
    for mod, ms in sorted(by_module.items()):
        checked = [m for m in ms if m.status != "not checked"]
        rows[mod] = {
            "mutants": len(ms),
            "checked": len(checked),
            "killed": sum(m.status in KILLED for m in checked),
            "survivors": [
                {
                    k: v
                    for k, v in asdict(m).items()
                    if k in ("name", "status", "line", "before", "after")
                }
                for m in sorted(checked, key=lambda m: (m.line, m.name))
                if m.status not in KILLED
            ],
        }
        if partial:
            rows[mod]["tested"] = {m.name: m.after for m in checked}
    return rows


def merge(
    db: dict[str, Any],
    rows: dict[str, dict[str, Any]],
    stamp: dict[str, Any],
    took: float | None = None,
    jobs: int | None = None,
    partial: bool = False,
) -> list[str]:
    """Merge one run's rows into the accumulated results; returns what it refused, and why.

    A full run (every mutant of a module checked) replaces the module's row. A partial run
    (``--survivors``: only the listed mutants were tested) updates the row it re-tested: a
    survivor that is now killed moves to killed; it is only merged when the module still has
    the same mutants (same count, same mutated lines), else its old row would be mixed with
    results of other code. A module whose run did not check every mutant (stopped) is not
    merged: a part is not a score.
    """
    modules = db.setdefault("modules", {})
    refused = []
    for mod, row in rows.items():
        if partial:
            old = modules.get(mod)
            if old is None or old["mutants"] != row["mutants"]:
                refused.append(f"{mod}: no earlier full run of the same {row['mutants']} mutants")
                continue
            tested = row.get("tested", {})  # name -> mutated line, of the mutants re-tested
            changed = [
                s["name"]
                for s in old["survivors"]
                if s["name"] in tested and _norm(tested[s["name"]]) != _norm(s["after"])
            ]
            if changed:
                refused.append(f"{mod}: mutants changed since the full run: {', '.join(changed)}")
                continue
            still = {s["name"]: s for s in row["survivors"]}
            kept = [
                still.get(s["name"], s)
                for s in old["survivors"]
                if s["name"] not in tested or s["name"] in still
            ]
            old["killed"] = old["mutants"] - len(kept)
            old["survivors"] = kept
            old["retested"] = {
                "commit": stamp.get("commit", "unknown"),
                "date": stamp.get("date", "unknown"),
                "mutants": len(tested),
            }
            continue
        if row["checked"] != row["mutants"]:
            refused.append(f"{mod}: only {row['checked']} of {row['mutants']} mutants checked")
            continue
        modules[mod] = {
            "mutants": row["mutants"],
            "killed": row["killed"],
            "survivors": row["survivors"],
            "commit": stamp.get("commit", "unknown"),
            "date": stamp.get("date", "unknown"),
            "took_s": round(took) if took is not None else None,
            "jobs": jobs,
        }
    return refused


def score(db: dict[str, Any], why: dict[str, dict[str, str]]) -> dict[str, dict[str, int]]:
    """mutants/killed/justified/unjustified per module, the total, and each part's total."""
    out: dict[str, dict[str, int]] = {}
    for mod, row in db.get("modules", {}).items():
        j = sum(_is_justified(s, why) for s in row["survivors"])
        out[mod] = {
            "mutants": row["mutants"],
            "killed": row["killed"],
            "justified": j,
            "unjustified": row["mutants"] - row["killed"] - j,
        }
    per_module = list(out.items())
    for key in ("total", *PARTS):
        rows = [v for m, v in per_module if key == "total" or m.startswith(key)]
        out[key] = {
            f: sum(r[f] for r in rows) for f in ("mutants", "killed", "justified", "unjustified")
        }
    return out


def render(
    db: dict[str, Any], why: dict[str, dict[str, str]], known: list[str] | None = None
) -> str:
    """results/mutation.md from the accumulated results and the current justifications.

    ``known``: every module of the parts mutation-tested, to name the ones not run yet.
    """
    sc = score(db, why)
    modules = db.get("modules", {})
    rows = []
    for mod in sorted(modules):
        r, row = sc[mod], modules[mod]
        took = f"{row['took_s'] / 60:.1f} min" if row.get("took_s") is not None else "-"
        again = row.get("retested")
        when = f"`{row['commit']}` {row['date'][:10]}"
        if again:
            when += f"; survivors re-tested `{again['commit']}` {again['date'][:10]}"
        rows.append(
            f"| `{mod}` | {r['mutants']} | {r['killed']} | {r['justified']} | {r['unjustified']} "
            f"| {_pct(r['killed'], r['mutants'])} | {when} | {took} |"
        )
    tot = sc["total"]

    def total(label: str, t: dict[str, int]) -> str:
        return (
            f"| **{label}** | {t['mutants']} | {t['killed']} | {t['justified']} | {t['unjustified']} "
            f"| **{_pct(t['killed'], t['mutants'])}** | | |"
        )

    lines = [
        "# Mutation testing of the detection core and the response loop",
        "",
        "`make mutate` (scripts/mutate.py): mutmut 3 over `monitor/core/` and "
        "`monitor/identity.py`, run against `tests/core` without its slow suites ("
        + ", ".join(f"`{t}`" for t in SLOW_TESTS)
        + "), and over the revoker, the alert sinks and the gateway proxy, each against its "
        "own unit tests (`tests/revoker`, `tests/sinks`, `tests/proxy`, with their real "
        "servers; `--only 'monitor/revoker/*'`)"
        + (
            " and without the import checks "
            + ", ".join(f"`{t}`" for t in STATIC_TESTS)
            + " (they read the sources, they run none)"
            if STATIC_TESTS
            else ""
        )
        + ". A mutant counts as killed when a test fails, it times out or crashes.",
        "Results accumulate across runs (`results/mutation.json`): each module shows the commit "
        "and date it was measured at; running a module again replaces its row. "
        "Every mutant not killed is listed below, with why it is harmless when it is "
        "(`scripts/mutation_justified.toml`); an UNJUSTIFIED one is a gap in the tests. "
        "A module whose survivors were re-tested after new tests (`--survivors`) says so; "
        "*took* is the wall time of the run that measured it (modules run together share it).",
        "",
        "| module | mutants | killed | survived, justified | survived, unjustified | killed % "
        "| measured at | took |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
        *rows,
        *(
            total(part, sc[part])
            for part in PARTS
            if part == "monitor/core/" or any(m.startswith(part) for m in modules)
        ),
        total("total", tot),
        "",
        "Not run yet: "
        + (", ".join(f"`{m}`" for m in sorted(set(known or []) - set(modules))) or "none")
        + ".",
        "",
        "Not mutation-tested, since no unit test runs them: "
        + "; ".join(f"`{m}`, {why}" for m, why in sorted(SHELLS.items()))
        + ".",
        "",
        "## Mutants not killed",
        "",
    ]
    left = [(mod, s) for mod in sorted(modules) for s in modules[mod]["survivors"]]
    if not left:
        lines.append("None.")
    for mod, s in left:
        j = _is_justified(s, why)
        lines.append(f"- `{mod}:{s['line']}` {s['status']}: `{s['before']}` → `{s['after']}`  ")
        lines.append(
            f"  {'justified: ' + why[s['name']]['why'] if j else '**UNJUSTIFIED**'} (`{s['name']}`)"
        )
    lines.append("")
    return "\n".join(lines)


def _load() -> dict[str, Any]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {"version": 1, "modules": {}}


def _save(db: dict[str, Any], why: dict[str, dict[str, str]]) -> int:
    for mod, r in score(db, why).items():  # the counts, as judged now, for readers of the JSON
        if mod in db["modules"]:
            db["modules"][mod]["justified"] = r["justified"]
            db["modules"][mod]["unjustified"] = r["unjustified"]
    RESULTS.write_text(json.dumps(db, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    known = [  # modules with code to mutate (mutmut mutates functions; not bare re-exports)
        p.relative_to(ROOT).as_posix()
        for part in PARTS
        for p in (ROOT / part).rglob("*.py")
        if re.search(r"^\s*def ", p.read_text(), re.M)
        and p.relative_to(ROOT).as_posix() not in SHELLS
    ]
    REPORT.write_text(render(db, why, known))
    t = score(db, why)["total"]
    print(
        f"{REPORT.relative_to(ROOT)}: {t['killed']}/{t['mutants']} killed "
        f"({_pct(t['killed'], t['mutants'])}), {t['justified']} justified, "
        f"{t['unjustified']} unjustified"
    )
    return 1 if t["unjustified"] else 0


def _is_justified(s: dict[str, Any], why: dict[str, dict[str, str]]) -> bool:
    """Justified only while the mutant is still the one that was judged (same mutated line)."""
    entry = why.get(s["name"])
    return bool(entry) and _norm(entry.get("after", "")) == _norm(s["after"])


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
        "--survivors",
        action="append",
        metavar="MODULE",
        help="re-test only MODULE's unjustified survivors of its last full run, after new tests\n"
        "(repeatable: one mutmut run for all of them)",
    )
    p.add_argument(
        "--jobs", type=int, default=2, help="mutants tested at once (default 2; one per core)"
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="merge the last run in build/mutation (if not yet merged) and re-render the report",
    )
    p.add_argument("--took", type=float, help=argparse.SUPPRESS)  # wall time, when run by a driver
    a = p.parse_args(argv)
    only = a.only or DEFAULT_ONLY
    py = _tool()
    why = _justified()
    db = _load()
    took, names = a.took, None
    if a.survivors:
        names, only = [], []
        for mod in a.survivors:
            row = db.get("modules", {}).get(mod)
            if row is None:
                raise SystemExit(f"--survivors: {mod} has no full run in {RESULTS.name}")
            mine = [s["name"] for s in row["survivors"] if not _is_justified(s, why)]
            names += mine
            only += [mod] if mine else []
            print(f"{mod}: {len(mine)} unjustified survivor(s) to re-test")
        if not names:
            return _save(db, why)
    if not a.report_only:
        _stage(only, a.jobs, partial=bool(names))
        took = _run(py, a.jobs, names)
    if (WORK / "mutants").exists() and STAMP.exists():
        stamp = json.loads(STAMP.read_text())
        if stamp.get("merged"):
            print(f"the run of {stamp.get('only')} is already merged")
        else:
            partial = bool(stamp.get("partial"))
            rows = _measure(py, _collect(), partial)
            refused = merge(db, rows, stamp, took, stamp.get("jobs"), partial=partial)
            for r in refused:
                print(f"not merged: {r}", file=sys.stderr)
            if not refused:  # a run still going (or stopped) is merged once it is complete
                STAMP.write_text(json.dumps({**stamp, "merged": True}) + "\n")
    return _save(db, why)


if __name__ == "__main__":
    raise SystemExit(main())
