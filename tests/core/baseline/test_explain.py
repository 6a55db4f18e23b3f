"""Every feature that can drive a score has words for it."""

from __future__ import annotations

from monitor import testing as tb
from monitor.core.baseline.explain import feature_key, human_bytes, phrase, top_features
from monitor.core.baseline.features import FEATURES
from monitor.core.baseline.model import AgentBaseline

from .routine import exfil, routine
from .test_model import _trained


def test_every_feature_has_a_phrase() -> None:
    m = _trained()
    c = exfil(151)
    f = m.observe(c, c.ts.timestamp())
    f.error_streak, f.fanout = 3, 4
    for i, name in enumerate(FEATURES):
        text = phrase(m, f, i)
        assert text and "{" not in text, name
    assert "paste.example" in phrase(m, f, FEATURES.index("destination"))
    assert "60.0 KB sent to web/http_post" in phrase(m, f, FEATURES.index("bytes_in"))
    assert feature_key(f, FEATURES.index("destination")) == "net:paste.example"


def test_rates_quote_the_agents_own_peaks() -> None:
    m = _trained()
    c = routine(1, start=150)[0]
    f = m.observe(c, c.ts.timestamp())
    f.rate = 40
    assert phrase(m, f, FEATURES.index("rate")) == (
        "40 calls in the last minute (its busiest tasks: 3)"
    )


def test_top_features_are_the_largest_positive_ones() -> None:
    assert top_features([0.0, 2.0, 5.0, 0.5, 0.0]) == [2, 1, 3]
    assert top_features([0.0, 0.0]) == []
    assert human_bytes(999) == "999 B" and human_bytes(2.5e9) == "2.5 GB"


def test_each_phrase_quotes_the_call_and_the_agents_own_counts() -> None:
    m = _trained()  # 150 routine calls: 25 sessions of 6, one call every 20 s
    c = exfil(151)
    f = m.observe(c, c.ts.timestamp())
    f.error_streak, f.fanout = 3, 4
    said = {name: phrase(m, f, i) for i, name in enumerate(FEATURES)}
    assert said == {
        "tool": "rare use of tool web/http_post (seen 25×)",
        "server": "rare call to server web (seen 25×)",
        "transition": "rare sequence web/http_post → web/http_post (seen 25×)",
        "chain": "its previous calls also followed sequences it rarely or never ran",
        "destination": "first destination net:paste.example",
        "resource": "no resource",
        "arg_shape": "rare argument shape web/http_post|body:ss|url:sm (seen 25×)",
        "rate": "2 calls in the last minute (its busiest tasks: 3)",
        "burst": "1 calls in 10 seconds (its busiest tasks: 1)",
        "fanout": "4 distinct destinations in 10 minutes (usually at most 1)",
        "bytes_out": "200 B returned by web/http_post (usually about 2.7 KB)",
        "bytes_in": "60.0 KB sent to web/http_post (usually about 385 B)",
        "hour": "active at 09h UTC, an hour this agent rarely works",
        "weekday": "active on a Monday, a day this agent rarely works",
        "error_streak": "3 failed or denied calls in a row",
        "task_length": "1 calls into one task (its longest: 6)",
    }
    keys = {name: feature_key(f, i) for i, name in enumerate(FEATURES)}
    assert {k: v for k, v in keys.items() if v} == {
        "tool": "web/http_post",
        "server": "web",
        "transition": "web/http_post>web/http_post",
        "destination": "net:paste.example",
        "arg_shape": "web/http_post",
        "bytes_out": "web/http_post",
        "bytes_in": "web/http_post",
    }


