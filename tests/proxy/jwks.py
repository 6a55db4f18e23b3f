"""A real JWKS endpoint for the proxy's token tests: RSA keys, served over local HTTP, rotatable."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.revoker.servers import HTTPServer, Reply, Request

AUDIENCE = "mcp-fleet"
ISSUER = "https://idp.corp"


@dataclass
class SigningKey:
    kid: str
    private: Any = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwk(self) -> dict[str, Any]:
        doc = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**doc, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def token(self, **claims: Any) -> str:
        base = {"aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 3600}
        return jwt.encode({**base, **claims}, self.private, "RS256", headers={"kid": self.kid})


class JwksServer:
    """Serves ``{"keys": [...]}`` of the keys currently published; counts fetches."""

    def __init__(self, *keys: SigningKey) -> None:
        self.published = list(keys)
        self.http = HTTPServer(self._reply)

    def _reply(self, req: Request) -> Reply:
        return Reply(body=orjson.dumps({"keys": [k.jwk() for k in self.published]}))

    @property
    def url(self) -> str:
        return self.http.url("/.well-known/jwks.json")

    @property
    def fetches(self) -> int:
        return len(self.http.requests)

    def close(self) -> None:
        self.http.close()
