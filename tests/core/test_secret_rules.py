"""monitor.core.secret_rules: which assignment names say secret, which Basic values look like one.

Checked through the default redactor where that is what a user sees (the text of an alert).
"""

from __future__ import annotations

import pytest

from monitor.core.redact import DEFAULT_REDACTOR
from monitor.core.secret_rules import secret_name, token_like


@pytest.mark.parametrize("name", ["", "_", "__", "-.-", "..."])
def test_a_name_of_separators_only_names_no_secret(name: str) -> None:
    assert secret_name(name) is False


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("PWD", False),  # the shell's working directory
        ("OLDPWD", False),
        ("pwd", True),  # lower case: a password field, not the shell's variable
        ("MYSQL_PWD", True),
        ("aws_access_key", True),  # an infix across segments: access + key
        ("db.private-key", True),
        ("clientKey", True),
        ("access", False),
        ("key", False),
        ("http_auth", True),  # a secret last part
        ("auth_mode", False),  # ...unless the last part says it is about the secret
        ("max_token", False),  # ...or the first part counts it
        ("signature", True),
        ("author", False),
    ],
)
def test_which_names_say_secret(name: str, secret: bool) -> None:
    assert secret_name(name) is secret


def test_pwd_in_an_environment_dump_stays_readable_a_lowercase_pwd_goes() -> None:
    assert DEFAULT_REDACTOR("PWD=/home/ci OLDPWD=/tmp") == "PWD=/home/ci OLDPWD=/tmp"
    assert "hunter2" not in DEFAULT_REDACTOR("pwd=hunter2")


@pytest.mark.parametrize(
    ("value", "like"),
    [
        ("authentication", False),  # prose
        ("Authentication", False),  # a capital first letter is still prose
        ("Xylophones", False),
        ("aBcdefghij", True),  # a capital after the first letter
        ("abcdefghiJ", True),
        ("abcd1efgh", True),  # a digit
        ("abcd.efgh", True),  # a symbol of base64/token alphabets
        ("abcd_efgh", True),
        ("abcd~efgh", True),
        ("abcd+efgh", True),
        ("abcd/efgh", True),
        ("abcdefgh=", True),
        ("abcd-efgh", True),
    ],
)
def test_a_basic_value_is_a_credential_only_when_it_looks_like_one(value: str, like: bool) -> None:
    assert token_like(value) is like
    redacted = DEFAULT_REDACTOR(f"log: sent Basic {value} to the proxy")
    assert (value not in redacted) is like