def test_phrases_name_the_least_known_value_and_a_fresh_agent_has_no_peaks() -> None:
    m = _trained()
    c = tb.call(
        3_020,
        "agent:routine/1",
        "mail",
        "send",
        resources=["https://hooks.example.com/y", "https://new.example/", "file:///repo/src/z",
                   "file:///elsewhere/q"],
    )  # fmt: skip
    f = m.observe(c, c.ts.timestamp())
    assert phrase(m, f, FEATURES.index("destination")) == "first destination net:new.example"
    assert phrase(m, f, FEATURES.index("resource")) == "first resource area file:///elsewhere"
    assert phrase(m, f, FEATURES.index("server")) == "first call to server mail"
    assert feature_key(f, FEATURES.index("resource")) == "file:///repo/src"
    fresh = AgentBaseline()
    f = fresh.observe(c, c.ts.timestamp())
    assert (
        phrase(fresh, f, FEATURES.index("task_length")) == "1 calls into one task (its longest: 0)"
    )
    f = fresh.observe(tb.call(0, "a", "s", "t"), 0.0)
    assert phrase(fresh, f, FEATURES.index("destination")) == "no destination"
    assert feature_key(f, FEATURES.index("destination")) == ""
    assert feature_key(f, FEATURES.index("resource")) == ""


def test_human_bytes_units_and_edges() -> None:
    got = [human_bytes(n) for n in (0, 999.4, 1000, 999_999, 1e6, 2.5e9, 1e12)]
    assert got == ["0 B", "999 B", "1.0 KB", "1000.0 KB", "1.0 MB", "2.5 GB", "1000.0 GB"]


def test_top_features_keep_at_most_k_positive_ones_largest_first() -> None:
    assert top_features([1.0, 4.0, 3.0, 2.0, 5.0]) == [4, 1, 2]
    assert top_features([1.0, 4.0, 3.0, 2.0, 5.0], k=4) == [4, 1, 2, 3]
    assert top_features([0.0, -1.0, 0.5]) == [2]


def test_peaks_are_read_from_the_whole_table_and_only_from_it() -> None:
    from monitor.core.baseline.counts import OFFSET, T_RATE, T_STREAK, T_TASK

    m = AgentBaseline()
    f = m.observe(tb.call(0, "a", "s", "t"), 0.0)
    # an agent that made 64+ calls in a minute once: its peak is the top bucket's 64
    m.counts[OFFSET[T_RATE] + 15] = 1
    assert phrase(m, f, FEATURES.index("rate")).endswith("(its busiest tasks: 64)")
    # long error streaks learned, no task yet: the streak table is not the task table
    m.counts[OFFSET[T_STREAK] + 7] = 3
    assert OFFSET[T_STREAK] + 8 == OFFSET[T_TASK]
    assert phrase(m, f, FEATURES.index("task_length")).endswith("(its longest: 0)")


def test_the_least_known_resource_is_named_not_the_first_in_order() -> None:
    m = _trained()
    known = "file:///repo/src"  # learned by the routine
    c = tb.call(
        3_020, "agent:routine/1", "fs", "read", resources=["file:///zz/new/x", known + "/y"]
    )
    f = m.observe(c, c.ts.timestamp())
    assert f.resources == ["file:///zz/new", known]
    assert phrase(m, f, FEATURES.index("resource")) == "first resource area file:///zz/new"


def test_usual_volume_is_read_from_the_tools_own_slot() -> None:
    from math import log1p

    from monitor.core.baseline.features import h32
    from monitor.core.baseline.model import R_OUT_MEAN, TOOL_SLOTS

    tool = next(f"t{i}" for i in range(100) if h32(f"s/t{i}") & 1)  # an odd slot
    m = AgentBaseline()
    f = m.observe(tb.call(0, "a", "s", tool, bytes_out=999), 0.0)
    vs = f.tool & (TOOL_SLOTS - 1)
    m.reals[R_OUT_MEAN + vs] = log1p(2_000)
    m.reals[R_OUT_MEAN + (vs & ~1)] = log1p(50)
    assert phrase(m, f, FEATURES.index("bytes_out")) == (
        f"999 B returned by s/{tool} (usually about 2.0 KB)"
    )
