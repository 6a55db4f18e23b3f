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
from monitor.outputs import RevocationCommand

ALGORITHM = "hmac-sha256"
COMMAND_DOMAIN = b"mcpmon.revocation.v1\n"
CHARTER_DOMAIN = b"mcpmon.charter.v1\n"
#: shortest secret accepted: 16 bytes (128 bits)
MIN_SECRET_BYTES = 16


class SigningConfigError(MonitorError):
    """A keyring setting cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Keyring:
    """Key id → secret. The first key signs; every key verifies (rotation)."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise SigningConfigError("a keyring needs at least one key")

    @property
    def signing_kid(self) -> str:
        return self.keys[0][0]

    def secret(self, kid: str) -> bytes | None:
        for k, s in self.keys:
            if k == kid:
                return s
        return None

    def __repr__(self) -> str:  # never print secrets
        return f"Keyring(kids={[k for k, _ in self.keys]})"


def parse_keyring(text: str, setting: str = "keyring") -> Keyring | None:
    """``"kid:secret[,kid:secret...]"`` → a :class:`Keyring`; empty text → None.

    Key ids are ``[A-Za-z0-9_.-]``; a secret is everything after the first
    ``:`` of its entry (it cannot contain ``,``) and has at least 16 bytes.
    """
    text = text.strip()
    if not text:
        return None
    keys: list[tuple[str, bytes]] = []
    for n, entry in enumerate(text.split(","), 1):
        kid, sep, secret = entry.strip().partition(":")
        if not sep or not kid:
            raise SigningConfigError(f"{setting}: entry {n} is not KEY_ID:SECRET")
        if not all(c.isalnum() or c in "_.-" for c in kid):
            raise SigningConfigError(f"{setting}: key id {kid!r} may hold only A-Z a-z 0-9 _ . -")
        raw = secret.encode()
        if len(raw) < MIN_SECRET_BYTES:
            raise SigningConfigError(
                f"{setting}: the secret of key {kid!r} has {len(raw)} bytes; "
                f"at least {MIN_SECRET_BYTES} are needed"
            )
        if any(k == kid for k, _ in keys):
            raise SigningConfigError(f"{setting}: key id {kid!r} appears twice")
        keys.append((kid, raw))
    return Keyring(tuple(keys))


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def sign_bytes(payload: bytes, ring: Keyring) -> str:
    kid, secret = ring.keys[0]
    digest = base64.urlsafe_b64encode(_mac(secret, payload)).rstrip(b"=").decode()
    return f"{ALGORITHM}:{kid}:{digest}"


def check_bytes(payload: bytes, signature: str | None, ring: Keyring) -> str | None:
    """None when ``signature`` is a valid signature of ``payload`` by a key of ``ring``;
    else the reason, in words (``unsigned``, ``malformed signature``, ...)."""
    if not signature:
        return "unsigned"
    parts = signature.split(":")
    if len(parts) != 3 or not parts[2]:
        return "malformed signature"
    algorithm, kid, text = parts
    if algorithm != ALGORITHM:
        return f"unsupported signature algorithm {algorithm[:32]!r}"
    secret = ring.secret(kid)
    if secret is None:
        return f"unknown key id {kid[:64]!r}"
    try:
        given = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return "malformed signature"
    if not hmac.compare_digest(given, _mac(secret, payload)):
        return f"bad signature (key {kid})"
    return None


def canonical(domain: bytes, doc: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: domain tag + sorted-key JSON without ``signature``."""
    body = {k: v for k, v in doc.items() if k != "signature"}
    return domain + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def sign_charter(charter: Mapping[str, Any], ring: Keyring) -> str:
    """The ``signature`` of a ``charter_updated`` event carrying ``charter``."""
    return sign_bytes(canonical(CHARTER_DOMAIN, charter), ring)


def check_charter(charter: Mapping[str, Any], signature: str | None, ring: Keyring) -> str | None:
    return check_bytes(canonical(CHARTER_DOMAIN, charter), signature, ring)


__all__ = [
    "CHARTER_DOMAIN",
    "COMMAND_DOMAIN",
    "CommandSigner",
    "Keyring",
    "SigningConfigError",
    "canonical",
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
    """None when ``cmd`` carries a valid signature by a key of ``ring``; else why not."""
    return check_bytes(command_payload(cmd), cmd.signature, ring)


class CommandSigner:
    """Encodes revocation commands as signed JSON (the worker's and replay's encoder)."""

    __slots__ = ("ring",)

    def __init__(self, ring: Keyring) -> None:
        self.ring = ring

    def sign(self, cmd: RevocationCommand) -> RevocationCommand:
        return cmd.model_copy(update={"signature": sign_bytes(command_payload(cmd), self.ring)})

    def encode(self, cmd: RevocationCommand) -> bytes:
        return self.sign(cmd).to_json()
