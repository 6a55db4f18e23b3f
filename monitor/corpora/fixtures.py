"""A converted corpus on disk: small, gzip'd, deterministic, with its licence beside it.

CI cannot reach the corpora's sources, so ``mcpmon evaluate --corpus NAME`` runs from a
committed fixture directory: ``events.jsonl.gz`` (``mcp.events`` lines in time order),
``sessions.jsonl.gz`` (one :class:`~monitor.corpora.base.SessionLabel` per line),
``charters.json`` (the charter documents), ``corpus.json`` (name, licence, conversion
statistics) and ``NOTICE`` (the source's licence text). Gzip headers carry no time
and no file name, so the same corpus always writes the same bytes.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from monitor.corpora.base import Corpus, SessionLabel
from monitor.errors import MonitorError

EVENTS, SESSIONS, CHARTERS, META, NOTICE = (
    "events.jsonl.gz",
    "sessions.jsonl.gz",
    "charters.json",
    "corpus.json",
    "NOTICE",
)


def _gzip_lines(rows: Iterable[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as z:
        for row in rows:
            z.write(orjson.dumps(row, option=orjson.OPT_SORT_KEYS) + b"\n")
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_fixture(
    corpus: Corpus, out: str | Path, notice: str, meta: dict[str, Any] | None = None
) -> Path:
    """Write ``corpus`` to the directory ``out`` (created); returns it.

    Files are 0644: they are public data meant to be committed, not secrets.
    """
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    _write(d / EVENTS, _gzip_lines(corpus.events))
    _write(d / SESSIONS, _gzip_lines(s.to_dict() for s in corpus.sessions))
    opt = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    _write(d / CHARTERS, orjson.dumps(corpus.charters, option=opt) + b"\n")
    head = {"name": corpus.name, "licence": corpus.licence, **(meta or {})}
    _write(d / META, orjson.dumps(head, option=opt) + b"\n")
    _write(d / NOTICE, notice.encode())
    return d


def _read_lines(path: Path) -> list[dict[str, Any]]:
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as err:
        raise MonitorError(f"{path}: not a readable gzip file: {err}") from None
    out = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as err:
            raise MonitorError(f"{path}:{n}: not JSON: {err}") from None
        if not isinstance(row, dict):
            raise MonitorError(f"{path}:{n}: not a JSON object")
        out.append(row)
    return out


def _label(row: dict[str, Any], where: str) -> SessionLabel:
    try:
        return SessionLabel(
            agent_id=str(row["agent_id"]),
            session_id=str(row["session_id"]),
            kind=row["kind"],
            split=row["split"],
            case=str(row["case"]),
            attack_class=row.get("attack_class"),
            attack_events=tuple(str(e) for e in row.get("attack_events") or ()),
            source=str(row.get("source") or ""),
            succeeded=row.get("succeeded"),
        )
    except KeyError as err:
        raise MonitorError(f"{where}: session label without {err.args[0]!r}") from None


def load_fixture(path: str | Path) -> Corpus:
    """Read a fixture directory written by :func:`write_fixture`."""
    d = Path(path)
    if not (d / META).is_file():
        raise MonitorError(f"{d}: no {META}: not a corpus fixture directory")
    meta = orjson.loads((d / META).read_bytes())
    sessions = [
        _label(row, f"{d / SESSIONS}:{i}") for i, row in enumerate(_read_lines(d / SESSIONS), 1)
    ]
    for s in sessions:
        if s.kind not in ("benign", "attack", "warmup") or s.split not in ("tuning", "held_out"):
            raise MonitorError(f"{d / SESSIONS}: session {s.session_id}: bad kind or split")
    charters = orjson.loads((d / CHARTERS).read_bytes())
    if not isinstance(charters, list):
        raise MonitorError(f"{d / CHARTERS}: not a list of charter documents")
    return Corpus(
        name=str(meta.get("name", d.name)),
        licence=str(meta.get("licence", "")),
        events=_read_lines(d / EVENTS),
        charters=charters,
        sessions=sessions,
    )


__all__ = ["load_fixture", "write_fixture"]
