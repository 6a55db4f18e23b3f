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


# --- what mutation testing showed untested (mut4) ---


def test_a_digest_is_blake2b_with_the_shared_personalisation() -> None:
    """The proxy, the tap and the core compute digests apart (and events keep them): the
    digest of a value is a fixed function, not whatever this version happens to compute."""
    from hashlib import blake2b

    want = blake2b(b"eve@evil.example", digest_size=8, person=b"mcpmon-value-v1").hexdigest()
    assert value_digest("eve@evil.example") == want == "fb836f994e611b10"


def test_a_trailing_dot_is_not_part_of_the_value() -> None:
    assert value_digest("x.example.") == value_digest("x.example")
    assert value_digest("https://x.example/a.") == value_digest("https://x.example/a")


def test_only_numbers_and_ibans_lose_their_spaces_and_dashes() -> None:
    assert value_digest("0532-0130-00") == value_digest("0532013000")
    assert value_digest("0532 0130-00") == value_digest("0532013000")
    # any other value keeps them: these are different addresses and names
    assert value_digest("first-last@x.example") != value_digest("firstlast@x.example")
    assert value_digest("abc1 x") != value_digest("abc1x")  # not an IBAN: 3 letters
    assert value_digest("ab1c d") != value_digest("ab1cd")  # not an IBAN: 1 digit
    assert value_digest("abcd e") != value_digest("abcde")


def _nested(depth: int) -> Any:
    """A result whose one value sits ``depth`` levels below the top (dicts and lists alike)."""
    obj: Any = "eve@x.example"
    for i in range(depth):
        obj = {"k": obj} if i % 2 else [obj]
    return obj


def test_a_result_is_read_32_levels_deep_and_no_deeper() -> None:
    assert result_digests(_nested(32)) == [value_digest("eve@x.example")]
    assert result_digests(_nested(33)) == []


def test_logged_json_is_parsed_so_its_metadata_is_skipped() -> None:
    """A log line's JSON result is read as a result: ``_meta`` and payloads stay out of it.
    Read as plain text it would carry the metadata's values too."""
    want = [value_digest("eve@x.example")]
    obj = '{"content":[{"type":"text","text":"mail eve@x.example"}],"_meta":{"by":"ops@corp.example"}}'
    arr = '[{"type":"text","text":"mail eve@x.example"},{"data":"ops@corp.example"}]'
    assert result_digests(obj) == want
    assert result_digests(arr) == want
    assert result_digests(obj.encode()) == want
    assert result_digests(arr.encode()) == want


def test_bytes_that_are_not_json_or_not_utf8_are_read_as_text() -> None:
    want = [value_digest("eve@x.example")]
    assert result_digests(b"mail eve@x.example") == want
    assert result_digests(b"mail \xff\xfe eve@x.example") == want  # a broken byte: replaced
    assert result_digests(b"{broken \xff json eve@x.example") == want
    assert result_digests(b"{broken json eve@x.example") == want


def test_four_characters_with_a_mark_are_a_value_three_are_not() -> None:
    assert values_in("ref a_12 and x_1") == ["a_12"]


def test_five_digits_are_a_quantity_however_they_are_grouped() -> None:
    assert values_in("call 12 345") == []
    assert values_in("call 12-345") == []
    assert values_in("call 12 3456") == ["12 3456"]  # six digits: an account number


def test_the_scan_budget_is_shared_by_every_string_and_number_in_order() -> None:
    from monitor.core.values import MAX_SCAN

    mail = "eve@x.example"  # 13 characters
    assert values_in([" " * (MAX_SCAN - 13), mail]) == [mail]  # fits exactly
    assert values_in([" " * (MAX_SCAN - 5), mail]) == []  # cut to "eve@x": no value
    assert values_in([" " * MAX_SCAN, 12345678]) == []  # nothing left for the number
    assert values_in([" " * (MAX_SCAN - 1), 12345678]) == ["12345678"]  # a number is read whole
    assert values_in([12345678, mail]) == ["12345678", mail]  # a number spends only its length
    assert values_in([12345678, " " * (MAX_SCAN - 8), mail]) == ["12345678"]


def test_a_number_of_six_digits_is_a_value_five_is_not() -> None:
    assert values_in({"a": 123456, "b": 12345, "c": True}) == ["123456"]


def test_trailing_punctuation_is_not_part_of_a_value_but_its_last_letter_is() -> None:
    text = "see https://x.example/a?b=1, or guest_amy01. or REF_99X! or acct 12345678;"
    assert values_in(text) == ["https://x.example/a?b=1", "guest_amy01", "REF_99X", "12345678"]
