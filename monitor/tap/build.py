"""Putting a tap together from settings and CLI values: source, format, writer, checkpoint.

Everything is validated before the first line is read: the mapping file, the
format, the checkpoint (and whether it still belongs to the file at SOURCE
and to this target).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import structlog

from monitor.settings import Settings
from monitor.tap.checkpoint import Checkpoint, CheckpointFile, default_path
from monitor.tap.exceptions import CheckpointError, TapError
from monitor.tap.formats import FormatContext, make_format
from monitor.tap.mapping import load_mapping
from monitor.tap.reader import FileIdentity, FileSource, LineSource, StdinSource
from monitor.tap.run import Tap, TapOptions
from monitor.tap.writers import FileWriter, KafkaWriter, Writer

log = structlog.get_logger("monitor.tap")


def build_tap(
    settings: Settings,
    source: str,
    *,
    fmt: str = "ours",
    mapping: str | None = None,
    follow: bool = False,
    to_file: str | None = None,
    checkpoint: str | None = None,
    from_start: bool = False,
    source_name: str | None = None,
    progress: IO[str] | None = None,
) -> Tap:
    stdin = source == "-"
    if stdin and (follow or checkpoint):
        raise TapError("stdin has no offsets: --follow and --checkpoint need a file SOURCE")
    if not stdin and not follow and not Path(source).is_file():
        raise TapError(f"source file not found: {source}")
    label = source_name or ("stdin" if stdin else str(Path(source).absolute()))
    format_ = make_format(
        fmt,
        FormatContext(
            source=label,
            mapping=load_mapping(mapping) if mapping else None,
            window_requests=settings.tap.pair_window_requests,
            window_seconds=settings.tap.pair_window_seconds,
        ),
    )
    writer: Writer = (
        FileWriter(to_file)
        if to_file
        else KafkaWriter(
            settings.kafka_bootstrap,
            settings.topic_events,
            settings.topic_deadletter,
            partitions=settings.partitions,
            replication_factor=settings.replication_factor,
        )
    )
    checkpoints = None
    if not stdin and (checkpoint or not to_file):
        checkpoints = CheckpointFile(checkpoint or default_path(source))
    resume = _resume_point(checkpoints, source, writer.target, label) if not from_start else None
    if resume is not None and isinstance(writer, FileWriter):
        writer.append = True  # keep what the earlier run wrote
    reader: LineSource = (
        StdinSource()
        if stdin
        else FileSource(
            source,
            follow=follow,
            offset=resume.offset if resume else 0,
            lines_before=resume.lines_before if resume else 0,
            replay_until=resume.delivered if resume else 0,
        )
    )
    return Tap(
        reader,
        format_,
        writer,
        TapOptions(
            source=label,
            format=fmt,
            follow=follow,
            batch_records=settings.tap.batch_records,
            linger_seconds=settings.tap.linger_seconds,
            poll_seconds=settings.tap.poll_seconds,
            heartbeat_file=settings.heartbeat_file,
        ),
        checkpoints=checkpoints,
        progress=progress,
        resumed_after=resume.lines_before if resume is not None else None,
    )


def _resume_point(
    checkpoints: CheckpointFile | None, source: str, target: str, label: str
) -> Checkpoint | None:
    ck = checkpoints.load() if checkpoints is not None else None
    if ck is None or checkpoints is None:
        return None
    if ck.target != target:
        raise CheckpointError(
            f"checkpoint {checkpoints.path} is for {ck.target}, not {target}: "
            "pass another --checkpoint, or --from-start to begin again"
        )
    if not _same_file(source, ck.file, ck.offset):
        log.warning("checkpoint_stale", source=label, reason="file rotated or truncated since")
        return None
    if ck.offset == 0 and ck.delivered == 0:
        return None
    log.info("resumed", source=label, offset=ck.offset, line=ck.lines_before + 1)
    return ck


def _same_file(path: str, ident: FileIdentity, offset: int) -> bool:
    """Is ``path`` still the file the checkpoint was written for (and at least as long)?"""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return os.fstat(fd).st_size >= offset and ident.matches(fd)
    finally:
        os.close(fd)
