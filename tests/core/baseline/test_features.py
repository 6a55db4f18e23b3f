"""Features of one call: named, stable, cheap to compute and to explain."""

from __future__ import annotations

from zlib import crc32

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor import testing as tb
from monitor.core.baseline import features
from monitor.core.baseline.features import (
    FEATURES,
    arg_shape,
    classify_resource,
    extract,
    h32,
    shape_of,
)


@pytest.fixture(autouse=True)
def _cold_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test computes its hashes and keys afresh: an answer cached by an earlier test (or
    by a mutation run's clean pass, inherited by its forks) would hide a wrong computation."""
    monkeypatch.setattr(features, "_hashes", {})
    monkeypatch.setattr(features, "_parsed", {})
    monkeypatch.setattr(features, "_tools", {})
    monkeypatch.setattr(features, "_shapes", {})
    monkeypatch.setattr(features, "_last_shape", {})


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


def _classify_by_splitting(uri: str) -> tuple[bool, str]:
    """classify_resource as it was written before it searched instead of splitting: the
    reference the faster parse must agree with on every URI."""
    if uri[:7].lower() == "mailto:":
        addr = uri[7:].partition("?")[0]
        return True, "mail:" + addr.rpartition("@")[2].lower()[:128]
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return False, ":".join(uri.split(":", 2)[:2])[:128]
    scheme = scheme.lower()
    authority, _, path = rest.partition("/")
    if scheme in features.NETWORK_SCHEMES:
        return True, "net:" + authority.rpartition("@")[2].lower()[:128]
    dirs = path.split("/")[:-1][:3]
    return False, f"{scheme}://{authority}/{'/'.join(dirs)}"[:160]


# URIs built from the characters that matter to the parse, and any text
_PARTS = st.sampled_from(
    ["/", "//", "://", ":", "@", "?", "a", "B", "x.y", "mailto:", "HTTPS", "s3"]
)
_URIS = st.one_of(
    st.lists(_PARTS, max_size=14).map("".join),
    st.builds(
        lambda scheme, auth, segs: f"{scheme}://{auth}/{'/'.join(segs)}",
        st.sampled_from(["file", "https", "SSH", "crm", "s3", "İ", ""]),
        st.text(max_size=12),
        st.lists(st.text(alphabet="ab/", max_size=4), max_size=7),
    ),
    st.text(max_size=40),
)


@given(_URIS)
def test_the_search_parse_agrees_with_splitting_on_every_uri(uri: str) -> None:
    features._parsed.clear()
    assert classify_resource(uri) == _classify_by_splitting(uri)
    is_dest, key, h = features._resource(uri)  # cached now, with the key's hash
    assert (is_dest, key) == _classify_by_splitting(uri) and h == crc32(
        key.encode("utf-8", "surrogatepass")
    )


def test_directories_are_cut_at_the_third_level_or_at_the_last() -> None:
    assert classify_resource("file:///a/b/c/d/e.py") == (False, "file:///a/b/c")
    assert classify_resource("file:///a/b/") == (False, "file:///a/b")
    assert classify_resource("file:///a/x.py") == (False, "file:///a")
    assert classify_resource("crm://acme") == (False, "crm://acme/")
    assert classify_resource("crm://acme/") == (False, "crm://acme/")
    assert classify_resource("crm://acme//b//c") == (False, "crm://acme//b/")
    # an empty first directory counts as one of the three levels
    assert classify_resource("crm://acme//b/c/d/e") == (False, "crm://acme//b/c")


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


def test_size_buckets_have_exact_edges_for_strings_lists_and_objects() -> None:
    for n, code in ((0, "0"), (1, "s"), (16, "s"), (17, "m"), (128, "m"), (129, "l")):
        assert arg_shape("t", {"k": "x" * n}) == f"t|k:s{code}"
        assert arg_shape("t", {"k": [1] * n}) == f"t|k:a{code}"
        assert arg_shape("t", {"k": {str(i): 1 for i in range(n)}}) == f"t|k:o{code}"
    for n, code in ((1024, "l"), (1025, "x"), (5000, "x")):
        assert arg_shape("t", {"k": "x" * n}) == f"t|k:s{code}"
        assert arg_shape("t", {"k": [1] * n}) == f"t|k:a{code}"


def test_value_types_outside_json_still_get_a_stable_code() -> None:
    class Text(str):
        pass

    class Number(int):
        pass

    class Mapping(dict):
        pass

    codes = {
        "b": True,
        "n": 3,
        "f": 2.5,
        "z": None,
        "t": (1, 2),
        "u": Text("x" * 20),
        "v": Number(4),
        "w": Mapping(a=1),
        "x": object(),
        "y": (),
    }
    assert arg_shape("t", codes) == "t|b:b|f:n|n:n|t:as|u:sm|v:n|w:os|x:z|y:a0|z:z"


def test_the_cached_shape_keys_on_the_same_codes_as_the_shape() -> None:
    # shape_of's cache key inlines _type_code for str/int/float/list/dict: each size bucket
    # and every other kind must give one shape per key, the one arg_shape builds
    values = [True, 3, 2.5, None, (1,), [], {}, object()]
    values += ["x" * n for n in (0, 1, 9, 10, 1024, 1025)]
    values += [[0] * n for n in (0, 3, 1024, 1025)]
    values += [{str(i): 0 for i in range(n)} for n in (2, 1024, 1025)]
    for v in values:
        for args in ({"k": v}, {"k": v, "a": "short"}, {"z": 1, "k": v}):
            shape, hashed = shape_of("t", args)
            assert shape == arg_shape("t", args) and hashed == h32(shape)
            assert shape_of("t", dict(args)) == (shape, hashed)  # from the cache: the same


def test_a_tool_repeating_its_last_shape_gets_it_and_any_change_gets_its_own() -> None:
    # shape_of compares a call with its tool's last shape in place: a key renamed or moved, a
    # value of another kind or size bucket, a key more or less must each miss that memo
    base = {"path": "a.py", "limit": 20}
    variants = [
        base,
        {"limit": 20, "path": "a.py"},
        {"path": "a" * 20, "limit": 20},
        {"path": "a.py", "limit": "20"},
        {"path": "a.py", "lim": 20},
        {"path": "a.py"},
        {"path": "a.py", "limit": 20, "x": None},
        base,
    ]
    for args in variants:
        want = arg_shape("fs/read", args)
        assert shape_of("fs/read", args) == (want, h32(want))
        assert shape_of("fs/read", dict(args)) == (want, h32(want))  # the memo's answer
        assert shape_of("other/tool", args)[0] == arg_shape("other/tool", args)


def test_names_spelled_like_value_codes_never_stand_for_another_shape() -> None:
    # shape_of's memo holds one tuple of the tool name, the keys and the value codes, and
    # compares a call with it slot by slot: a tool or key named like a code ("n", "ss")
    # must still be compared with its own slot, whatever call came before it
    keys = ("n", "ss", "a")
    values = (1, "x", None)  # codes n, ss, z
    calls: list[dict[str, object]] = [{}]
    calls += [{k: v} for k in keys for v in values]
    calls += [
        {k1: v1, k2: v2} for k1 in keys for k2 in keys if k1 != k2 for v1 in values for v2 in values
    ]
    for tool in ("n", "ss", "fs/read"):
        for before in calls:
            for args in calls:
                shape_of(tool, before)  # the tool's last shape, the one args is compared with
                want = arg_shape(tool, args)
                assert shape_of(tool, args) == (want, h32(want)), (tool, before, args)


def test_the_shape_of_no_arguments_is_the_tools_name() -> None:
    # extract_fields skips shape_of for a call without arguments; called with none, it gives
    # arg_shape's answer, before and after the tool's calls with arguments
    assert shape_of("fs/read", {}) == ("fs/read", h32("fs/read"))
    shape_of("fs/read", {"path": "a.py"})
    assert shape_of("fs/read", {}) == ("fs/read", h32("fs/read"))
    assert shape_of("fs/read", {"path": "a.py"})[0] == "fs/read|path:ss"


def test_only_the_first_32_keys_in_order_make_the_shape() -> None:
    args = {f"k{i:02d}": 1 for i in range(40)}
    shape = arg_shape("t", args)
    assert shape.count("|") == 32 and shape.endswith("|k31:n")
    assert arg_shape("t", {**args, "k39": "text"}) == shape
    assert arg_shape("t", {"only": "v"}) == "t|only:ss"


def test_every_destination_key_names_a_destination_and_only_strings_count() -> None:
    for key in ("to", "cc", "bcc", "recipient", "recipients", "url", "endpoint", "webhook", "host"):
        c = tb.call(0, "a", "s", "t", args={key: "Mail@Dest.Example"})
        assert extract(c, 0.0).destinations == ["mail:dest.example"], key
    c = tb.call(0, "a", "s", "t", args={"host": "API.example", "to": ["", 5, "file:///x/y"]})
    assert extract(c, 0.0).destinations == ["net:api.example"]
    c = tb.call(0, "a", "s", "t", args={"url": "https://h.example/a", "body": "x@y.example"})
    assert extract(c, 0.0).destinations == ["net:h.example"]  # only the listed keys


def test_a_call_is_judged_on_its_first_four_resources() -> None:
    hosts = [f"https://h{i}.example/" for i in range(6)]
    c = tb.call(0, "a", "s", "t", resources=hosts)
    f = extract(c, 0.0)
    assert f.destinations == [f"net:h{i}.example" for i in range(4)]
    assert f.destination_hashes == [h32(d) for d in f.destinations]
    c = tb.call(0, "a", "s", "t", args={"to": [f"u@d{i}.example" for i in range(6)]})
    assert extract(c, 0.0).destinations == [f"mail:d{i}.example" for i in range(4)]
    c = tb.call(0, "a", "s", "t", resources=["file:///r/a/x", "file:///r/a/y"], args={"to": "u@d"})
    f = extract(c, 0.0)
    assert f.resources == ["file:///r/a"] and f.destinations == []  # logged resources win
    assert f.resource_hashes == [h32("file:///r/a")]


def test_resource_keys_are_bounded_and_normalised() -> None:
    assert classify_resource("MAILTO:Ann@X.Example") == (True, "mail:x.example")
    assert classify_resource("https://user:pw@Host.Example/p") == (True, "net:host.example")
    assert classify_resource("https://" + "h" * 300) == (True, "net:" + "h" * 128)
    assert classify_resource("mailto:a@" + "d" * 300) == (True, "mail:" + "d" * 128)
    assert classify_resource("urn:" + "u" * 300) == (False, "urn:" + "u" * 124)
    key = classify_resource("git://" + "a" * 300 + "/x")[1]
    assert key == ("git://" + "a" * 300)[:160]
    assert classify_resource("git://host/a/b/c/d/e/f") == (False, "git://host/a/b/c")
    assert classify_resource("git://host/f") == (False, "git://host/")
    c = tb.call(0, "a", "s", "t", args={"to": "u@" + "D" * 300, "url": "H" * 300})
    assert extract(c, 0.0).destinations == ["mail:" + "d" * 128, "net:" + "h" * 128]


def test_caches_stay_bounded_and_answers_stay_right(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(features, "_CACHE_MAX", 4)
    for i in range(10):
        assert h32(f"cache-{i}") == crc32(f"cache-{i}".encode())
        assert classify_resource(f"https://c{i}.example/") == (True, f"net:c{i}.example")
        c = tb.call(0, "a", f"srv{i}", "tool")
        assert extract(c, 0.0).tool == h32(f"srv{i}/tool")
        assert shape_of("t", {f"k{i}": 1})[0] == f"t|k{i}:n"
        assert len(features._hashes) <= 4 and len(features._parsed) <= 4
        assert len(features._tools) <= 4 and len(features._shapes) <= 4
        assert len(features._last_shape) <= 4


def test_time_outcome_and_volume_features() -> None:
    c = tb.call(0, "a", "s", "t", bytes_out=1000, bytes_in=0, outcome="error")
    sunday_late = 1772445600.0 - 36_001  # 2026-03-01 23:59:59 UTC, a Sunday
    f = extract(c, sunday_late)
    assert (f.hour, f.weekday) == (23, 6)
    assert f.failed and f.outcome == "error"
    assert 6.90 < f.bytes_out < 6.91 and f.bytes_in == 0.0
    assert not extract(tb.call(0, "a", "s", "t", outcome="unknown"), 0.0).failed
    f = extract(tb.call(0, "a", "other", "t"), 0.0)
    assert f.server == h32("other") and f.tool == h32("other/t") and f.shape == h32("other/t")
    assert f.shape_name == "other/t"  # the shape of no arguments is the tool's name
    assert (f.hour, f.weekday) == (0, 3)  # 1970-01-01 was a Thursday


def test_a_lone_surrogate_hashes_as_its_utf8_bytes() -> None:
    # tool and host names come from JSON, which can carry an unpaired surrogate escape
    assert h32("x\ud800") == crc32(b"x\xed\xa0\x80")


def test_resource_keys_split_at_the_right_separator() -> None:
    # a mail address without "@": the whole address is the domain
    assert classify_resource("mailto:Acme.Example") == (True, "mail:acme.example")
    assert classify_resource("mailto:a@b@Evil.Example") == (True, "mail:evil.example")
    # the scheme is what comes before the FIRST "://", the host after the LAST "@"
    assert classify_resource("https://h.example/r?u=ftp://x/y") == (True, "net:h.example")
    assert classify_resource("https://a@b@Host.Example/") == (True, "net:host.example")
    # a scheme without "//": the first two colon-separated parts, counted from the left
    assert classify_resource("urn:a:b:c") == (False, "urn:a")
    # an empty scheme before "://" is still a scheme, not a colon-separated family
    assert classify_resource("://h/a/b") == (False, "://h/a")


def test_two_argument_keys_are_sorted_one_key_is_kept() -> None:
    assert arg_shape("t", {"b": 1, "a": "x"}) == "t|a:ss|b:n"
    assert arg_shape("t", {"a": "x", "b": 1}) == "t|a:ss|b:n"


def test_size_buckets_of_tuples_and_subclasses_have_the_same_edges() -> None:
    # values that are not plain JSON types take the slow path: same buckets, same edges
    class Text(str):
        pass

    for n, code in (
        (0, "0"),
        (16, "s"),
        (17, "m"),
        (128, "m"),
        (129, "l"),
        (1024, "l"),
        (1025, "x"),
    ):
        assert arg_shape("t", {"k": (1,) * n}) == f"t|k:a{code}", n
        assert arg_shape("t", {"k": Text("x" * n)}) == f"t|k:s{code}", n


def test_an_argument_address_is_split_at_its_last_at_sign() -> None:
    c = tb.call(0, "a", "s", "t", args={"to": "a@b@Evil.Example"})
    assert extract(c, 0.0).destinations == ["mail:evil.example"]


def test_feature_indices_follow_feature_names() -> None:
    """The ``F_*`` constants are spelled out (compiled as C constants): each must still be
    its feature's position in :data:`features.FEATURES`."""
    from monitor.core.baseline import features as ft

    consts = {
        "tool": ft.F_TOOL, "server": ft.F_SERVER, "transition": ft.F_TRANSITION,
        "chain": ft.F_CHAIN, "destination": ft.F_DESTINATION, "resource": ft.F_RESOURCE,
        "arg_shape": ft.F_SHAPE, "rate": ft.F_RATE, "burst": ft.F_BURST, "fanout": ft.F_FANOUT,
        "bytes_out": ft.F_BYTES_OUT, "bytes_in": ft.F_BYTES_IN, "hour": ft.F_HOUR,
        "weekday": ft.F_WEEKDAY, "error_streak": ft.F_ERRORS, "task_length": ft.F_TASK,
    }  # fmt: skip
    assert {name: i for i, name in enumerate(ft.FEATURES)} == consts


def test_the_hour_and_weekday_turn_at_midnight_utc() -> None:
    monday = 1772445600.0 - 36_000  # 2026-03-02 00:00:00 UTC, a Monday
    c = tb.call(0, "a", "s", "t")
    for t, hour, weekday in ((monday - 1, 23, 6), (monday, 0, 0), (monday + 3599, 0, 0)):
        f = extract(c, t)
        assert (f.hour, f.weekday) == (hour, weekday), t
