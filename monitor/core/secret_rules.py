"""The secret-pattern rule table behind :mod:`monitor.core.redact`.

Which token formats exist (prefixes, lengths, alphabets) is not ours to invent:
the families below follow two maintained secret-scanning rule sets, named per
rule in its ``source`` field so a rule can be checked against, and updated
from, its origin:

- gitleaks, ``config/gitleaks.toml`` (MIT licence, Copyright (c) 2019 Zachary
  Rice; https://github.com/gitleaks/gitleaks), read at commit b58d3f1;
- detect-secrets 1.5.0, ``detect_secrets/plugins/*.py`` (Apache-2.0, Copyright
  2017-2018 Yelp Inc.; https://github.com/Yelp/detect-secrets).

The expressions are written here for redaction, not copied: a scanner wants few
false positives in source code, a redactor wants no secret in an alert, so the
minimum lengths are lower and the upper bounds open. See NOTICE.

Every expression is linear by construction, because the text is an attacker's:

- an unbounded run starts with a negative look-behind for its own alphabet, so
  a match is attempted only where a run begins, never at every position inside
  it (a 100 KB run is scanned once, not 100 000 times);
- unbounded runs are possessive (``*+``, ``{n,}+``) where what follows cannot
  be in the run, so a failed match never backtracks through it;
- no quantified group contains another quantifier.

Assignments (``password=…``, ``"api_key": "…"``) are not a regular expression
here: :mod:`monitor.core.redact` finds ``name`` + separator with
:data:`SEPARATOR` and :data:`NAME_BEFORE`, decides by :func:`secret_name`
whether the name says secret, and finds where the value ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class SecretRule:
    """One family: the match, less its ``keep`` group, becomes ``[REDACTED:<name>]``."""

    name: str  # the family, shown in the replacement
    source: str  # gitleaks rule id(s) / detect-secrets plugin(s) it follows
    pattern: str
    #: every match contains one of these: text with none of them skips the expression
    hints: tuple[str, ...]


def redacted(name: str) -> str:
    """The text a value taken out by rule ``name`` becomes: ``[REDACTED:<name>]``.

    One spelling for the redactor that writes it and the detectors that read it
    (``secret_in_transit`` sees a gateway's redacted arguments by these marks).
    """
    return f"[REDACTED:{name}]"


#: A mark :func:`redacted` left, with the rule's name in ``name``.
REDACTED_MARK = re.compile(r"\[REDACTED:(?P<name>[A-Za-z0-9_-]{1,64})\]")


# a token's own alphabet: nothing of it may precede the match (see module docstring)
_B64URL = r"A-Za-z0-9_\-"

#: Token families, applied in this order (the longest, multi-line forms first).
TOKEN_RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "private-key",
        "gitleaks private-key; detect-secrets PrivateKeyDetector",
        # PEM/PGP/OpenSSH blocks, multi-line or with escaped newlines; cut off: to the end
        r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
        r".*?(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|\Z)",
        ("PRIVATE KEY",),
    ),
    SecretRule(
        "jwt",
        "gitleaks jwt; detect-secrets JwtTokenDetector",
        rf"(?<![{_B64URL}])eyJ[{_B64URL}]{{5,}}+\.[{_B64URL}]{{5,}}+\.[={_B64URL}]*+",
        ("eyJ",),
    ),
    SecretRule(
        "aws-key",
        "gitleaks aws-access-token; detect-secrets AWSKeyDetector",
        r"(?<![A-Za-z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)"
        r"[A-Z0-9]{16}(?![A-Za-z0-9])",
        (
            "A3T",
            "AKIA",
            "ASIA",
            "ABIA",
            "ACCA",
            "AGPA",
            "AIDA",
            "AIPA",
            "ANPA",
            "ANVA",
            "APKA",
            "AROA",
        ),
    ),
    SecretRule(
        "github-token",
        "gitleaks github-pat, github-oauth, github-app-token, github-refresh-token, "
        "github-fine-grained-pat; detect-secrets GitHubTokenDetector",
        r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}+|github_pat_[A-Za-z0-9_]{22,}+)",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    SecretRule(
        "gitlab-token",
        "gitleaks gitlab-pat, gitlab-pat-routable, gitlab-deploy-token, "
        "gitlab-runner-authentication-token(-routable), gitlab-cicd-job-token, gitlab-feed-token, "
        "gitlab-ptt, gitlab-scim-token, gitlab-oauth-app-secret, gitlab-kubernetes-agent-token, "
        "gitlab-feature-flag-client-token, gitlab-incoming-mail-token, gitlab-rrt; "
        "detect-secrets GitLabTokenDetector",
        r"(?<![A-Za-z0-9_.-])(?:(?:glpat|gldt|glrt|glcbt|glft|glptt|glsoat|gloas|glagent|glffct"
        r"|glimt|gltst)-[A-Za-z0-9_.-]{20,}+|GR1348941[A-Za-z0-9_-]{20,}+)",
        (
            "glpat-",
            "gldt-",
            "glrt-",
            "glcbt-",
            "glft-",
            "glptt-",
            "glsoat-",
            "gloas-",
            "glagent-",
            "glffct-",
            "glimt-",
            "gltst-",
            "GR1348941",
        ),
    ),
    SecretRule(
        "npm-token",
        "gitleaks npm-access-token; detect-secrets NpmDetector",
        r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36,}+",
        ("npm_",),
    ),
    SecretRule(
        "slack-token",
        "gitleaks slack-bot-token, slack-user-token, slack-app-token, slack-legacy-*, "
        "slack-config-*-token; detect-secrets SlackDetector",
        r"(?<![A-Za-z0-9_.-])(?:xox[abposre]-|xoxe\.xox[bp]-|xapp-)[A-Za-z0-9-]{10,}+",
        ("xox", "xapp-"),
    ),
    SecretRule(
        "slack-webhook",
        "gitleaks slack-webhook-url; detect-secrets SlackDetector",
        # the host stays readable, the path is the secret
        r"(?P<keep>hooks\.slack\.com/)(?:services|workflows|triggers)/[A-Za-z0-9+/]{20,}+",
        ("hooks.slack.com/",),
    ),
    SecretRule(
        "google-key",
        "gitleaks gcp-api-key",
        rf"(?<![{_B64URL}])AIza[{_B64URL}]{{30,}}+",
        ("AIza",),
    ),
    SecretRule(
        "stripe-key",
        "gitleaks stripe-access-token; detect-secrets StripeDetector",
        r"(?<![A-Za-z0-9_])[rsp]k_(?:live|test|prod)_[A-Za-z0-9]{10,}+",
        ("k_live_", "k_test_", "k_prod_"),
    ),
    SecretRule(
        "api-key",  # OpenAI and Anthropic share the sk- prefix
        "gitleaks openai-api-key, anthropic-api-key, anthropic-admin-api-key; "
        "detect-secrets OpenAIDetector",
        rf"(?<![{_B64URL}])sk-[{_B64URL}]{{20,}}+",
        ("sk-",),
    ),
    SecretRule(
        "huggingface-token",
        "gitleaks huggingface-access-token, huggingface-organization-api-token",
        r"(?<![A-Za-z0-9_])(?:hf_|api_org_)[A-Za-z0-9]{30,}+",
        ("hf_", "api_org_"),
    ),
    SecretRule(
        "pypi-token",
        "gitleaks pypi-upload-token; detect-secrets PypiTokenDetector",
        rf"(?<![{_B64URL}])pypi-AgEIcHlwaS5vcmc[{_B64URL}]{{20,}}+",
        ("pypi-AgEIcHlwaS5vcmc",),
    ),
    SecretRule(
        "vault-token",
        "gitleaks vault-service-token, vault-batch-token",
        rf"(?<![{_B64URL}.])hv[sbr]\.[{_B64URL}]{{20,}}+",
        ("hvs.", "hvb.", "hvr."),
    ),
    SecretRule(
        "digitalocean-token",
        "gitleaks digitalocean-pat, digitalocean-access-token, digitalocean-refresh-token",
        r"(?<![A-Za-z0-9_])do[opr]_v1_[a-f0-9]{64}",
        ("_v1_",),
    ),
    SecretRule(
        "sendgrid-key",
        "gitleaks sendgrid-api-token; detect-secrets SendGridDetector",
        rf"(?<![{_B64URL}.])SG\.[{_B64URL}]{{16,}}+\.[{_B64URL}]{{16,}}+",
        ("SG.",),
    ),
    SecretRule(
        "azure-key",
        "detect-secrets AzureStorageKeyDetector (account keys: 64 bytes, base64); "
        "gitleaks azure-ad-client-secret",
        r"(?<![A-Za-z0-9+])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+=])"
        r"|(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])",
        ("==", "Q~"),
    ),
    SecretRule(
        "url-password",
        "detect-secrets BasicAuthDetector; gitleaks generic password-in-URL",
        # scheme://user:password@host, also with no user (redis://:pw@host); the user stays
        r"(?P<keep>://[^/\s:@]*+:)[^\s/]+(?=@)",
        ("://",),
    ),
)

#: ``Bearer …`` / ``Basic …`` anywhere (headers, curl lines, logs). A ``Basic``
#: value must look like base64 (:func:`token_like`: a digit, a symbol of its
#: alphabet, or a capital after the first letter), so "basic authentication"
#: stays prose.
AUTH_SCHEME = re.compile(
    r"(?i)(?<![A-Za-z0-9_-])(?P<keep>(?:bearer|basic)\s++)"
    r"(?P<secret>[A-Za-z0-9._~+/-]{8,}+=*+)(?![A-Za-z0-9._~+/=-])"
)
AUTH_SOURCE = "own: RFC 6750 bearer and RFC 7617 basic credentials"


def token_like(value: str) -> bool:
    return any(c.isdigit() or c in "._~+/=-" for c in value) or any(c.isupper() for c in value[1:])


#: An assignment, in every spelling an alert may quote: ``k=v``, ``k: v``,
#: ``"k": "v"``, ``'k': 'v'``, ``\\"k\\": \\"v\\"`` (JSON inside a string),
#: ``k := v``, ``k => v``, URL-encoded ``k%3Dv`` / ``%22k%22%3A%22v%22``. Found
#: from its separator (:data:`SEPARATOR`); the name is read backwards from there
#: (:data:`NAME_BEFORE`, on the reversed text), the opening quote forwards
#: (:data:`OPENING`). A name is a whole word (``_``, ``.``, ``-`` included), so
#: ``_password``, ``db.password``, ``X-Api-Key`` and ``MYSQL_PWD`` are one name each.
#: Source: detect-secrets KeywordDetector (its separators and quote forms);
#: gitleaks generic-api-key (assignment operators).
SEPARATOR = re.compile(r":=|=>|[:=]|%3[DdAa]")
NAME_BEFORE = re.compile(r"(?:[ \t]|02%)*+(?:[\"'`]\\?|22%|72%|;touq&)?(?P<name>[\w.-]++)")
OPENING = re.compile(r"(?:[ \t]|%20)*+(?P<open>\\?[\"'`]|%22|%27|&quot;)?")
ASSIGNMENT_SOURCE = "detect-secrets KeywordDetector; gitleaks generic-api-key"

#: Cheap pre-check on the lower-cased text: every secret name holds one of these.
NAME_HINTS = (
    "pass",
    "pw",
    "secret",
    "token",
    "key",
    "cred",
    "auth",
    "sig",
    "cookie",
    "sess",
    "contrase",
)

_SEGMENT = re.compile(r"[_.\-]+|(?<=[a-z0-9])(?=[A-Z])")

# a name containing one of these (separators removed, lower case) names a secret
_SECRET_INFIXES = (
    "password",
    "passwd",
    "passphrase",
    "contrasena",
    "contraseña",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "accountkey",
    "authkey",
    "signingkey",
    "encryptionkey",
    "masterkey",
    "sessionkey",
    "clientkey",
    "servicekey",
    "dbkey",
    "sessid",
    "sessionid",
)
# a name whose last part is one of these names a secret (DB_PASS, MYSQL_PWD, http_auth)
_SECRET_LAST = frozenset(
    {"pass", "pwd", "pw", "auth", "authorization", "cookie", "sig", "signature"}
)
# ...unless it names something about the secret rather than the secret itself
_NOT_SECRET_LAST = frozenset(
    {
        "id",
        "ids",
        "uuid",
        "name",
        "names",
        "type",
        "types",
        "kind",
        "url",
        "uri",
        "urls",
        "endpoint",
        "host",
        "file",
        "files",
        "path",
        "paths",
        "dir",
        "hint",
        "policy",
        "length",
        "len",
        "size",
        "count",
        "ttl",
        "expiry",
        "expires",
        "expiration",
        "at",
        "mode",
        "method",
        "format",
        "version",
        "limit",
        "field",
        "param",
        "location",
        "ref",
        "provider",
        "issuer",
        "audience",
        "scope",
        "scopes",
        "prefix",
        "enabled",
        "required",
    }
)
_NOT_SECRET_FIRST = frozenset({"max", "min", "num", "total", "has", "is", "no", "use"})


@lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """Does an assignment's name say its value is a secret?

    >>> [secret_name(n) for n in ("_password", "DB_PASS", "MYSQL_PWD", "aws_session_token")]
    [True, True, True, True]
    >>> [secret_name(n) for n in ("credential_id", "token_url", "max_tokens", "author", "bypass")]
    [False, False, False, False, False]
    """
    parts = [p.lower() for p in _SEGMENT.split(name) if p]
    if not parts:
        return False
    if parts[-1] in _NOT_SECRET_LAST or parts[0] in _NOT_SECRET_FIRST:
        return False
    if name in ("PWD", "OLDPWD"):  # the shell's working directory, not a password
        return False
    compact = "".join(parts)
    return parts[-1] in _SECRET_LAST or any(k in compact for k in _SECRET_INFIXES)


__all__ = [
    "ASSIGNMENT_SOURCE",
    "AUTH_SCHEME",
    "AUTH_SOURCE",
    "NAME_BEFORE",
    "NAME_HINTS",
    "OPENING",
    "REDACTED_MARK",
    "SEPARATOR",
    "TOKEN_RULES",
    "SecretRule",
    "redacted",
    "secret_name",
    "token_like",
]
