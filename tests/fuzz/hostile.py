"""Hostile input: what an attacker who controls an agent (or a broken gateway) can put on the bus.

Hypothesis strategies for the fuzz tests, and :func:`hostile_messages`, a
seeded list of the same kinds for the broker test (no hypothesis there: the
worker runs once). Classes of input, each named so a report can count them:

- ``random_bytes``: anything at all;
- ``invalid_utf8``: a valid event with bytes that are not UTF-8 inside a string;
- ``deep_nesting``: arrays/objects nested deeper than any parser should follow;
- ``huge``: strings and arrays at and beyond the limits (message, field, list);
- ``bad_time``: timestamps far in the past and future, odd offsets, not times;
- ``field_values``: every field of every event type set to a wrong-typed value;
- ``unknown_fields``: valid events with extra, unknown fields (accepted);
- ``truncated``: a valid event cut short or with bytes flipped.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import strategies as st

AGENT = "spiffe://corp/agents/patcher-7"
BASE_TS = "2026-03-02T09:06:00Z"

#: One valid event of every type (the mutations start from these).
TEMPLATES: list[dict[str, Any]] = [
    {
        "type": "tool_call",
        "agent_id": AGENT,
        "server": "fleet",
        "tool": "list_hosts",
        "outcome": "ok",
        "task_id": "T1",
        "credential_id": "c1",
        "args": {"q": "x"},
        "resources": ["fleet://prod/a"],
        "bytes_out": 10,
    },
    {"type": "task_started", "agent_id": AGENT, "task_id": "T1", "sponsor": "alice"},
    {"type": "task_ended", "agent_id": AGENT, "task_id": "T1"},
    {
        "type": "credential_issued",
        "agent_id": AGENT,
        "credential_id": "c1",
        "task_id": "T1",
        "scopes": ["r"],
        "expires_at": "2026-03-02T09:16:00Z",
    },
    {"type": "credential_revoked", "agent_id": AGENT, "credential_id": "c1", "reason": "x"},
    {"type": "sponsor_active", "agent_id": AGENT, "sponsor": "alice"},
    {"type": "sponsor_ended", "agent_id": AGENT, "sponsor": "alice"},
    {
        "type": "alert_feedback",
        "agent_id": AGENT,
        "alert_id": "a1",
        "verdict": "benign",
    },
    {
        "type": "charter_updated",
        "agent_id": AGENT,
        "charter": {"agent": "spiffe://corp/agents/x-*", "kind": "autonomous"},
    },
]

#: Timestamps a broken or hostile gateway may send.
BAD_TIMES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-23:59",  # after year 9999 in UTC
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2199-12-31T23:59:59Z",
    "2200-01-01T00:00:00Z",
    "2026-03-02T09:06:00",  # no offset
    "2026-03-02T09:06:00+23:59",
    "2026-02-30T00:00:00Z",
    "yesterday",
    "",
    0,
    -1,
    1e300,
    None,
    [],
    {},
]
FIELDS = sorted({k for t in TEMPLATES for k in t} | {"event_id", "ts", "expires_at"})

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\u202e", "𝕏" * 5, "a" * 513, "a" * 4097]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _event(template: dict[str, Any], event_id: str, ts: Any = BASE_TS) -> dict[str, Any]:
    return {**template, "event_id": event_id, "ts": ts}


def _dumps(doc: Any) -> bytes:
    """JSON with what orjson refuses to write: integers beyond 64 bits, lone surrogates."""
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _nested(depth: int, leaf: Any = 1) -> bytes:
    return b"[" * depth + orjson.dumps(leaf) + b"]" * depth


@st.composite
def hostile_messages_st(draw: st.DrawFn) -> tuple[str, bytes]:
    """One hostile message and the name of its class."""
    kind = draw(
        st.sampled_from(
            [
                "random_bytes",
                "invalid_utf8",
                "deep_nesting",
                "huge",
                "bad_time",
                "field_values",
                "unknown_fields",
                "truncated",
            ]
        )
    )
    template = draw(st.sampled_from(TEMPLATES))
    eid = f"fz-{draw(st.integers(0, 10_000))}"
    good = _dumps(_event(template, eid))
    if kind == "random_bytes":
        return kind, draw(st.binary(max_size=512))
    if kind == "invalid_utf8":
        junk = draw(st.binary(min_size=1, max_size=8).filter(_not_utf8))
        cut = good.index(b'"', good.index(b'"event_id"') + 11) + 1  # inside the id's value
        return kind, good[:cut] + junk + good[cut:]
    if kind == "deep_nesting":
        depth = draw(st.sampled_from([10, 200, 1000, 1025, 5000, 100_000]))
        where = draw(st.sampled_from(["whole", "args", "charter"]))
        if where == "whole":
            return kind, _nested(depth)
        doc = _event(TEMPLATES[0] if where == "args" else TEMPLATES[-1], eid)
        blob = _dumps(doc)
        field = b'"args":' if where == "args" else b'"charter":'
        start = blob.index(field) + len(field)
        value_end = _value_end(blob, start)
        return kind, blob[:start] + _nested(depth, {"k": "v"}) + blob[value_end:]
    if kind == "huge":
        which = draw(st.sampled_from(["message", "string", "id", "array", "resources", "args"]))
        doc = _event(TEMPLATES[0], eid)
        if which == "message":
            doc["args"] = {"blob": "x" * ((1 << 20) + 1)}
        elif which == "string":
            doc["tool"] = "t" * draw(st.sampled_from([512, 513, 100_000]))
        elif which == "id":
            doc["agent_id"] = "a" * draw(st.sampled_from([512, 513]))
        elif which == "array":
            doc["args"] = {"list": list(range(draw(st.sampled_from([1000, 50_000]))))}
        elif which == "resources":
            doc["resources"] = ["r://" + "x" * 10] * draw(st.sampled_from([1024, 1025, 20_000]))
        else:
            doc["args"] = {f"k{i}": i for i in range(draw(st.sampled_from([100, 10_000])))}
        return kind, _dumps(doc)
    if kind == "bad_time":
        ts = draw(st.sampled_from(BAD_TIMES))
        if template["type"] == "credential_issued" and draw(st.booleans()):
            return kind, _dumps({**_event(template, eid), "expires_at": ts})
        return kind, _dumps(_event(template, eid, ts))
    if kind == "field_values":
        doc = _event(template, eid)
        doc[draw(st.sampled_from(FIELDS))] = draw(json_values)
        return kind, _dumps(doc)
    if kind == "unknown_fields":
        extra = draw(st.dictionaries(st.text(min_size=1, max_size=12), json_values, max_size=5))
        return kind, _dumps({**extra, **_event(template, eid)})
    # truncated / corrupted
    if draw(st.booleans()):
        return kind, good[: draw(st.integers(0, len(good) - 1))]
    pos = draw(st.integers(0, len(good) - 1))
    return kind, good[:pos] + bytes([draw(st.integers(0, 255))]) + good[pos + 1 :]


def _not_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _value_end(blob: bytes, start: int) -> int:
    """End of the JSON value starting at ``start`` (objects/arrays only, no strings with brackets)."""
    depth = 0
    for i in range(start, len(blob)):
        c = blob[i : i + 1]
        if c in (b"{", b"["):
            depth += 1
        elif c in (b"}", b"]"):
            depth -= 1
            if depth == 0:
                return i + 1
    return len(blob)


def hostile_messages(n: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """``n`` hostile messages of every class, reproducible (for the broker test)."""
    rnd = random.Random(seed)
    out: list[tuple[str, bytes]] = []
    makers: list[Callable[[int], tuple[str, bytes]]] = [
        lambda i: ("random_bytes", rnd.randbytes(rnd.randint(0, 300))),
        lambda i: (
            "invalid_utf8",
            _dumps(_event(TEMPLATES[0], f"u{i}"))[:30] + b"\xc3\x28\xff" + b'"}',
        ),
        lambda i: ("deep_nesting", _nested(rnd.choice([1025, 5000, 50_000]))),
        lambda i: (
            "bad_time",
            _dumps(_event(rnd.choice(TEMPLATES), f"bt{i}", rnd.choice(BAD_TIMES))),
        ),
        lambda i: (
            "field_values",
            _dumps(
                {
                    **_event(rnd.choice(TEMPLATES), f"fv{i}"),
                    rnd.choice(FIELDS): rnd.choice(
                        [None, -1, "x" * 600, [1], {"a": 1}, 1 << 80, True]
                    ),
                }
            ),
        ),
        lambda i: (
            "huge",
            _dumps({**_event(TEMPLATES[0], f"hg{i}"), "resources": ["r://x"] * 1025}),
        ),
        lambda i: (
            "truncated",
            _dumps(_event(rnd.choice(TEMPLATES), f"tr{i}"))[: rnd.randint(1, 40)],
        ),
    ]
    for i in range(n):
        out.append(makers[i % len(makers)](i))
    return out
