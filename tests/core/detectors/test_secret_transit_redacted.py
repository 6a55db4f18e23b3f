"""secret_in_transit on what a gateway emits: arguments redacted there, secrets in results.

The proxy redacts arguments before its event leaves it, so the secret reaches the
core only as the redactor's mark of its family (``[REDACTED:aws-key]``); and a
result is never on the event, only the families of the secrets in it
(``result_secrets``). Both raise the alert; neither lets the secret out.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from monitor.core import Engine
from monitor.core.detectors.secret_transit import FAMILIES as DETECTED
from monitor.core.detectors.secret_transit import (
    MAX_RESULT_FAMILIES,
    NOT_IN_TRANSIT,
    find_secrets,
    result_secrets,
)
from monitor.core.redact import DEFAULT_REDACTOR
from monitor.events import ToolCall, decode_event
from monitor.proxy.redaction import redact_args
from monitor.testing import call, charter

from ..secret_corpus import FAMILIES

AGENT = "agent:auto-1"
TOOLS = [{"server": "fleet", "tool": "read_file", "classes": []}]
SAMPLES = [
    (family, s)
    for family, samples in FAMILIES.items()
    if family not in NOT_IN_TRANSIT
    for s in samples[:2]
]


def engine() -> Engine:
    return Engine([charter("agent:*", tools=TOOLS)])


def read(**kw: Any) -> ToolCall:
    return call(10, AGENT, "fleet", "read_file", credential_id="c1", event_id="e1", **kw)


def alerts(c: ToolCall) -> list[Any]:
    return [a for a in engine().process(c).alerts if a.detector == "secret_in_transit"]


@pytest.mark.parametrize(("family", "secret"), SAMPLES, ids=[f for f, _ in SAMPLES])
def test_arguments_redacted_by_the_gateway_still_name_the_family(family: str, secret: str) -> None:
    redacted = redact_args(DEFAULT_REDACTOR, {"prompt": f"use {secret} now"})
    assert secret not in str(redacted)
    assert find_secrets(redacted) == [(family, "args.prompt")]


def test_a_redacted_argument_raises_the_alert_without_the_secret() -> None:
    secret = FAMILIES["aws-key"][0]
    [a] = alerts(read(args=redact_args(DEFAULT_REDACTOR, {"path": f"/srv/{secret}"})))
    assert a.details == {"families": "aws-key", "arguments": "args.path"}
    assert a.severity == "high" and a.evidence == ["e1"]
    assert secret not in a.to_json().decode()


@pytest.mark.parametrize(
    "mark", ["[REDACTED:key-value]", "[REDACTED:email]", "[REDACTED:custom-1]",
             "hooks.slack.com/[REDACTED:slack-webhook]", "[REDACTED:too-deep]",
             "[REDACTED:aws-key", "REDACTED:aws-key]", "[redacted:aws-key]"],
)  # fmt: skip
def test_marks_that_are_not_a_token_family_are_not_a_secret(mark: str) -> None:
    assert find_secrets({"a": f"password {mark} here"}) == []
    assert alerts(read(args={"a": mark})) == []


def test_every_family_the_detector_names_is_a_redactor_rule_or_authorization() -> None:
    from monitor.core.secret_rules import TOKEN_RULES

    assert {r.name for r in TOKEN_RULES} - NOT_IN_TRANSIT | {"authorization"} == DETECTED


# ---------------------------------------------------------------- in a call's result


def test_result_secrets_names_the_families_of_a_result_sorted_never_the_secrets() -> None:
    gh, aws = FAMILIES["github-token"][0], FAMILIES["aws-key"][0]
    result = {
        "content": [{"type": "text", "text": f"GITHUB_TOKEN={gh}\nAWS={aws}"}],
        "structuredContent": {"k": aws},
    }
    assert result_secrets(result) == ["aws-key", "github-token"]
    assert result_secrets(f'{{"content": [{{"type": "text", "text": "{aws}"}}]}}') == ["aws-key"]
    assert result_secrets(f"plain text log of a result: {gh}".encode()) == ["github-token"]
    assert result_secrets({"content": [{"type": "text", "text": "contents of /srv/app.py"}]}) == []
    assert result_secrets(None) == []


def test_metadata_and_base64_payloads_of_a_result_are_not_scanned() -> None:
    aws = FAMILIES["aws-key"][0]
    assert result_secrets({"_meta": {"k": aws}, "content": [{"type": "image", "data": aws}]}) == []


def test_at_most_eight_families_of_a_result_are_named() -> None:
    text = " ".join(samples[0] for f, samples in FAMILIES.items() if f not in NOT_IN_TRANSIT)
    found = result_secrets(text)
    assert len(found) == MAX_RESULT_FAMILIES == 8 and found == sorted(found)


def test_a_result_holding_a_secret_raises_the_alert_in_its_result() -> None:
    [a] = alerts(read(args={"path": "/srv/.env"}, result_secrets=["aws-key", "jwt"]))
    assert a.reason == (
        f"{AGENT} received a secret (aws-key, jwt) from fleet/read_file in its result: "
        "the agent's context and transcript now hold it; rotate it"
    )
    assert a.details == {"families": "aws-key,jwt", "in": "result"}
    assert a.severity == "high" and a.evidence == ["e1"] and a.clause.key == "secret_in_transit"


def test_a_secret_in_the_arguments_and_another_in_the_result_are_two_alerts() -> None:
    gh = FAMILIES["github-token"][0]
    found = alerts(read(args={"path": gh}, result_secrets=["private-key"]))
    assert sorted(a.details["families"] for a in found) == ["github-token", "private-key"]
    assert alerts(read(args={"path": "/srv/app.py"})) == []  # near miss: nothing anywhere


def test_result_secrets_on_the_wire_is_bounded_and_names_only() -> None:
    base = {"type": "tool_call", "event_id": "e", "ts": "2026-01-01T00:00:00Z",
            "agent_id": AGENT, "server": "fleet", "tool": "read_file"}  # fmt: skip
    ok = decode_event(orjson.dumps({**base, "result_secrets": ["aws-key"]}))
    assert isinstance(ok, ToolCall) and ok.result_secrets == ["aws-key"]
    with pytest.raises(ValidationError):
        ToolCall.model_validate({**base, "result_secrets": ["aws-key"] * 9})
    with pytest.raises(ValidationError):
        ToolCall.model_validate({**base, "result_secrets": [FAMILIES["aws-key"][0]]})
