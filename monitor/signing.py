"""Signatures on what changes access: revocation commands and charter updates.

An attacker who controls an agent controls what it sends, and may reach the
bus: a forged ``RevocationCommand`` could revoke anyone (denial of service),
a forged ``charter_updated`` event could grant an agent everything. Both are
signed with HMAC-SHA256 over a canonical encoding, under a key id, so keys can
be rotated (several keys are accepted, the first one signs).

Why HMAC and not Ed25519: stdlib only, so the pure core can verify a charter
update with nothing but the key it is given; the verifying side (worker,
revoker) is as trusted as the signing side. The cost: anyone who can verify
can also sign, so the keys live only in the monitor's own configuration.

Why the signature is a field of the JSON document and not a Kafka header:
the worker keeps not-yet-delivered outputs as plain bytes in its outbox and
republishes them after a crash; a header would be lost on that path, and on
every file (``revocations.jsonl``) the command is written to. An unsigned
command has no ``signature`` key at all, so its bytes are those of contract v1.

Canonical encoding: a domain tag (``mcpmon.revocation.v1`` or
``mcpmon.charter.v1``), a newline, then the JSON document without its
``signature`` field, keys sorted, no whitespace (orjson). The domain tag keeps
a signature made for one kind of document from verifying as the other.

Signature text: ``hmac-sha256:<key id>:<base64url, no padding>``.

>>> ring = parse_keyring("k1:0123456789abcdef0123")
>>> sig = sign_bytes(b"hello", ring)
>>> sig.startswith("hmac-sha256:k1:"), check_bytes(b"hello", sig, ring), check_bytes(b"x", sig, ring)
(True, None, 'bad signature (key k1)')

Key scopes. A key signs only what its scopes name: ``commands`` (revocation
commands) or ``charters`` (charter updates). A key entry may name them,
``KEY_ID@SCOPE[+SCOPE]:SECRET``; an entry without ``@`` (the format before
scopes existed) gets the scope of the setting it is read from
(``MCPMON_COMMAND_SIGNING_KEYS``: ``commands``, ``MCPMON_CHARTER_SIGNING_KEYS``:
``charters``), so every existing setting keeps its meaning and no key gains a
scope it was not configured for. A verifier names the scope it checks; a
signature by a key of the ring that may not sign that scope is refused.

>>> ring = parse_keyring("cmd-1@commands:0123456789abcdef0123,pol-1@charters:fedcba9876543210fedc")
>>> sig = sign_bytes(b"x", ring, COMMANDS)
>>> sig.split(":")[1], check_bytes(b"x", sig, ring, COMMANDS), check_bytes(b"x", sig, ring, CHARTERS)
('cmd-1', None, 'key cmd-1 may not sign charters (its scopes: commands)')

Charter versions. A signed charter update carries a ``version`` (an integer;
``mcpmon sign-charter`` stamps the epoch seconds), and the signature covers it:
the payload is ``mcpmon.charter.v2`` + newline + ``{"charter": ..., "version": N}``
(sorted keys). The core refuses an update whose version is not above the one
last accepted for its pattern, so a replayed older update (even under a new
``event_id``, which the signature does not cover) is refused. A signature made
without a version (domain ``mcpmon.charter.v1``) still verifies, and is refused
by the core for lacking one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from monitor.errors import MonitorError
from monitor.output_contracts import RevocationCommand

ALGORITHM = "hmac-sha256"
COMMAND_DOMAIN = b"mcpmon.revocation.v1\n"
CHARTER_DOMAIN = b"mcpmon.charter.v1\n"
#: a charter update with its version (see "Charter versions" above)
CHARTER_VERSION_DOMAIN = b"mcpmon.charter.v2\n"
#: shortest secret accepted: 16 bytes (128 bits)
MIN_SECRET_BYTES = 16
#: what a key may sign
COMMANDS = "commands"
CHARTERS = "charters"
SCOPES = (COMMANDS, CHARTERS)


class SigningConfigError(MonitorError):
    """A keyring setting cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Key:
    """One key: its id, its secret and the scopes it may sign."""

    kid: str
    secret: bytes
    scopes: frozenset[str] = frozenset(SCOPES)

    def __repr__(self) -> str:  # never print secrets
        return f"Key({self.kid!r}, scopes={sorted(self.scopes)})"


