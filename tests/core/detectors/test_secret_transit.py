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


# ---------------------------------------------------------------- what the finding says, and where


def test_the_finding_names_families_and_arguments_sorted_never_the_values() -> None:
    gh, jwt = FAMILIES["github-token"][0], FAMILIES["jwt"][0]
    c = call(
        10,
        AGENT,
        "llm",
        "complete",
        args={"r": {"s": jwt}, "q": jwt, "p": gh},
        task_id="T1",
        session_id="s1",
        credential_id="c1",
        event_id="e1",
    )
    d = engine().process(c)
    [a] = found(d)
    assert a.reason == (
        f"{AGENT} passed a secret (github-token, jwt) to llm/complete in args.p, args.q, "
        "args.r.s: the tool and its logs now hold it; rotate it"
    )
    assert a.clause.key == "secret_in_transit"
    assert a.clause.text == (
        "credentials travel as credentials (issued to the caller), never inside a call's arguments"
    )
    assert a.severity == "high"
    assert a.details == {"families": "github-token,jwt", "arguments": "args.p,args.q,args.r.s"}
    assert (a.task_id, a.session_id, a.evidence) == ("T1", "s1", ["e1"])
    assert [r for r in d.revocations if a.alert_id in r.alert_ids] == []  # rotate, not revoke


def test_at_most_eight_arguments_are_named() -> None:
    gh = FAMILIES["github-token"][0]
    [a] = found(engine().process(prompt({f"a{i}": gh for i in range(10)})))
    assert a.details["arguments"] == ",".join(sorted(f"args.a{i}" for i in range(10))[:8])


def test_another_tool_or_another_family_is_another_alert() -> None:
    gh, jwt = FAMILIES["github-token"][0], FAMILIES["jwt"][0]
    eng = engine()
    assert len(found(eng.process(prompt({"p": gh})))) == 1
    assert len(found(eng.process(prompt({"p": jwt})))) == 1
    other = call(11, AGENT, "web", "http_post", args={"body": gh}, credential_id="c1")
    assert len(found(eng.process(other))) == 1


def test_each_family_and_argument_pair_is_listed_once_in_order() -> None:
    gh = FAMILIES["github-token"][0]
    assert find_secrets({"a": f"{gh} {gh}", "b": [gh]}) == [
        ("github-token", "args.a"),
        ("github-token", "args.b[0]"),
    ]


def test_the_shortest_secret_is_found_and_shorter_text_is_skipped() -> None:
    assert find_secrets({"u": "a://:pw@h"}) == [("url-password", "args.u")]  # 9 characters
    assert secret_families("a://:pw@h") == ["url-password"]
    assert secret_families("a://:p@h") == []


def test_nesting_is_followed_eight_levels_deep_and_no_deeper() -> None:
    from monitor.core.detectors.secret_transit import MAX_DEPTH

    gh = FAMILIES["github-token"][0]
    v: Any = gh
    for _ in range(MAX_DEPTH - 1):
        v = [v]
    assert find_secrets({"a": v}) == [("github-token", "args.a" + "[0]" * (MAX_DEPTH - 1))]
    assert find_secrets({"a": [v]}) == []
    assert find_secrets({"a": {"b": {"c": gh}}}) == [("github-token", "args.a.b.c")]


def test_argument_names_are_quoted_up_to_64_characters_unless_they_hold_a_secret() -> None:
    gh = FAMILIES["github-token"][0]
    assert find_secrets({"k" * 64: gh, "q" * 65: gh}) == [
        ("github-token", "args." + "k" * 64),
        ("github-token", "args.…"),
    ]
    assert find_secrets({gh: "x"}) == [("github-token", "args")]  # the name itself, at its parent
    assert find_secrets({gh: {"a": "plain"}, "short": {"z": "plain"}}) == [("github-token", "args")]


def test_authorization_values_are_found_without_any_token_family_hint() -> None:
    assert find_secrets({"h": "Authorization: Bearer abc.DEF-123_456"}) == [
        ("authorization", "args.h")
    ]
    assert find_secrets({"h": "Authorization: BASIC dXNlcjpwYXNzd29yZA=="}) == [
        ("authorization", "args.h")
    ]
    assert find_secrets({"h": "plain text, long enough", "i": "more plain text"}) == []


def test_a_nine_character_argument_name_holding_a_secret_is_not_quoted() -> None:
    gh = FAMILIES["github-token"][0]
    assert find_secrets({"a://:pw@h": {"v": gh}}) == [
        ("url-password", "args"),
        ("github-token", "args.….v"),
    ]


def test_the_string_bound_is_exact() -> None:
    gh = FAMILIES["github-token"][0]
    # the name "l" is string 0, its items 1, 2, ...: the secret as string MAX_STRINGS - 1 is read
    assert find_secrets({"l": ["plain"] * (MAX_STRINGS - 2) + [gh]}) == [
        ("github-token", f"args.l[{MAX_STRINGS - 2}]")
    ]
    assert find_secrets({"l": ["plain"] * (MAX_STRINGS - 1) + [gh]}) == []


def test_the_character_budget_is_shared_by_all_strings_of_a_call() -> None:
    from monitor.core.detectors.secret_transit import MAX_CHARS

    gh = FAMILIES["github-token"][0]
    assert find_secrets({"a": "x" * (MAX_CHARS - 10), "b": gh}) == []  # 10 characters left
    assert find_secrets({"a": "x" * (MAX_CHARS - 100), "b": gh}) == [("github-token", "args.b")]


def test_a_basic_authorization_value_is_found_without_any_other_hint() -> None:
    assert find_secrets({"h": "auth Basic dXNlcjpwYXNzd29yZA"}) == [("authorization", "args.h")]
