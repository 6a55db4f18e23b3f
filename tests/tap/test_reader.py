"""Sources: offsets, unterminated lines, and ``--follow`` across append, rotation, truncation.

The reader is a poll interface (``read()`` returns ``None`` when nothing is
there now), so these tests drive it directly without sleeping.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
import structlog

from monitor.tap.exceptions import TapError
from monitor.tap.lines import Line
from monitor.tap.reader import FileIdentity, FileSource, StdinSource


def drain(src: FileSource) -> list[Line]:
    out = []
    while (line := src.read()) is not None:
        out.append(line)
    return out


def raws(lines: list[Line]) -> list[bytes]:
    return [x.raw for x in lines]


def test_offsets_line_numbers_and_an_unterminated_last_line(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_bytes(b"one\r\ntwo\n\nlast")
    src = FileSource(str(p))
    got = drain(src)
    assert raws(got) == [b"one", b"two", b"", b"last"]
    assert [(x.number, x.offset, x.end) for x in got] == [
        (1, 0, 5),
        (2, 5, 9),
        (3, 9, 10),
        (4, 10, 14),
    ]
    assert src.finished


def test_resume_from_an_offset_keeps_line_numbers_and_marks_the_replayed_overlap(
    tmp_path: Path,
) -> None:
    p = tmp_path / "a.jsonl"
    p.write_bytes(b"a\nb\nc\nd\n")
    got = drain(FileSource(str(p), offset=2, lines_before=1, replay_until=6))
    assert [(x.raw, x.number, x.replayed) for x in got] == [
        (b"b", 2, True),
        (b"c", 3, True),
        (b"d", 4, False),
    ]


def test_a_missing_file_is_an_error_unless_following(tmp_path: Path) -> None:
    with pytest.raises(TapError, match="not found"):
        FileSource(str(tmp_path / "nope"))
    src = FileSource(str(tmp_path / "later.jsonl"), follow=True)
    assert src.read() is None and not src.finished
    (tmp_path / "later.jsonl").write_bytes(b"x\n")
    assert raws(drain(src)) == [b"x"]


def test_an_over_long_line_comes_back_as_its_head_with_its_size(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_bytes(b"ok\n" + b"x" * 100 + b"\nafter\n")
    got = drain(FileSource(str(p), max_line=10))
    assert [(x.raw, x.oversize) for x in got] == [(b"ok", None), (b"x" * 10, 100), (b"after", None)]
    assert got[2].offset == 3 + 101


def test_follow_waits_for_the_rest_of_a_line_and_reads_appends(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_bytes(b"one\ntw")
    src = FileSource(str(p), follow=True)
    assert raws(drain(src)) == [b"one"]  # "tw" has no line break yet
    with open(p, "ab") as f:
        f.write(b"o\nthree\n")
    got = drain(src)
    assert raws(got) == [b"two", b"three"] and got[0].offset == 4
    assert not src.finished


def test_follow_survives_rotation_reading_the_old_file_to_its_end(tmp_path: Path) -> None:
    p = tmp_path / "gw.jsonl"
    p.write_bytes(b"a\n")
    src = FileSource(str(p), follow=True)
    assert raws(drain(src)) == [b"a"]
    with open(p, "ab") as f:
        f.write(b"b\nunterminated")  # written before the rename, not yet read
    os.rename(p, tmp_path / "gw.jsonl.1")
    got = drain(src)  # the path is gone: the old file stays open, its tail may still grow
    p.write_bytes(b"new-1\nnew-2\n")
    with structlog.testing.capture_logs() as logs:
        got += drain(src)
    assert raws(got) == [b"b", b"unterminated", b"new-1", b"new-2"]
    assert [(x.generation, x.number, x.offset) for x in got] == [
        (0, 2, 2),
        (0, 3, 4),  # the rotated file's unterminated last line is not lost
        (1, 1, 0),  # a new file: new generation, numbering from 1
        (1, 2, 6),
    ]
    assert [e["event"] for e in logs] == ["source_rotated", "source_opened"]
    assert src.generation == 1


def test_follow_survives_truncation_copytruncate(tmp_path: Path) -> None:
    p = tmp_path / "gw.jsonl"
    p.write_bytes(b"first line\nsecond line\n")
    src = FileSource(str(p), follow=True)
    assert len(drain(src)) == 2
    with open(p, "r+b") as f:
        f.truncate(0)
    with open(p, "ab") as f:
        f.write(b"again\n")
    with structlog.testing.capture_logs() as logs:
        got = drain(src)
    assert [(x.raw, x.generation, x.number, x.offset) for x in got] == [(b"again", 1, 1, 0)]
    assert logs[0]["event"] == "source_truncated"


def test_identity_tells_a_rewritten_file_from_the_same_file(tmp_path: Path) -> None:
    p = tmp_path / "gw.jsonl"
    p.write_bytes(b"header line\nmore\n")
    fd = os.open(p, os.O_RDONLY)
    try:
        ident = FileIdentity.of(fd)
        assert ident.matches(fd)
        with open(p, "r+b") as f:  # same inode, other content
            f.write(b"HEADER")
        assert not ident.matches(fd)
    finally:
        os.close(fd)


def test_stdin_source_reads_on_a_thread_and_finishes() -> None:
    src = StdinSource(io.BytesIO(b"a\nb\n" + b"y" * 50 + b"\nc"), max_line=20)
    got: list[Line] = []
    deadline = time.monotonic() + 5
    while not src.finished and time.monotonic() < deadline:
        line = src.read()
        if line is not None:
            got.append(line)
    assert [(x.raw, x.number, x.oversize) for x in got] == [
        (b"a", 1, None),
        (b"b", 2, None),
        (b"y" * 20, 3, 50),
        (b"c", 4, None),
    ]
    assert src.identity() is None
