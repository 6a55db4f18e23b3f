"""Arguments redacted before a call's event leaves the proxy (``redact_args``).

A secret must not reach an event at any depth or in any container: in a list,
in a dict in a list, in a key; a structure nested deeper than the walk goes is
replaced as a whole (never emitted unread), at exactly the documented depth;
and two keys the redactor turns into the same text both survive, neither
overwriting the other's (redacted) value.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from monitor.core.redact import DEFAULT_REDACTION, Redactor
from monitor.proxy.redaction import redact_args
from tests.core.secret_corpus import FAMILIES
from tests.proxy.support import proxied

AWS = FAMILIES["aws-key"][0]
GH, GH2 = FAMILIES["github-token"][:2]
R = Redactor(DEFAULT_REDACTION)
TOO_DEEP = "[REDACTED:too-deep]"


def nested(levels: int, leaf: Any) -> dict[str, Any]:
    """``{"k": {"k": ... leaf}}``: ``levels`` dicts, the outermost being the arguments."""
    out: Any = leaf
    for _ in range(levels):
        out = {"k": out}
    return out


def test_secrets_in_lists_and_in_dicts_inside_lists_are_redacted_other_values_kept() -> None:
    args = {"cmds": [f"export T={GH}", {"key": AWS, "n": 3}, 7, None, True], "t": (GH, 1.5)}
    assert redact_args(R, args) == {
        "cmds": ["export T=[REDACTED:github-token]", {"key": "[REDACTED:aws-key]", "n": 3}, 7,
                 None, True],
        "t": ["[REDACTED:github-token]", 1.5],
    }  # fmt: skip
    assert args["cmds"][0] == f"export T={GH}"  # the input is not changed


def test_a_structure_deeper_than_64_levels_is_replaced_at_exactly_level_64() -> None:
    # the arguments are level 0; a string is redacted and a number, boolean or null kept at
    # any level; a container at level 64 or deeper is not walked: replaced whole
    assert redact_args(R, nested(63, {"x": AWS})) == nested(63, {"x": "[REDACTED:aws-key]"})
    assert redact_args(R, nested(64, {"x": AWS})) == nested(64, TOO_DEEP)
    assert redact_args(R, nested(64, [5])) == nested(64, TOO_DEEP)
    assert redact_args(R, nested(64, GH)) == nested(64, "[REDACTED:github-token]")
    assert redact_args(R, nested(64, 5)) == nested(64, 5)  # a number at level 64: kept
    assert redact_args(R, nested(63, {"x": GH, "n": 1, "b": None})) == nested(
        63, {"x": "[REDACTED:github-token]", "n": 1, "b": None}
    )
    # a list is a level like a dict
    assert redact_args(R, {"k": lists(62, [5])}) == {"k": lists(62, [5])}
    assert redact_args(R, {"k": lists(63, [5])}) == {"k": lists(63, TOO_DEEP)}


def lists(levels: int, leaf: Any) -> Any:
    out: Any = leaf
    for _ in range(levels):
        out = [out]
    return out


def test_a_secret_nested_far_too_deep_never_leaves() -> None:
    out = redact_args(R, nested(200, {"token": AWS}))
    assert AWS not in repr(out) and out == nested(64, TOO_DEEP)


def test_two_keys_redacted_to_the_same_text_are_both_kept_primed() -> None:
    out = redact_args(R, {GH: "first", GH2: "second", "plain": GH})
    assert out == {
        "[REDACTED:github-token]": "first",
        "[REDACTED:github-token]'": "second",
        "plain": "[REDACTED:github-token]",
    }


def test_a_list_argument_holding_secrets_reaches_the_event_redacted(tmp_path: Path) -> None:
    """Through the proxy's emit path (redaction on by default): no secret in the event."""

    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None) as p:
            await p.client.call_tool(
                "read_file", {"path": "/srv/app.py", "env": [f"GH={GH}", {"aws": [AWS]}]}
            )
            return p

    p = asyncio.run(asyncio.wait_for(go(), 60))
    assert GH not in p.events_path.read_text() and AWS not in p.events_path.read_text()
    [event] = p.events()
    assert event["args"]["env"] == ["GH=[REDACTED:github-token]", {"aws": ["[REDACTED:aws-key]"]}]
