"""What the notebook builders share: format the cells with ruff, execute, write.

Each ``build_*.py`` holds its notebook's cells as text and calls :func:`write`, so a
notebook and its builder never drift apart.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def ruff_format(nb: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """The cells as ``ruff format`` would write them (skipped when ruff is not installed)."""
    ruff = shutil.which("ruff")
    if ruff is None:
        return nb
    nbformat.write(nb, path)
    subprocess.run([ruff, "format", "--quiet", str(path)], check=True)
    return nbformat.read(path, as_version=4)


def write(nb: nbformat.NotebookNode, path: Path, argv: list[str]) -> None:
    """Format, execute (unless ``--no-run`` is in ``argv``) and write ``nb`` to ``path``."""
    nb = ruff_format(nb, path)
    if "--no-run" not in argv:
        resources = {"metadata": {"path": str(path.parent)}}
        NotebookClient(nb, timeout=300, kernel_name="python3", resources=resources).execute()
    nbformat.write(nb, path)
    print(f"wrote {path}")
