"""Canonical identifiers: every re-spelling of an identity is folded or refused, never new."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.errors import DecodeError
from monitor.identity import canonical_id

AGENT = "spiffe://corp/agents/A"


@pytest.mark.parametrize(
    "spelling",
    ["SPIFFE://corp/agents/A", "spiffe://CORP/agents/A", "Spiffe://Corp/agents/A"],
)
def test_scheme_and_trust_domain_fold_to_lowercase(spelling: str) -> None:
    assert canonical_id(spelling) == AGENT


@pytest.mark.parametrize(
    ("spelling", "why"),
    [
        ("spiffe://corp//agents/A", "empty path segment"),
        ("spiffe://corp/agents/A/", "ends with '/'"),
        ("spiffe://corp/agents/%41", "percent-encoded"),
        ("spiffe://corp/agents/./A", "'.' path segment"),
        ("spiffe://corp/agents/../agents/A", "'..' path segment"),
        (" spiffe://corp/agents/A", "white space"),
        ("spiffe://corp/agents/A ", "white space"),
        ("spiffe://corp/agents/\u200bA", "invisible character U+200B"),
        ("spiffe://corp/agents/\uff21", "NFKC"),
        ("spiffe://corp/agents/A\x00", "control character U+0000"),
        ("spiffe://corp:443/agents/A", "trust domain"),
        ("spiffe://user@corp/agents/A", "trust domain"),
        ("spiffe://corp/agents/A?x=1", "path segment"),
        ("spiffe://corp/agents/A#f", "path segment"),
        ("spiffe:///agents/A", "no trust domain"),
        ("", "empty"),
    ],
)
def test_respellings_are_bad_input_not_a_new_identity(spelling: str, why: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(why)) as err:
        canonical_id(spelling)
    assert err.value.field == "agent_id"


def test_paths_and_other_identifiers_stay_case_sensitive() -> None:
    assert canonical_id("spiffe://corp/Agents/a") == "spiffe://corp/Agents/a"
    assert canonical_id("JTI-abc", "credential_id") == "JTI-abc"
    assert canonical_id("alice@corp.example", "sponsor") == "alice@corp.example"


@pytest.mark.parametrize("value", ["jti\u200d7", "jti\ufeff", "t\u00ad1", "ﬁle", "cred\x7f"])
def test_invisible_control_and_compatibility_characters_refused_in_any_identifier(
    value: str,
) -> None:
    with pytest.raises(DecodeError) as err:
        canonical_id(value, "credential_id")
    assert err.value.field == "credential_id"


@given(st.text(min_size=1, max_size=40))
def test_canonical_form_is_a_fixed_point(value: str) -> None:
    try:
        once = canonical_id(value)
    except DecodeError:
        return
    assert canonical_id(once) == once
    # two spellings that fold together differ only in the scheme / trust domain case
    assert once.lower() == value.lower()
