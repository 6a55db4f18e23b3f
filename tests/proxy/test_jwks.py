"""Bearer tokens verified with keys from a real JWKS endpoint, through a key rotation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from monitor.errors import DecodeError
from monitor.proxy.identity import IdentityResolver, JwtConfig
from tests.proxy.jwks import AUDIENCE, ISSUER, JwksServer, SigningKey


@pytest.fixture
def k1() -> SigningKey:
    return SigningKey("k1")


@pytest.fixture
def jwks(k1: SigningKey) -> Iterator[JwksServer]:
    server = JwksServer(k1)
    try:
        yield server
    finally:
        server.close()


def _resolver(tmp_path: Path, cfg: JwtConfig) -> IdentityResolver:
    m = tmp_path / "identity.yaml"
    m.write_text("fields:\n  agent_id: claims.act.sub\n  credential_id: claims.jti\n")
    return IdentityResolver.build(m, {}, upstream_name="fleet", jwt=cfg)


def _who(r: IdentityResolver, token: str) -> str:
    return r.resolve("t", {}, None, {"Authorization": f"Bearer {token}"}).agent_id


def test_keys_come_from_the_jwks_and_follow_a_rotation(
    tmp_path: Path, jwks: JwksServer, k1: SigningKey
) -> None:
    cfg = JwtConfig(
        jwks_url=jwks.url,
        audience=AUDIENCE,
        issuer=ISSUER,
        jwks_cooldown=0.0,  # refetch on every unknown kid (production: 30 s)
        jwks_lifespan=0.5,  # cached set expires fast (production: 300 s)
    )
    r = _resolver(tmp_path, cfg)
    claims = {"sub": "alice@corp", "act": {"sub": "agent:code/3"}, "jti": "tok-1"}
    old = k1.token(**claims)
    assert _who(r, old) == "agent:code/3"
    assert _who(r, old) == "agent:code/3"
    assert jwks.fetches == 1  # the set is cached, not fetched per call

    k2 = SigningKey("k2")
    new = k2.token(**claims)
    with pytest.raises(DecodeError, match="Unable to find a signing key that matches"):
        _who(r, new)  # not published yet: an unknown kid is refused

    jwks.published = [k1, k2]  # the issuer publishes the next key ...
    assert _who(r, new) == "agent:code/3"  # ... an unknown kid refetches the set
    jwks.published = [k2]  # ... and retires the old one
    deadline = time.monotonic() + 10
    while True:  # accepted until the cached set expires, then refused
        try:
            _who(r, old)
        except DecodeError as err:
            assert "Unable to find a signing key" in err.reason
            break
        assert time.monotonic() < deadline, "a retired key is still accepted after 10 s"
        time.sleep(0.05)
    assert _who(r, new) == "agent:code/3"


def test_a_token_that_borrows_a_published_kid_or_another_algorithm_is_refused(
    tmp_path: Path, jwks: JwksServer, k1: SigningKey
) -> None:
    r = _resolver(tmp_path, JwtConfig(jwks_url=jwks.url, audience=AUDIENCE, issuer=ISSUER))
    forged = SigningKey("k1").token(act={"sub": "agent:admin"}, jti="x")  # attacker's key, kid k1
    with pytest.raises(DecodeError, match="Signature verification failed"):
        _who(r, forged)
    unsigned = jwt.encode(
        {"act": {"sub": "agent:admin"}, "jti": "x", "aud": AUDIENCE, "iss": ISSUER, "exp": 2**31},
        None,
        "none",
        headers={"kid": "k1"},
    )
    with pytest.raises(DecodeError, match="bearer token rejected"):
        _who(r, unsigned)


def test_an_unreachable_jwks_refuses_the_call(tmp_path: Path, k1: SigningKey) -> None:
    from tests.revoker.servers import closed_url

    cfg = JwtConfig(jwks_url=closed_url("/jwks"), audience=AUDIENCE, issuer=ISSUER)
    with pytest.raises(DecodeError, match="bearer token rejected: Fail to fetch data"):
        _who(_resolver(tmp_path, cfg), k1.token(act={"sub": "a"}, jti="t"))
