"""Read a source corpus from a checked-out directory or a bare git snapshot.

The evaluation machine has a corpus either as files (a clone, an unpacked
archive) or as a bare git directory (``git clone --bare``, the mirror fetch);
large files may be missing from a snapshot, so a missing blob is reported, not
fatal.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


class SourceTree:
    """Paths and bytes of a source tree, whichever way it is stored."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bare = not (root / ".git").exists() and (root / "HEAD").is_file()
        self.missing: list[str] = []

    def paths(self, prefix: str = "") -> list[str]:
        """Every file path under ``prefix`` (``/``-separated, relative to the root), sorted."""
        if self.bare:
            out = subprocess.run(
                ["git", "-C", str(self.root), "ls-tree", "-r", "--name-only", "-z", "HEAD"],
                check=True,
                capture_output=True,
            ).stdout
            names = [p.decode() for p in out.split(b"\0") if p]
        else:
            names = [
                p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
            ]
        return sorted(n for n in names if n.startswith(prefix))

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or ``None`` (and noted in :attr:`missing`) if the snapshot lacks it."""
        if self.bare:
            r = subprocess.run(
                ["git", "-C", str(self.root), "cat-file", "blob", f"HEAD:{path}"],
                capture_output=True,
            )
            if r.returncode != 0:
                self.missing.append(path)
                return None
            return r.stdout
        p = self.root / path
        if not p.is_file():
            self.missing.append(path)
            return None
        return p.read_bytes()
