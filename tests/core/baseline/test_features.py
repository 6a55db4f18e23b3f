"""Features of one call: named, stable, cheap to compute and to explain."""

from __future__ import annotations

from zlib import crc32

from monitor import testing as tb
from monitor.core.baseline.features import (
    FEATURES,
    arg_shape,
    classify_resource,
    extract,
    h32,
)


def test_feature_names_are_unique_and_explainable() -> None:
    assert len(set(FEATURES)) == len(FEATURES) == 16
    assert {"tool", "destination", "transition", "rate", "bytes_out", "hour"} <= set(FEATURES)


def test_hashes_are_stable_across_processes() -> None:
    assert h32("web/http_post") == crc32(b"web/http_post")
    assert h32("é") == crc32("é".encode())


def test_resources_split_into_destinations_and_families() -> None:
    assert classify_resource("https://Hooks.Example.com:8443/a/b") == (
        True,
        "net:hooks.example.com:8443",
    )
    assert classify_resource("mailto:Bob@ACME.example?subject=x") == (True, "mail:acme.example")
    assert classify_resource("ssh://git@github.com/x") == (True, "net:github.com")
    assert classify_resource("file:///repo/app/src/x/y/z.py") == (False, "file:///repo/app/src")
    assert classify_resource("s3://bucket/raw/2026/part.parquet") == (False, "s3://bucket/raw/2026")
    assert classify_resource("urn:isbn:123") == (False, "urn:isbn")


def test_argument_shape_keeps_keys_types_and_sizes_never_values() -> None:
    a = arg_shape("x/y", {"b": "short", "a": 3, "c": ["p"] * 20, "d": None})
    assert a == "x/y|a:n|b:ss|c:am|d:z"
    assert arg_shape("x/y", {"b": "other", "a": 4, "c": ["q"] * 20, "d": None}) == a
    assert arg_shape("x/y", {"b": "s" * 200}) != arg_shape("x/y", {"b": "s"})
    assert arg_shape("x/y", {}) == "x/y"


def test_extract_reads_one_call_at_event_time() -> None:
    c = tb.call(
        0,  # 2026-03-02 09:00 UTC, a Monday
        "a",
        "email",
        "send_email",
        args={"to": "x@y.example"},
        resources=["mailto:x@evil.example", "file:///tmp/a/b.txt", "mailto:z@evil.example"],
        bytes_out=0,
        bytes_in=999,
        outcome="denied",
    )
    f = extract(c, c.ts.timestamp())
    assert f.tool_name == "email/send_email" and f.server_name == "email"
    assert f.destinations == ["mail:evil.example"]  # deduplicated
    assert f.resources == ["file:///tmp/a"]
    assert f.hour == 9 and f.weekday == 0
    assert f.failed and f.outcome == "denied"
    assert f.bytes_out == 0.0 and 6.9 < f.bytes_in < 6.91


def test_arguments_name_the_destination_when_no_resource_is_logged() -> None:
    c = tb.call(0, "a", "email", "send_email", args={"to": ["a@x.example", "b@y.example"]})
    assert extract(c, 0.0).destinations == ["mail:x.example", "mail:y.example"]
    c = tb.call(0, "a", "web", "get", args={"url": "https://h.example/p"})
    assert extract(c, 0.0).destinations == ["net:h.example"]