@dataclass(frozen=True, slots=True)
class Keyring:
    """Keys in order. Per scope the first key allowed for it signs; every key verifies
    what its scopes allow (rotation)."""

    keys: tuple[Key, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise SigningConfigError("a keyring needs at least one key")

    def key(self, kid: str) -> Key | None:
        for k in self.keys:
            if k.kid == kid:
                return k
        return None

    def secret(self, kid: str) -> bytes | None:
        k = self.key(kid)
        return None if k is None else k.secret

    def signer(self, scope: str | None = None) -> Key:
        """The key that signs ``scope`` (the first allowed for it; None: the first key)."""
        for k in self.keys:
            if scope is None or scope in k.scopes:
                return k
        raise SigningConfigError(f"no key of the keyring may sign {scope} ({self!r})")

    def can_sign(self, scope: str) -> bool:
        return any(scope in k.scopes for k in self.keys)

    def __repr__(self) -> str:  # never print secrets
        return f"Keyring(kids={[k.kid for k in self.keys]})"


def _scoped_kid(
    entry: str, n: int, setting: str, default: frozenset[str]
) -> tuple[str, frozenset[str]]:
    kid, at, names = entry.partition("@")
    if not at:
        return kid, default
    scopes = [x.strip() for x in names.split("+")]
    unknown = [x for x in scopes if x not in SCOPES]
    if not names.strip() or unknown:
        raise SigningConfigError(
            f"{setting}: entry {n} (key {kid!r}) names scope {(unknown or [names])[0][:32]!r}; "
            f"a key's scopes are {' or '.join(SCOPES)}, joined by + (KEY_ID@commands+charters:SECRET)"
        )
    return kid, frozenset(scopes)


def parse_keyring(text: str, setting: str = "keyring", scope: str | None = None) -> Keyring | None:
    """``"kid[@scope[+scope]]:secret[,...]"`` → a :class:`Keyring`; empty text → None.

    Key ids are ``[A-Za-z0-9_.-]``; a secret is everything after the first
    ``:`` of its entry (it cannot contain ``,``) and has at least 16 bytes.
    An entry without ``@scopes`` may sign ``scope`` (the one its setting is
    for), or every scope when none is given (a ring built in code or a test).
    A ring read for ``scope`` must hold at least one key that may sign it.
    """
    text = text.strip()
    if not text:
        return None
    default = frozenset([scope]) if scope is not None else frozenset(SCOPES)
    keys: list[Key] = []
    for n, entry in enumerate(text.split(","), 1):
        named, sep, secret = entry.strip().partition(":")
        if not sep or not named:
            raise SigningConfigError(f"{setting}: entry {n} is not KEY_ID:SECRET")
        kid, scopes = _scoped_kid(named, n, setting, default)
        if not kid or not all(c.isalnum() or c in "_.-" for c in kid):
            raise SigningConfigError(f"{setting}: key id {kid!r} may hold only A-Z a-z 0-9 _ . -")
        raw = secret.encode()
        if len(raw) < MIN_SECRET_BYTES:
            raise SigningConfigError(
                f"{setting}: the secret of key {kid!r} has {len(raw)} bytes; "
                f"at least {MIN_SECRET_BYTES} are needed"
            )
        if any(k.kid == kid for k in keys):
            raise SigningConfigError(f"{setting}: key id {kid!r} appears twice")
        keys.append(Key(kid, raw, scopes))
    ring = Keyring(tuple(keys))
    if scope is not None and not ring.can_sign(scope):
        raise SigningConfigError(
            f"{setting}: no key may sign {scope}: every key is scoped to something else "
            f"(give one KEY_ID@{scope}:SECRET, or a key without @scopes)"
        )
    return ring


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def sign_bytes(payload: bytes, ring: Keyring, scope: str | None = None) -> str:
    """Sign with the first key of ``ring`` that may sign ``scope`` (None: the first key)."""
    key = ring.signer(scope)
    digest = base64.urlsafe_b64encode(_mac(key.secret, payload)).rstrip(b"=").decode()
    return f"{ALGORITHM}:{key.kid}:{digest}"


def check_bytes(
    payload: bytes, signature: str | None, ring: Keyring, scope: str | None = None
) -> str | None:
    """None when ``signature`` is a valid signature of ``payload`` by a key of ``ring``
    that may sign ``scope`` (None: any key); else the reason, in words (``unsigned``,
    ``malformed signature``, ...)."""
    if not signature:
        return "unsigned"
    parts = signature.split(":")
    if len(parts) != 3 or not parts[2]:
        return "malformed signature"
    algorithm, kid, text = parts
    if algorithm != ALGORITHM:
        return f"unsupported signature algorithm {algorithm[:32]!r}"
    key = ring.key(kid)
    if key is None:
        return f"unknown key id {kid[:64]!r}"
    try:
        given = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return "malformed signature"
    if not hmac.compare_digest(given, _mac(key.secret, payload)):
        return f"bad signature (key {kid})"
    if scope is not None and scope not in key.scopes:
        return f"key {kid} may not sign {scope} (its scopes: {'+'.join(sorted(key.scopes))})"
    return None


def canonical(domain: bytes, doc: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: domain tag + sorted-key JSON without ``signature``."""
    body = {k: v for k, v in doc.items() if k != "signature"}
    return domain + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def charter_payload(charter: Mapping[str, Any], version: int | None) -> bytes:
    """The bytes a charter update's signature covers: the charter and its version."""
    if version is None:  # signed before versions existed: verifies, refused by the core
        return canonical(CHARTER_DOMAIN, charter)
    doc = {"charter": charter, "version": version}
    return CHARTER_VERSION_DOMAIN + orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def sign_charter(charter: Mapping[str, Any], ring: Keyring, version: int | None = None) -> str:
    """The ``signature`` of a ``charter_updated`` event carrying ``charter`` and ``version``."""
    return sign_bytes(charter_payload(charter, version), ring, CHARTERS)


def check_charter(
    charter: Mapping[str, Any], signature: str | None, ring: Keyring, version: int | None = None
) -> str | None:
    """None when ``signature`` signs ``charter`` and ``version`` by a key that may sign charters."""
    return check_bytes(charter_payload(charter, version), signature, ring, CHARTERS)


__all__ = [
    "CHARTERS",
    "CHARTER_DOMAIN",
    "CHARTER_VERSION_DOMAIN",
    "COMMANDS",
    "COMMAND_DOMAIN",
    "SCOPES",
    "CommandSigner",
    "Key",
    "Keyring",
    "SigningConfigError",
    "canonical",
    "charter_payload",
    "check_bytes",
    "check_charter",
    "check_command",
    "command_payload",
    "parse_keyring",
    "sign_bytes",
    "sign_charter",
]


def command_payload(cmd: RevocationCommand) -> bytes:
    """The bytes a command's signature covers."""
    return canonical(COMMAND_DOMAIN, cmd.model_dump(mode="json"))


def check_command(cmd: RevocationCommand, ring: Keyring) -> str | None:
    """None when ``cmd`` carries a valid signature by a key of ``ring`` that may sign
    commands; else why not."""
    return check_bytes(command_payload(cmd), cmd.signature, ring, COMMANDS)


class CommandSigner:
    """Encodes revocation commands as signed JSON (the worker's and replay's encoder)."""

    __slots__ = ("ring",)

    def __init__(self, ring: Keyring) -> None:
        ring.signer(COMMANDS)  # a ring with no command key fails here, not per command
        self.ring = ring

    def sign(self, cmd: RevocationCommand) -> RevocationCommand:
        signature = sign_bytes(command_payload(cmd), self.ring, COMMANDS)
        return cmd.model_copy(update={"signature": signature})

    def encode(self, cmd: RevocationCommand) -> bytes:
        return self.sign(cmd).to_json()
