"""monitor.core.values: the digests the proxy, the tap and the core must agree on."""

from __future__ import annotations

import doctest
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import monitor.core.values as values
from monitor.core.values import MAX_DIGESTS, result_digests, value_digest, value_digests, values_in


def test_doctests() -> None:
    assert doctest.testmod(values).failed == 0


def test_entity_values_found_and_plain_words_not() -> None:
    text = (
        "Please grant access to guest_amy01; wire to GB29 NWBK 6016 1331 9268 19, "
        "mail bob.smith@gmail.com, see https://x.example/a?b=1 or 10.0.0.1, acct 123456789"
    )
    got = values_in({"review": text, "n": 1234567, "flag": True})
    assert got == [
        "guest_amy01",
        "GB29 NWBK 6016 1331 9268 19",
        "bob.smith@gmail.com",
        "https://x.example/a?b=1",
        "10.0.0.1",
        "123456789",
        "1234567",
    ]
    assert values_in("Please grant permanent access to my friend") == []
    assert values_in("call 12345") == []  # five digits: a quantity, not an account


def test_normalisation_makes_the_same_value_the_same_digest() -> None:
    assert value_digest(" Bob.Smith@Gmail.com ") == value_digest("bob.smith@gmail.com")
    assert value_digest("GB29 NWBK 6016 1331 9268 19") == value_digest("GB29NWBK60161331926819")
    assert value_digest("0532 0130 00") == value_digest("0532013000")
    assert value_digest("https://x.example/") == value_digest("https://x.example")
    assert value_digest("bob@a.example") != value_digest("bob@b.example")


def test_secrets_are_never_digested() -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    assert token not in values_in(f"use {token} for the repo")
    assert value_digest(token) not in value_digests({"body": f"token={token}"})


@given(st.recursive(st.text(max_size=200), lambda c: st.lists(c, max_size=5), max_leaves=30))
def test_any_input_gives_bounded_well_formed_digests(obj: object) -> None:
    got = value_digests(obj)
    assert len(got) <= MAX_DIGESTS and len(set(got)) == len(got)
    assert all(len(d) == 16 and int(d, 16) >= 0 for d in got)


def test_huge_result_is_bounded() -> None:
    text = " ".join(f"user{i}@corp.example" for i in range(100_000))
    assert len(value_digests(text)) == MAX_DIGESTS


def test_deep_nesting_is_walked_not_recursed() -> None:
    obj: object = "eve@evil.example"
    for _ in range(50_000):
        obj = [obj]
    assert value_digests(obj) == [value_digest("eve@evil.example")]


def test_result_digests_skip_metadata_and_base64_payloads() -> None:

    dumped = {
        "content": [
            {"type": "text", "text": "pay DE89370400440532013000"},
            {
                "type": "image",
                "data": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkw",
                "mimeType": "x",
            },
        ],
        "_meta": {"trace": "ops@corp.example"},
    }
    assert result_digests(dumped) == [value_digest("DE89370400440532013000")]
    deep: Any = "eve@x.example"
    for _ in range(100):
        deep = {"a": [deep]}
    assert result_digests({"content": deep}) == []  # deeper than 32 levels: dropped, no crash


def test_result_digests_of_logged_json_text_and_plain_text() -> None:
    """Tap presets see results as the JSON text a log wrote, or as plain text."""

    doc = '{"content":[{"type":"text","text":"wire to DE89370400440532013000"}]}'
    assert result_digests(doc) == [value_digest("DE89370400440532013000")]
    assert result_digests(doc.encode()) == result_digests(doc)
    assert result_digests("{broken json eve@x.example") == [value_digest("eve@x.example")]
    assert result_digests(None) == [] and result_digests(12) == []
