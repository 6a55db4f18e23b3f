"""Every feature that can drive a score has words for it."""

from __future__ import annotations

from monitor.core.baseline.explain import feature_key, human_bytes, phrase, top_features
from monitor.core.baseline.features import FEATURES

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
