"""What a consumer keeps of a message it could not handle: a bounded dead-letter record.

Every shell (worker, revoker, sink, replay, tap) dead-letters bad input. The
record says where the message was (topic/partition/offset or line), why it was
refused (``reason``, ``field``), how long it was (``length``), the SHA-256 of
the whole (``sha256``), and only a *head* of its bytes: ``raw`` (UTF-8 text)
or ``raw_base64`` (anything else). A message no longer than :data:`HEAD_BYTES`
is kept whole; a longer one gets ``truncated: true`` and ``size`` (= ``length``,
the name earlier versions used).

Why a head and not the whole: the input is hostile. JSON escapes a control
byte as six characters (``\\u0001``), so a 200 KB message of control bytes
became a 1.2 MB dead letter, over the producer's 1 MiB request limit; the
produce failed, the consumer died without committing, and after a restart the
same message killed it again — the valid commands behind it were never carried
out. Here every part of the record is bounded (head, reason, field, key), so
an encoded record is at most :data:`MAX_RECORD_BYTES` whatever the input. The
whole message is still where it was (the source topic or file, at the recorded
position) and the digest identifies it.

>>> rec = record(b"\\x01" * 10_000, "not JSON", None, topic="t", partition=0, offset=7)
>>> rec["length"], rec["truncated"], len(rec["raw"])
(10000, True, 4096)
"""

from __future__ import annotations

import base64
import codecs
import hashlib
from typing import Any

import orjson

from monitor.core.redact import DEFAULT_REDACTOR

__all__ = [
    "HEAD_BYTES",
    "MAX_FIELD_CHARS",
    "MAX_KEY_BYTES",
    "MAX_REASON_CHARS",
    "MAX_RECORD_BYTES",
    "clip",
    "encode",
    "key",
    "reason_class",
    "reason_head",
    "record",
]

#: Bytes of the message a dead letter keeps (the whole message when it is no longer).
HEAD_BYTES = 4096
#: A reason can quote the input (e.g. an unknown event type): cut after this many characters.
MAX_REASON_CHARS = 1024
#: A field path can name input keys: cut after this many characters.
MAX_FIELD_CHARS = 256
#: A longer message key is replaced by its SHA-256 (hex) as the dead letter's key.
MAX_KEY_BYTES = 1024
#: Upper bound of an encoded record: head, reason and field at six bytes a character
#: (JSON's ``\\u00XX``) plus room for the position. Far below the 1 MiB request limit.
MAX_RECORD_BYTES = 6 * (HEAD_BYTES + MAX_REASON_CHARS + MAX_FIELD_CHARS) + 4096


def clip(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def key(k: bytes | None) -> bytes | None:
    """The dead letter's message key: the input's key, or its SHA-256 (hex) when long."""
    if k is None or len(k) <= MAX_KEY_BYTES:
        return k
    return hashlib.sha256(k).hexdigest().encode()


def reason_class(reason: str) -> str:
    """The class of a free-text dead-letter reason: one of a few fixed labels.

    The metrics' ``reason`` label (labels must not explode), for every service.

    >>> reason_class("not JSON: unexpected character"), reason_class("whatever else")
    ('not_json', 'invalid_event')
    """
    if reason.startswith("message of "):
        return "too_large"
    if reason.startswith("not JSON"):
        return "not_json"
    if reason.startswith(("not a JSON object", "Input should be an object")):
        return "not_object"
    if reason.startswith("unknown event type"):
        return "unknown_type"
    if "ahead of the judging clock" in reason:
        return "future_event"  # monitor/core/engine.py: max_future_seconds
    if reason.startswith("duplicate JSON key"):
        return "duplicate_key"
    if reason.startswith("engine error"):
        return "engine_error"
    if reason.startswith("undeliverable alert"):
        return "undeliverable"  # the sink's transport can never deliver it (monitor/sinks)
    if reason.startswith("corrupt agent state"):
        return "corrupt_state"  # a stored agent record the worker could not read back
    if reason.startswith("handler error"):
        return "handler_error"  # any other failure while handling one message (poison)
    if reason.startswith("invalid revocation command") or reason.startswith("invalid alert"):
        return "invalid"
    if reason.startswith("refused revocation command"):
        return "refused"  # forged, unsigned or expired (monitor/revoker/gate.py)
    return "invalid_event"


def reason_head(reason: str) -> str:
    """The head of a reason (before its first colon, at most 60 characters, redacted).

    What the replay and tap summaries count dead letters by (``deadletter_reasons``):
    finer than :func:`reason_class` and readable, never the input quoted after the
    colon. Redacted first: the head may quote the input too.

    >>> reason_head("not JSON: unexpected character")
    'not JSON'
    """
    return DEFAULT_REDACTOR(reason).split(":", 1)[0][:60]


def _head(raw: bytes, truncated: bool) -> dict[str, str]:
    try:
        if truncated:  # a cut may split a character: keep the complete ones before it
            text = codecs.getincrementaldecoder("utf-8")().decode(raw, final=False)
        else:
            text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"raw_base64": base64.b64encode(raw).decode("ascii")}
    return {"raw": text}


def record(
    raw: bytes,
    reason: str,
    field: str | None,
    *,
    length: int | None = None,
    sha256: str | None = None,
    head: int = HEAD_BYTES,
    **where: Any,
) -> dict[str, Any]:
    """The dead-letter record of ``raw``: ``where`` it was, why, its length, digest and head.

    ``raw`` is normally the whole message. A caller that never held the whole
    (e.g. a line read in bounded chunks) passes the head it has as ``raw`` and
    the whole's ``length`` (and ``sha256`` when it computed one while reading);
    without ``sha256`` the record then has none rather than a wrong one.
    """
    whole = length is None
    n = len(raw) if length is None else length
    digest = hashlib.sha256(raw).hexdigest() if whole and sha256 is None else sha256
    kept = raw[:head]
    truncated = n > len(kept)
    rec: dict[str, Any] = {
        **where,
        "reason": clip(DEFAULT_REDACTOR(reason)),  # it may quote the input
        "field": None if field is None else clip(field, MAX_FIELD_CHARS),
        "length": n,
    }
    if digest is not None:
        rec["sha256"] = digest
    if truncated:
        rec.update(truncated=True, size=n)
    rec.update(_head(kept, truncated))
    return rec


def encode(raw: bytes, reason: str, field: str | None, **kw: Any) -> bytes:
    """:func:`record`, as the JSON bytes a dead-letter topic or file gets."""
    return orjson.dumps(record(raw, reason, field, **kw))
