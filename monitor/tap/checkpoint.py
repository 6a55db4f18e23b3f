"""The tap's checkpoint: how far into the source every output is safely delivered.

A small JSON file, replaced atomically (write, fsync, rename) after the sink
confirmed a batch — never before — so after any crash the file points at or
before the first line whose outputs might be missing, and a restart resumes
there (at-least-once; downstream dedups by ``event_id``).

``offset`` is the resume point: the first line not yet fully done, which is
the oldest request still waiting for its response when a format pairs lines.
``delivered`` is how far lines were read when the batch was cut: the lines
between the two are re-read on resume (to rebuild the pairing window) and
their outputs may be delivered twice.

The file also records which file the offsets belong to (device, inode and a
hash of its first bytes) and the target the outputs went to: a checkpoint
for a rotated-away file restarts at the beginning of the current one; a
checkpoint for another target is an error, not silently reused.

Default location: ``.<source name>.mcpmon-tap.json`` beside the source — a
dot file, so rotation globs such as ``app.log*`` leave it alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from monitor.tap.exceptions import CheckpointError
from monitor.tap.reader import FileIdentity

VERSION = 1


@dataclass(frozen=True, slots=True)
class Checkpoint:
    source: str
    target: str
    file: FileIdentity
    offset: int
    lines_before: int
    delivered: int

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {"version": VERSION, **asdict(self)}
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> Checkpoint:
        doc = orjson.loads(raw)
        if doc.get("version") != VERSION:
            raise ValueError(f"version {doc.get('version')!r}, expected {VERSION}")
        return cls(
            source=str(doc["source"]),
            target=str(doc["target"]),
            file=FileIdentity(**doc["file"]),
            offset=int(doc["offset"]),
            lines_before=int(doc["lines_before"]),
            delivered=int(doc["delivered"]),
        )


def state_dir() -> Path:
    """Where checkpoints go when the log's directory is read-only: $XDG_STATE_HOME/mcpmon/tap."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mcpmon" / "tap"


def default_path(source: str | Path) -> Path:
    """``.SOURCE.mcpmon-tap.json`` beside the log, or, when its directory is not writable
    (logs under /var/log often are not), a file named after the log's path in
    :func:`state_dir` — a tap must not fail just because it may only read the log."""
    p = Path(source).absolute()
    beside = p.with_name(f".{p.name}.mcpmon-tap.json")
    if beside.exists() or os.access(p.parent, os.W_OK):
        return beside
    digest = hashlib.sha256(str(p).encode()).hexdigest()[:16]
    return state_dir() / f"{digest}-{p.name}.mcpmon-tap.json"


class CheckpointFile:
    """Load and atomically save one checkpoint file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> Checkpoint | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise CheckpointError(f"checkpoint {self.path}: {err.strerror or err}") from None
        try:
            return Checkpoint.from_json(raw)
        except (ValueError, KeyError, TypeError) as err:
            raise CheckpointError(
                f"checkpoint {self.path} is not readable ({err}); delete it or pass --from-start"
            ) from None

    def save(self, ck: Checkpoint) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(ck.to_json())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as err:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise CheckpointError(
                f"cannot write checkpoint {self.path}: {err.strerror or err} (use --checkpoint PATH)"
            ) from None
