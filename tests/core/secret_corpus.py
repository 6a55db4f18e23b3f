"""A corpus of real-looking fake secrets, several per family, and the forms they travel in.

Every secret is generated here from a fixed seed: the right prefix, length and
alphabet of its family (as gitleaks and detect-secrets describe them), random
content. None is real. ``FAMILIES`` maps the family name the redactor shows
(``[REDACTED:<family>]``) to its samples; ``TOKEN_FORMS`` are neutral contexts
(no secret-sounding name nearby), so only the family's own rule can take the
secret out; ``ASSIGNMENT_NAMES`` x ``ASSIGNMENT_FORMS`` are the key-value
spellings, where the name is what says "secret".
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from urllib.parse import quote

_R = random.Random(20260301)
ALNUM = string.ascii_letters + string.digits
UPPER32 = string.ascii_uppercase + "234567"
B64URL = ALNUM + "_-"
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"


def _s(alphabet: str, n: int) -> str:
    return "".join(_R.choice(alphabet) for _ in range(n))


def _digits(n: int) -> str:
    return str(_R.randrange(10 ** (n - 1), 10**n))


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwt() -> str:
    header = _b64u(json.dumps({"alg": "RS256", "typ": "JWT", "kid": _s(HEX, 8)}).encode())
    claims = {"sub": f"user-{_digits(6)}", "iat": 1767225600, "scope": "repo read:org"}
    return f"{header}.{_b64u(json.dumps(claims).encode())}.{_s(B64URL, 86)}"


def _pem(kind: str) -> str:
    body = "\n".join(_s(B64, 64) for _ in range(6))
    return f"-----BEGIN {kind}-----\n{body}\n{_s(B64, 20)}==\n-----END {kind}-----"


FAMILIES: dict[str, list[str]] = {
    "aws-key": [
        "AKIA" + _s(UPPER32, 16),
        "ASIA" + _s(UPPER32, 16),
        "ABIA" + _s(UPPER32, 16),
        "A3TX" + _s(UPPER32, 16),
    ],
    "github-token": [
        "ghp_" + _s(ALNUM, 36),
        "gho_" + _s(ALNUM, 36),
        "ghs_" + _s(ALNUM, 36),
        "ghu_" + _s(ALNUM, 36),
        "ghr_" + _s(ALNUM, 36),
        "github_pat_" + _s(ALNUM, 22) + "_" + _s(ALNUM, 59),
    ],
    "gitlab-token": [
        "glpat-" + _s(ALNUM + "_-", 20),
        "glpat-" + _s(ALNUM + "_-", 27) + ".01" + _s(HEX, 7),  # routable
        "gldt-" + _s(ALNUM + "_-", 20),
        "glrt-" + _s(ALNUM + "_-", 20),
        "glrt-t1_" + _s(ALNUM + "_-", 27) + ".01" + _s(HEX, 7),
        "glcbt-64_" + _s(ALNUM + "_-", 20),
        "glptt-" + _s(HEX, 40),
        "gloas-" + _s(ALNUM + "_-", 64),
        "GR1348941" + _s(ALNUM + "_-", 20),
    ],
    "npm-token": ["npm_" + _s(string.ascii_lowercase + string.digits, 36) for _ in range(3)],
    "slack-token": [
        f"xoxb-{_digits(12)}-{_digits(13)}-{_s(ALNUM, 24)}",
        f"xoxp-{_digits(12)}-{_digits(12)}-{_digits(13)}-{_s(HEX, 32)}",
        f"xapp-1-A{_s(UPPER32, 10)}-{_digits(13)}-{_s(HEX, 64)}",
        f"xoxe.xoxp-1-{_s(ALNUM, 163)}",
    ],
    "stripe-key": [
        "sk_live_" + _s(ALNUM, 24),
        "rk_live_" + _s(ALNUM, 24),
        "sk_test_" + _s(ALNUM, 99),
    ],
    "google-key": ["AIza" + _s(B64URL, 35) for _ in range(3)],
    "api-key": [
        "sk-proj-" + _s(B64URL, 74) + "T3BlbkFJ" + _s(B64URL, 74),
        "sk-" + _s(ALNUM, 20) + "T3BlbkFJ" + _s(ALNUM, 20),
        "sk-svcacct-" + _s(B64URL, 58) + "T3BlbkFJ" + _s(B64URL, 58),
        "sk-ant-api03-" + _s(B64URL, 93) + "AA",
        "sk-ant-admin01-" + _s(B64URL, 93) + "AA",
    ],
    "azure-key": [
        _s(B64, 86) + "==",
        _s(B64, 86) + "==",
        _s(ALNUM, 3) + "8Q~" + _s(ALNUM + "_~.-", 34),
    ],
    "jwt": [_jwt() for _ in range(3)],
    "private-key": [
        _pem("RSA PRIVATE KEY"),
        _pem("EC PRIVATE KEY"),
        _pem("PRIVATE KEY"),
        _pem("OPENSSH PRIVATE KEY"),
        _pem("PGP PRIVATE KEY BLOCK"),
    ],
    "huggingface-token": ["hf_" + _s(string.ascii_letters, 34) for _ in range(2)],
    "pypi-token": ["pypi-AgEIcHlwaS5vcmc" + _s(B64URL, 70)],
    "vault-token": ["hvs." + _s(B64URL, 90), "hvb." + _s(B64URL, 138)],
    "digitalocean-token": ["dop_v1_" + _s(HEX, 64), "doo_v1_" + _s(HEX, 64)],
    "sendgrid-key": ["SG." + _s(B64URL, 22) + "." + _s(B64URL, 43)],
}

#: The part of a slack webhook URL that is the secret (the host stays readable).
SLACK_WEBHOOKS = [
    f"https://hooks.slack.com/services/T{_s(UPPER32, 8)}/B{_s(UPPER32, 10)}/{_s(ALNUM, 24)}"
    for _ in range(2)
]

#: What must survive redaction: ids the engine and analysts use, paths, prose.
KEEP = (
    "cred-123",
    "T-42",
    "spiffe://corp.example/ns/prod/sa/agent",
    "/repo/.env",
    "req-77",
)

#: Neutral contexts for a token: nothing but the token's own shape gives it away.
TOKEN_FORMS: dict[str, Callable[[str], str]] = {
    "prose": lambda s: f"agent used credential cred-123 with {s} in task T-42",
    "json": lambda s: json.dumps({"note": s, "task_id": "T-42", "path": "/repo/.env"}),
    "json-in-string": lambda s: json.dumps(json.dumps({"note": s, "task_id": "T-42"})),
    "url-path": lambda s: f"https://api.example/v1/{s}/items?task=T-42",
    "header": lambda s: f"X-Upstream: {s}\r\nX-Request-Id: req-77",
    "env": lambda s: f"UPSTREAM={s}\nAGENT=spiffe://corp.example/ns/prod/sa/agent",
    "yaml": lambda s: f"note: '{s}'\nfile: /repo/.env",
    "repr": lambda s: repr({"args": [s], "credential_id": "cred-123"}),
}

#: Names that say "secret", as environments, configs, headers and URLs spell them.
ASSIGNMENT_NAMES = (
    "password",
    "db_password",
    "DB_PASS",
    "MYSQL_PWD",
    "MYSQL_PASSWORD",
    "_password",
    "__secret",
    "dbPassword",
    "passwd",
    "pwd",
    "aws_session_token",
    "AWS_SECRET_ACCESS_KEY",
    "SECRET_KEY_BASE",
    "client_secret",
    "api_key",
    "apiKey",
    "X-Api-Key",
    "access_key",
    "private_key",
    "auth_token",
    "_authToken",
    "credentials",
    "AccountKey",
    "http_auth",
    "Cookie",
)

#: Values, among them with spaces and with the signs passwords have.
ASSIGNMENT_VALUES = (
    "Zq7xR2pL9vW4",
    "correct horse battery staple",
    "p@ss/w0rd=9+!",
)

#: (form, build(name, value), what of the value may show: the value as written there)
ASSIGNMENT_FORMS: dict[str, Callable[[str, str], str]] = {
    "cli": lambda n, v: f"run --{n}={v} task_id=T-42",
    "query": lambda n, v: f"https://api.example/login?{n}={quote(v, safe='')}&task=T-42",
    "json": lambda n, v: json.dumps({n: v, "task_id": "T-42"}),
    "json-in-string": lambda n, v: json.dumps(json.dumps({n: v, "task_id": "T-42"})),
    "repr": lambda n, v: repr({n: v, "credential_id": "cred-123"}),
    "yaml": lambda n, v: f"{n}: {v}\nowner: spiffe://corp.example/ns/prod/sa/agent",
    "yaml-quoted": lambda n, v: f'{n}: "{v}"\nowner: spiffe://corp.example/ns/prod/sa/agent',
    "env": lambda n, v: f"{n}={v}\nFILE=/repo/.env",
    "env-quoted": lambda n, v: f"{n}='{v}'\nFILE=/repo/.env",
    "header": lambda n, v: f"{n}: {v}\r\nX-Request-Id: req-77",
    "url-encoded": lambda n, v: "q=" + quote(f"{n}={v}", safe="") + "&task=T-42",
    "url-encoded-json": lambda n, v: "q=" + quote(json.dumps({n: v}), safe="") + "&task=T-42",
}

#: Password-in-URL forms: (text, the password).
URL_PASSWORDS = [
    ("redis://:" + (pw := _s(ALNUM, 20)) + "@cache.internal:6379/0", pw),
    ("postgres://app:" + (pw2 := _s(ALNUM, 16) + "!x") + "@db.internal/prod", pw2),
    ("amqp://guest:" + (pw3 := _s(ALNUM, 12)) + "@mq:5672/%2F", pw3),
    ("https://deploy:" + (pw4 := "ghp_" + _s(ALNUM, 36)) + "@github.com/org/repo.git", pw4),
]

#: Authorization headers: (text, the credential).
AUTH_HEADERS = [
    ("Authorization: Bearer " + (b1 := _s(B64URL, 40)), b1),
    ("authorization: bearer " + (b2 := _s(ALNUM, 24) + "." + _s(ALNUM, 12)), b2),
    (
        "Authorization: Basic " + (b3 := base64.b64encode(b"svc-deploy:S3cr3t pass").decode()),
        b3,
    ),
    ("curl -H 'Authorization: Token " + (b4 := _s(HEX, 40)) + "' https://x", b4),
]

#: Ordinary text that must come out exactly as it went in.
UNCHANGED = [
    "credential_id=cred-123 task_id=T-42 session_id=s-9",
    "spiffe://corp.example/ns/prod/sa/agent called fs/read_file on file:///repo/.env",
    "token_url=https://auth.example/oauth/token token_type=bearer max_tokens=4096",
    "password_file=/run/secrets/db password_policy=strict api_key_id=key-7",
    "basic authentication is required; Bearer tokens are rotated daily",
    "author=alice passport=X123 bypass=1 compass=north",
    "called fs/read_file 1m after its task T ended (grace 30s)",
    "task T of a ended: revoking its 2 live credential(s)",
    "revocation of credential cred-1, task task-1 by oauth failed after 5 attempt(s): oauth: "
    "HTTP 503",
    "session s1 of agent a",
    "sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "PWD=/home/bob OLDPWD=/repo",
    "https://git.example/group/task-1234567890abcdefghij/merge_requests",
    "alert 0e606e569e51c86aa56348f34918b5ef for agent:assist/1",
    "/repo/.env /home/bob/.ssh/id_rsa.pub /etc/ssl/private/",
    "https://alice@git.example/repo.git and ssh://git@git.example:22/repo",
    "spiffe://corp.example/auth-service:443",
]


def leaks(secret: str, text: str) -> list[str]:
    """The pieces of ``secret`` (16 characters, every 8) still readable in ``text``."""
    if len(secret) <= 16:
        return [secret] if secret in text else []
    return [secret[i : i + 16] for i in range(0, len(secret) - 15, 8) if secret[i : i + 16] in text]
