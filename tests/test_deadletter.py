"""Bounded dead-letter records (monitor/deadletter.py) and bounded line reading (linereader)."""

from __future__ import annotations

import base64
import hashlib
import io

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import deadletter
from monitor.deadletter import HEAD_BYTES, MAX_RECORD_BYTES
from monitor.linereader import Oversize, bounded_lines

CONTROL = bytes(range(32)) * 40_000  # 1.28 MB of control bytes: six JSON bytes each


def test_a_megabyte_of_control_bytes_makes_a_small_record_with_digest_and_length() -> None:
    out = deadletter.encode(CONTROL, "not JSON", None, topic="t", partition=3, offset=9)
    assert len(out) <= MAX_RECORD_BYTES < 1 << 20  # was 7.4 MB: over the 1 MiB request limit
    doc = orjson.loads(out)
    assert (doc["topic"], doc["partition"], doc["offset"]) == ("t", 3, 9)
    assert doc["length"] == doc["size"] == len(CONTROL) and doc["truncated"] is True
    assert doc["sha256"] == hashlib.sha256(CONTROL).hexdigest()
    assert doc["raw"].encode() == CONTROL[:HEAD_BYTES]


def test_a_short_message_is_kept_whole_without_truncation_marks() -> None:
    doc = deadletter.record(b"{oops", "invalid", "x", line=4)
    assert doc == {
        "line": 4,
        "reason": "invalid",
        "field": "x",
        "length": 5,
        "sha256": hashlib.sha256(b"{oops").hexdigest(),
        "raw": "{oops",
    }


def test_not_utf8_is_base64_and_a_cut_inside_a_character_stays_text() -> None:
    binary = b"\xff\xfe" + b"\x00" * 10_000
    doc = deadletter.record(binary, "not JSON", None)
    assert base64.b64decode(doc["raw_base64"]) == binary[:HEAD_BYTES] and "raw" not in doc
    text = ("é" * 5000).encode()  # two bytes a character: the head's cut falls inside one?
    cut = b"a" + text  # ... now it does (odd offset)
    doc = deadletter.record(cut, "r", None)
    assert "raw" in doc and cut.startswith(doc["raw"].encode())
    assert HEAD_BYTES - 1 <= len(doc["raw"].encode()) <= HEAD_BYTES


def test_reason_field_and_key_from_the_input_are_bounded() -> None:
    tag = "\x01" * 900_000  # e.g. "unknown event type '...'" quotes the input
    out = deadletter.encode(b"{}", f"unknown event type {tag!r}", "\x02" * 500_000)
    assert len(out) <= MAX_RECORD_BYTES
    doc = orjson.loads(out)
    assert doc["reason"].startswith("unknown event type") and "more characters" in doc["reason"]
    assert len(doc["field"]) < 400
    assert deadletter.key(b"k") == b"k" and deadletter.key(None) is None
    big = b"\x00" * 900_000
    assert deadletter.key(big) == hashlib.sha256(big).hexdigest().encode()


def test_a_head_without_the_whole_has_the_length_given_and_no_wrong_digest() -> None:
    doc = deadletter.record(b"x" * 5000, "too long", None, length=10**8)
    assert doc["length"] == 10**8 and doc["truncated"] and "sha256" not in doc
    assert len(doc["raw"]) == HEAD_BYTES


def test_a_head_with_the_whole_length_and_digest_keeps_both() -> None:
    """As the tap calls it for a line it cut: the whole's length and digest are given."""
    doc = deadletter.record(b"y" * (2 << 20), "r", None, line=1, length=3 << 20, sha256="ab")
    assert (doc["length"], doc["size"], doc["sha256"], doc["truncated"]) == (
        3 << 20,
        3 << 20,
        "ab",
        True,
    )
    assert len(doc["raw"]) == HEAD_BYTES


@settings(max_examples=60, deadline=None)
@given(
    st.binary(max_size=3 * HEAD_BYTES) | st.sampled_from([CONTROL, b'"' * 50_000, b"\\" * 9000]),
    st.text(max_size=3000),
    st.none() | st.text(max_size=1000),
)
def test_any_input_makes_a_record_under_the_bound(raw: bytes, reason: str, fld: str | None) -> None:
    out = deadletter.encode(raw, reason, fld, topic="t", partition=0, offset=1 << 62)
    assert len(out) <= MAX_RECORD_BYTES
    doc = orjson.loads(out)
    kept = doc["raw"].encode() if "raw" in doc else base64.b64decode(doc["raw_base64"])
    assert raw.startswith(kept) and doc["length"] == len(raw)
    assert (kept == raw) is not doc.get("truncated", False)
    assert doc["sha256"] == hashlib.sha256(raw).hexdigest()


def test_bounded_lines_skip_an_over_long_line_in_chunks_with_its_digest() -> None:
    long = b"z" * 300_000 + b"\r"
    data = b"first\n" + long + b"\nlast\r\n\nno-break"
    got = list(bounded_lines(io.BytesIO(data), 1000))
    assert got[0] == b"first" and got[2:] == [b"last", b"", b"no-break"]
    over = got[1]
    assert isinstance(over, Oversize)
    assert over.length == len(long) and over.sha256 == hashlib.sha256(long).hexdigest()
    assert over.head == long[:1000]
    tail = list(bounded_lines(io.BytesIO(b"a\n" + b"q" * 5000), 1000))  # unterminated, over-long
    assert tail[0] == b"a" and isinstance(tail[1], Oversize) and tail[1].length == 5000
    assert tail[1].sha256 == hashlib.sha256(b"q" * 5000).hexdigest()
