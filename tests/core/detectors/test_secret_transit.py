"""secret_in_transit: a secret of a known family in a call's arguments, never quoted."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.core import Decision, Engine, EngineSettings
from monitor.core.detectors.secret_transit import MAX_STRINGS, find_secrets, secret_families
from monitor.core.redact import RedactionRules
from monitor.testing import call, charter, feed

from ..secret_corpus import FAMILIES, SLACK_WEBHOOKS

DETECTOR = "secret_in_transit"
AGENT = "agent:auto-1"
TOOLS = [{"server": "llm", "tool": "complete", "classes": []}]
SAMPLES = [(family, s) for family, samples in FAMILIES.items() for s in samples]


def engine(**settings: Any) -> Engine:
    return Engine([charter("agent:*", tools=TOOLS)], EngineSettings(**settings))


def found(d: Decision) -> list[Any]:
    return [a for a in d.alerts if a.detector == DETECTOR]


def prompt(args: dict[str, Any], event_id: str | None = None) -> Any:
    return call(10, AGENT, "llm", "complete", args=args, credential_id="c1", event_id=event_id)


def ngrams(secret: str, n: int = 8) -> set[str]:
    return {secret[i : i + n] for i in range(len(secret) - n + 1)}


def assert_never_leaks(secret: str, out: bytes) -> None:
    body = "".join(line for line in secret.splitlines() if not line.startswith("-----"))
    text = out.decode()
    leaked = sorted(g for g in ngrams(body) if g in text)
    assert not leaked, f"alert quotes part of the secret: {leaked[:3]}"


@pytest.mark.parametrize(("family", "secret"), SAMPLES, ids=[f for f, _ in SAMPLES])
def test_every_family_in_a_prompt_fires_and_the_alert_holds_no_part_of_it(
    family: str, secret: str
) -> None:
    eng = engine()
    d = eng.process(prompt({"prompt": f"please use this key: {secret} thanks"}, "e-secret"))
    [a] = found(d)
    assert a.severity == "high" and a.evidence == ["e-secret"]
    assert family in a.reason and "args.prompt" in a.reason
    assert a.details["families"] == family
    assert_never_leaks(secret, a.to_json())
    assert d.revocations == []  # the leaked secret is not the agent's credential


@pytest.mark.parametrize(("family", "secret"), SAMPLES[::4], ids=[f for f, _ in SAMPLES[::4]])
def test_no_leak_even_with_redaction_switched_off(family: str, secret: str) -> None:
    """The finding never carries the value: the redactor is a second line, not the first."""
    eng = engine(redaction=RedactionRules(secrets=False))
    d = eng.process(prompt({"config": {"nested": [{"k": secret}]}}))
    [a] = found(d)
    assert "args.config.nested[0].k" in a.reason
    assert_never_leaks(secret, a.to_json())


def test_a_secret_as_an_argument_name_is_not_quoted_as_its_path() -> None:
    secret = FAMILIES["github-token"][0]
    eng = engine(redaction=RedactionRules(secrets=False))
    [a] = found(eng.process(prompt({secret: {"x": FAMILIES["jwt"][0]}})))
    assert_never_leaks(secret, a.to_json())
    assert_never_leaks(FAMILIES["jwt"][0], a.to_json())


def test_private_key_passed_to_a_tool() -> None:
    pem = FAMILIES["private-key"][0]
    eng = engine()
    [a] = found(eng.process(prompt({"files": [{"name": "id_rsa", "content": pem}]})))
    assert "private-key" in a.reason
    assert_never_leaks(pem, a.to_json())


def test_bearer_header_in_arguments() -> None:
    assert secret_families("Authorization: Bearer abc.DEF-123_456") == ["authorization"]


@pytest.mark.parametrize(
    "text",
    [
        "we use basic authentication here",
        "the bearer of this letter",
        "sk-not-a-key",
        "password=hunter2",  # a named parameter is a tool's business, not a token family
        "eyJ",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqh\n-----END PUBLIC KEY-----",
        "ghp_short",
        "cred-123 spiffe://corp.example/ns/prod/sa/agent /repo/.env",
    ],
)
def test_near_miss_lookalikes_do_not_fire(text: str) -> None:
    assert secret_families(text) == []
    assert found(engine().process(prompt({"prompt": text}))) == []


def test_near_miss_posting_to_a_slack_webhook_is_its_use_not_a_leak() -> None:
    args = {"url": SLACK_WEBHOOKS[0], "body": "build green"}
    assert found(engine().process(call(10, AGENT, "web", "http_post", args=args))) == []


def test_near_miss_no_args_and_credential_ids_are_not_arguments() -> None:
    eng = engine()
    jwt = FAMILIES["jwt"][0]
    d = eng.process(call(10, AGENT, "llm", "complete", credential_id=jwt))
    assert found(d) == []


def test_repeated_pasting_is_one_alert_per_dedup_window() -> None:
    eng = engine()
    secret = FAMILIES["stripe-key"][0]
    d = feed(eng, *[prompt({"prompt": secret}) for _ in range(5)])
    assert len(found(d)) == 1


def test_scan_is_bounded() -> None:
    secret = FAMILIES["github-token"][0]
    args = {f"a{i}": "plain" for i in range(MAX_STRINGS)}
    args["z"] = secret  # beyond the bound
    assert find_secrets(args) == []
    assert find_secrets({"z": secret, **args}) == [("github-token", "args.z")]


def test_scan_stops_after_max_chars() -> None:
    from monitor.core.detectors.secret_transit import MAX_CHARS

    secret = FAMILIES["github-token"][0]
    assert find_secrets({"a": "x" * MAX_CHARS + " " + secret}) == []
    assert find_secrets({"a": "x" * (MAX_CHARS - 20) + " " + secret}) == []  # cut: no match
    assert find_secrets({"a": "x" * (MAX_CHARS - 200) + " " + secret}) == [
        ("github-token", "args.a")
    ]
